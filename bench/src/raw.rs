//! Raw HTTP with reqwest: the baseline client loop, an instant worker, queue filling and health
//! polling. Nothing here goes through the SDK, so it measures what the SDK is compared with.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::Result;

/// One reqwest client (connection pool) for a load generator.
pub(crate) fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().build()?)
}

/// The raw baseline client (b): like [`http`], but sending the SDK's `User-Agent`, so that (a)
/// and (b) put the same requests on the wire (with the `Accept` header `submit` and `status`
/// add).
pub(crate) fn baseline_http() -> Result<reqwest::Client> {
    let config = runpod_serverless::Config::builder()
        .with_api_key("unused")
        .build()?;
    Ok(reqwest::Client::builder()
        .user_agent(config.user_agent())
        .build()?)
}

/// Endpoint URLs and keys on one server.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) base_url: String,
    pub(crate) endpoint: String,
    pub(crate) api_key: String,
}

impl Target {
    pub(crate) fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base_url, self.endpoint)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.api_key)
    }
}

/// The part of a job the loops read.
#[derive(Debug, Deserialize)]
pub(crate) struct JobView {
    #[serde(default)]
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) output: Option<Value>,
}

pub(crate) fn is_terminal(status: &str) -> bool {
    matches!(status, "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT")
}

/// `POST /run {"input": input}`; returns the job id.
pub(crate) async fn submit(http: &reqwest::Client, t: &Target, input: &Value) -> Result<String> {
    let job: JobView = http
        .post(t.url("run"))
        .header("authorization", t.bearer())
        .header("accept", "application/json")
        .json(&json!({ "input": input }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(job.id)
}

/// `GET /status/{id}`.
pub(crate) async fn status(http: &reqwest::Client, t: &Target, id: &str) -> Result<JobView> {
    Ok(http
        .get(t.url(&format!("status/{id}")))
        .header("authorization", t.bearer())
        .header("accept", "application/json")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// The SDK's default wait schedule (taken from `PollPolicy::default()`: first poll at once,
/// then the initial delay growing by the multiplier to the cap, back to the initial delay when
/// the status changes), or a fixed interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cadence {
    initial: Duration,
    multiplier: f64,
    max: Duration,
}

impl Cadence {
    pub(crate) fn sdk_default() -> Self {
        let policy = runpod_serverless::PollPolicy::default();
        Self {
            initial: policy.initial_delay(),
            multiplier: policy.multiplier(),
            max: policy.max_delay(),
        }
    }

    /// How the schedule reads in the report.
    pub(crate) fn describe(&self) -> String {
        format!(
            "0, {} ms, x{}, cap {} s",
            self.initial.as_millis(),
            self.multiplier,
            self.max.as_secs_f64()
        )
    }

    /// The schedule as arguments of `python/client_bench.py`.
    pub(crate) fn python_args(&self) -> [String; 6] {
        [
            "--initial-s".into(),
            self.initial.as_secs_f64().to_string(),
            "--multiplier".into(),
            self.multiplier.to_string(),
            "--cap-s".into(),
            self.max.as_secs_f64().to_string(),
        ]
    }

    pub(crate) fn fixed(interval: Duration) -> Self {
        Self {
            initial: interval,
            multiplier: 1.0,
            max: interval,
        }
    }

    pub(crate) fn from_flag(poll_ms: Option<u64>) -> Self {
        poll_ms.map_or_else(Self::sdk_default, |ms| {
            Self::fixed(Duration::from_millis(ms))
        })
    }
}

/// The raw baseline for one job: `POST /run`, then `GET /status` on the SDK's schedule until a
/// terminal status. Returns the output and the number of status polls.
pub(crate) async fn run_and_wait(
    http: &reqwest::Client,
    t: &Target,
    input: &Value,
    cadence: Cadence,
) -> Result<(Option<Value>, u64)> {
    let id = submit(http, t, input).await?;
    let mut polls = 0;
    let mut delay = cadence.initial;
    let mut last: Option<String> = None;
    loop {
        let job = status(http, t, &id).await?;
        polls += 1;
        if is_terminal(&job.status) {
            if job.status != "COMPLETED" {
                return Err(format!("job {id} ended {}", job.status).into());
            }
            return Ok((job.output, polls));
        }
        let now = Some(job.status);
        if now != last {
            if last.is_some() {
                delay = cadence.initial;
            }
            last = now;
        }
        let current = delay;
        delay = current.mul_f64(cadence.multiplier).min(cadence.max);
        tokio::time::sleep(current).await;
    }
}

/// `GET /health`: `(in queue, in progress, completed)`.
pub(crate) async fn health(http: &reqwest::Client, t: &Target) -> Result<(i64, i64, i64)> {
    let h: Value = http
        .get(t.url("health"))
        .header("authorization", t.bearer())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let jobs = &h["jobs"];
    let n = |k: &str| jobs[k].as_i64().unwrap_or(0);
    Ok((n("inQueue"), n("inProgress"), n("completed")))
}

/// Queues `n` jobs `{"echo": i}` with `concurrency` requests in flight.
pub(crate) async fn fill_queue(
    http: &reqwest::Client,
    t: &Target,
    n: u64,
    concurrency: usize,
) -> Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (http, t, next) = (http.clone(), t.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, crate::Error>(());
                }
                submit(&http, &t, &json!({ "echo": i })).await?;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(())
}

/// A worker that answers every job at once with its input, through raw job-take-batch and
/// job-done requests: the fastest possible worker, so that client benches measure the client.
#[derive(Debug)]
pub(crate) struct InstantWorker {
    tasks: JoinSet<()>,
    done: Arc<AtomicU64>,
    notify: Arc<Notify>,
}

impl InstantWorker {
    /// `loops` take loops (each its own worker id), each taking up to `batch` jobs at a time and
    /// posting every result in its own task without waiting before the next take. `work` is
    /// how long each job "runs" before its result is posted (zero: at once).
    pub(crate) fn start(
        http: &reqwest::Client,
        t: &Target,
        loops: usize,
        batch: usize,
        work: Duration,
    ) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        let notify = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        for n in 0..loops {
            let (http, t, done, notify) = (http.clone(), t.clone(), done.clone(), notify.clone());
            tasks.spawn(async move {
                let worker = format!("instant-{n}");
                let take = t.url(&format!(
                    "job-take-batch/{worker}?batch_size={batch}&job_in_progress=0"
                ));
                loop {
                    let response = http
                        .get(&take)
                        .header("authorization", &t.api_key)
                        .send()
                        .await;
                    let jobs: Vec<Value> = match response {
                        Ok(r) if r.status() == reqwest::StatusCode::OK => {
                            r.json().await.unwrap_or_default()
                        }
                        Ok(_) => continue,
                        Err(_) => {
                            // Back off rather than spin while the server is unreachable.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    for job in jobs {
                        let (http, t, done, notify, worker) = (
                            http.clone(),
                            t.clone(),
                            done.clone(),
                            notify.clone(),
                            worker.clone(),
                        );
                        tokio::spawn(async move {
                            if !work.is_zero() {
                                tokio::time::sleep(work).await;
                            }
                            let id = job["id"].as_str().unwrap_or_default();
                            let url = t.url(&format!("job-done/{worker}/{id}?isStream=false"));
                            let body = json!({ "output": job["input"] });
                            let sent = http
                                .post(url)
                                .header("authorization", &t.api_key)
                                .json(&body)
                                .send()
                                .await;
                            if sent.is_ok_and(|r| r.status().is_success()) {
                                done.fetch_add(1, Ordering::Relaxed);
                                notify.notify_waiters();
                            }
                        });
                    }
                }
            });
        }
        Self {
            tasks,
            done,
            notify,
        }
    }

    /// Results accepted by the server so far.
    pub(crate) fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Waits until `n` results were accepted, or `limit` passed; returns whether it got there.
    pub(crate) async fn wait_done(&self, n: u64, limit: Duration) -> bool {
        let waiting = async {
            loop {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                // Registered before the check, so a result accepted in between still wakes us.
                notified.as_mut().enable();
                if self.done() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, waiting).await.is_ok()
    }

    pub(crate) async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}
