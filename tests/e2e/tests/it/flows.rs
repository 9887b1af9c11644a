//! Our client ↔ runpod-local ↔ our worker, in process: every client operation, end to end.
//!
//! The handler ([`Lab`]) reports to the test through a channel (job started, cancellation seen)
//! and waits at a gate the test opens, so no test guesses how long anything takes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use runpod::admin::AdminClient;
use runpod::admin::rest::EndpointRequestUrls;
use runpod::serverless::{HealthJobs, HealthWorkers, JobStatus, ServerlessClient};
use runpod::worker::{Job, Worker};
use runpod::{Config, Report};
use runpod_local::{FaultConfig, Route, RouteFaults, RunningServer, Server};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Barrier, Semaphore, mpsc};

use crate::support::{
    IsolatedWorker, PATIENCE, PostRecorder, WorkerTask, client, finished, status_until, worker_env,
};

const KEY: &str = "flows-key";
const EP: &str = "flows";
const WORKER: &str = "w-flows";

/// What a [`Lab`] handler tells the test.
#[derive(Debug, PartialEq)]
enum Event {
    /// The job reached its gate (after its progress update, if any, was delivered).
    AtGate(String),
    /// The job's cancellation token fired while it waited at the gate.
    SawCancel(String),
}

/// The handler of these tests. Input keys, applied in this order:
/// `progress` (sent, and delivered, as a progress update), `gate: true` (wait until the test
/// opens the gate, or the job is cancelled), `sleep_ms` (work that long), `stream: n` (send
/// chunks `{"i": k}`), `fail` (fail with that message), `flaky` (fail the first run of this job
/// id only), `panic` (panic with that message), then return `echo` (or the whole input).
#[derive(Clone)]
struct Lab {
    events: mpsc::UnboundedSender<Event>,
    gate: Arc<Semaphore>,
    flaky_failed: Arc<Mutex<HashSet<String>>>,
}

/// The test's side of a [`Lab`].
struct Probe {
    events: mpsc::UnboundedReceiver<Event>,
    gate: Arc<Semaphore>,
}

impl Probe {
    async fn next(&mut self) -> Event {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("the handler reports")
            .unwrap()
    }

    /// Waits until a job reaches the gate; returns its id.
    async fn at_gate(&mut self) -> String {
        match self.next().await {
            Event::AtGate(id) => id,
            other => panic!("expected a job at the gate, got {other:?}"),
        }
    }

    /// Lets `n` jobs through the gate.
    fn open(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

fn lab() -> (Lab, Probe) {
    let (tx, rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    (
        Lab {
            events: tx,
            gate: gate.clone(),
            flaky_failed: Arc::default(),
        },
        Probe { events: rx, gate },
    )
}

impl Lab {
    fn worker(&self) -> runpod::worker::WorkerBuilder {
        let lab = self.clone();
        Worker::builder(move |job: Job<Value>| {
            let lab = lab.clone();
            async move { lab.handle(job).await }
        })
    }

    async fn handle(&self, job: Job<Value>) -> Result<Value, String> {
        let input = job.input().clone();
        let id = job.id().to_owned();
        if let Some(progress) = input.get("progress") {
            job.progress(progress).await;
        }
        if input["gate"] == true {
            let token = job.cancellation_token();
            let _ = self.events.send(Event::AtGate(id.clone()));
            tokio::select! {
                permit = self.gate.acquire() => permit.unwrap().forget(),
                () = token.cancelled() => {
                    let _ = self.events.send(Event::SawCancel(id));
                    return Err("cancelled at the gate".to_owned());
                }
            }
        }
        if let Some(ms) = input["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let Some(n) = input["stream"].as_u64() {
            for i in 0..n {
                job.send_chunk(json!({ "i": i })).await;
            }
        }
        if let Some(message) = input["fail"].as_str() {
            return Err(message.to_owned());
        }
        if input["flaky"] == true && self.flaky_failed.lock().unwrap().insert(id) {
            return Err("flaky: first attempt".to_owned());
        }
        if let Some(message) = input["panic"].as_str() {
            panic!("{message}");
        }
        Ok(input.get("echo").cloned().unwrap_or(input))
    }
}

struct Setup {
    server: RunningServer,
    client: ServerlessClient,
    probe: Probe,
    worker: WorkerTask,
}

impl Setup {
    fn endpoint(&self) -> runpod::Endpoint {
        self.client.endpoint(EP)
    }
}

/// A server, our client, and a [`Lab`] worker of the given concurrency serving [`EP`].
async fn setup(concurrency: usize) -> Setup {
    let server = Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (lab, probe) = lab();
    let worker = WorkerTask::spawn(
        lab.worker().with_concurrency(concurrency),
        worker_env(&server, EP, WORKER),
    );
    Setup {
        client: client(&server, KEY),
        server,
        probe,
        worker,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_then_wait_or_await_returns_the_job_and_its_output() {
    let s = setup(1).await;
    let endpoint = s.endpoint();
    let job = endpoint
        .run(json!({"echo": {"answer": 42}}))
        .send()
        .await
        .unwrap();
    let state = finished(&job).await.unwrap();
    assert_eq!(state.id, job.id());
    assert_eq!(state.status, Some(JobStatus::Completed));
    assert_eq!(state.output, Some(json!({"answer": 42})));
    assert_eq!(state.worker_id.as_deref(), Some(WORKER));
    assert!(
        state.delay_time.is_some() && state.execution_time.is_some(),
        "{state:?}"
    );
    // Awaiting a handle, or one attached later by id, gives the same output.
    assert_eq!(job.clone().await.unwrap(), json!({"answer": 42}));
    let attached = endpoint.job(job.id());
    assert_eq!(
        attached.output::<Value>().await.unwrap(),
        json!({"answer": 42})
    );
    s.worker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sync_returns_the_output_and_polls_when_the_job_outlasts_the_hold() {
    let mut s = setup(2).await;
    let endpoint = s.endpoint();

    let state = endpoint
        .run_sync(json!({"echo": "quick"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (state.status, state.output),
        (Some(JobStatus::Completed), Some(json!("quick")))
    );
    assert_eq!(
        endpoint.run_sync(json!({"echo": [1, 2]})).await.unwrap(),
        json!([1, 2])
    );

    // The server holds /runsync for 1 s; this job takes 1.5 s, so the answer is the job id and
    // the client polls /status for the rest.
    let slow = endpoint
        .run_sync(json!({"sleep_ms": 1500, "echo": "slow"}))
        .hold(Duration::from_secs(1))
        .timeout(PATIENCE);
    // A job held at the gate outlasts both the hold and the caller's 3 s: the timeout names the
    // job, which proves the server answered /runsync with its id before the client gave up.
    let held = endpoint
        .run_sync(json!({"gate": true, "echo": "held"}))
        .hold(Duration::from_secs(1))
        .timeout(Duration::from_secs(3));
    let (slow, held) = tokio::join!(slow.send(), held.send());
    let slow = slow.unwrap();
    assert_eq!(slow.output, Some(json!("slow")));
    assert!(
        slow.execution_time.unwrap() >= 1500,
        "the job ran past the 1 s hold: {slow:?}"
    );
    let err = held.unwrap_err();
    assert!(err.is_timeout(), "{}", Report(&err));
    let id = err.job_id().expect("the timeout names the job").to_owned();
    assert_eq!(s.probe.at_gate().await, id);
    s.probe.open(1);
    assert_eq!(endpoint.job(&id).output::<String>().await.unwrap(), "held");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Greeting {
    text: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "only decoded, to fail")]
struct Items {
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "only decoded, to fail")]
struct Item {
    n: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_decode_into_types_and_a_mismatch_names_its_path() {
    let s = setup(1).await;
    let endpoint = s.endpoint();
    let echo = json!({"echo": {"text": "hi", "items": [{"n": 1}, {"n": "two"}]}});
    let job = endpoint.run(echo.clone()).send().await.unwrap();
    assert_eq!(
        job.output::<Greeting>().await.unwrap(),
        Greeting { text: "hi".into() }
    );
    let err = job.output::<Items>().await.unwrap_err();
    assert!(err.is_decode(), "{}", Report(&err));
    assert_eq!(err.json_path(), Some("items[1].n"));
    assert_eq!(err.job_id(), Some(job.id()));
    assert!(
        Report(&err).to_string().contains("items[1].n"),
        "{}",
        Report(&err)
    );
    let err = endpoint.run_sync(echo).output::<Items>().await.unwrap_err();
    assert_eq!(
        (err.is_decode(), err.json_path()),
        (true, Some("items[1].n"))
    );
    assert!(err.job_id().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yields_every_chunk_in_order_and_ends_with_the_job() {
    let s = setup(1).await;
    let endpoint = s.endpoint();
    let job = endpoint
        .run(json!({"stream": 5, "echo": "done"}))
        .send()
        .await
        .unwrap();
    let chunks: Vec<Value> = job
        .chunks()
        .map(|chunk| chunk.unwrap().output.unwrap())
        .collect()
        .await;
    assert_eq!(chunks, (0..5).map(|i| json!({"i": i})).collect::<Vec<_>>());
    // The stream ended because the job did.
    let state = job.status().await.unwrap();
    assert_eq!(
        (state.status, state.output),
        (Some(JobStatus::Completed), Some(json!("done")))
    );

    // A job that fails after streaming: its chunks, then its error as the last item.
    let job = endpoint
        .run(json!({"stream": 2, "fail": "after two chunks"}))
        .send()
        .await
        .unwrap();
    let items: Vec<_> = job.chunks().collect().await;
    assert_eq!(items.len(), 3, "{items:?}");
    for (i, item) in items[..2].iter().enumerate() {
        assert_eq!(
            item.as_ref().unwrap().output,
            Some(json!({"i": i})),
            "{items:?}"
        );
    }
    let err = items[2].as_ref().unwrap_err();
    assert!(err.is_job_failed(), "{}", Report(err));
    assert_eq!(
        err.job_error().unwrap()["error_message"],
        "after two chunks"
    );
}

// Current-thread: the handler's return and the stop are then ready in the same poll of the
// worker, the race a stop must win.
#[tokio::test]
async fn cancel_of_a_running_job_fires_the_handler_s_token_and_the_worker_posts_nothing() {
    let server = Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let recorder = PostRecorder::start(&server).await;
    let (lab, mut probe) = lab();
    let _worker = WorkerTask::spawn(lab.worker(), recorder.worker_env(&server, EP, WORKER));
    let endpoint = client(&server, KEY).endpoint(EP);
    // The handler returns as soon as its token fires, in the same instant as the stop itself;
    // the stop must win every time, so several rounds.
    let mut cancelled = Vec::new();
    for _ in 0..5 {
        let job = endpoint.run(json!({"gate": true})).send().await.unwrap();
        assert_eq!(probe.at_gate().await, job.id());
        assert_eq!(
            job.status().await.unwrap().status,
            Some(JobStatus::InProgress)
        );
        let state = job.cancel().await.unwrap();
        assert_eq!(
            (state.id.as_str(), state.status),
            (job.id(), Some(JobStatus::Cancelled))
        );
        assert_eq!(probe.next().await, Event::SawCancel(job.id().to_owned()));
        let err = finished(&job).await.unwrap_err();
        assert!(err.is_job_cancelled(), "{}", Report(&err));
        cancelled.push(job);
    }

    // The worker (concurrency 1) is free again, so each stopped job has been wound up: the
    // next job's result is the first thing it posted.
    let next = endpoint.run(json!({"echo": "next"})).send().await.unwrap();
    assert_eq!(next.output::<String>().await.unwrap(), "next");
    let posted = recorder.paths();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        posted[0].starts_with(&format!("/v2/{EP}/job-done/{WORKER}/{}?", next.id())),
        "{posted:?}"
    );
    for job in &cancelled {
        assert_eq!(
            job.status().await.unwrap().status,
            Some(JobStatus::Cancelled)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_retried_under_the_same_id() {
    let s = setup(1).await;
    let endpoint = s.endpoint();
    let job = endpoint
        .run(json!({"flaky": true, "echo": "second time"}))
        .send()
        .await
        .unwrap();
    let err = finished(&job).await.unwrap_err();
    assert!(err.is_job_failed(), "{}", Report(&err));
    assert_eq!(err.job_id(), Some(job.id()));
    let doc = err.job_error().unwrap();
    assert_eq!(doc["error_message"], "flaky: first attempt");
    assert_eq!(doc["error_type"], "HandlerError");
    assert_eq!(doc["worker_id"], WORKER);

    let state = job.retry().await.unwrap();
    assert_eq!(state.id, job.id());
    assert!(
        matches!(
            state.status,
            Some(JobStatus::InQueue | JobStatus::InProgress)
        ),
        "{state:?}"
    );
    let state = finished(&job).await.unwrap();
    assert_eq!(
        (state.id.as_str(), state.output),
        (job.id(), Some(json!("second time")))
    );
    assert_eq!(state.retries, Some(1));
    let health = endpoint.health().await.unwrap();
    assert_eq!(health.jobs.unwrap().retried, Some(1));
}

/// Completes one job, fails one, holds one at the gate and queues `queued` more behind it
/// (the worker has concurrency 1). Returns the held job and the queued ones.
async fn busy_endpoint(
    s: &mut Setup,
    queued: usize,
) -> (runpod::JobHandle, Vec<runpod::JobHandle>) {
    let endpoint = s.endpoint();
    endpoint.run_sync(json!({"echo": 1})).await.unwrap();
    let failed = endpoint.run_sync(json!({"fail": "on purpose"})).await;
    assert!(failed.unwrap_err().is_job_failed());
    let held = endpoint.run(json!({"gate": true})).send().await.unwrap();
    assert_eq!(s.probe.at_gate().await, held.id());
    let mut waiting = Vec::new();
    for n in 0..queued {
        waiting.push(endpoint.run(json!({"echo": n})).send().await.unwrap());
    }
    (held, waiting)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_counts_jobs_by_state_and_workers_by_activity() {
    let mut s = setup(1).await;
    let (held, waiting) = busy_endpoint(&mut s, 2).await;
    let health = s.endpoint().health().await.unwrap();
    assert_eq!(
        health.jobs,
        Some(HealthJobs {
            completed: Some(1),
            failed: Some(1),
            in_progress: Some(1),
            in_queue: Some(2),
            retried: Some(0),
        })
    );
    assert_eq!(
        health.workers,
        Some(HealthWorkers {
            idle: Some(0),
            running: Some(1),
            ..Default::default()
        })
    );
    s.probe.open(1);
    for job in std::iter::once(&held).chain(&waiting) {
        finished(job).await.unwrap();
    }
    let health = s.endpoint().health().await.unwrap();
    let jobs = health.jobs.unwrap();
    assert_eq!(
        (jobs.completed, jobs.in_progress, jobs.in_queue),
        (Some(4), Some(0), Some(0))
    );
    assert_eq!(health.workers.unwrap().idle, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_queue_removes_the_queued_jobs_and_leaves_the_running_one() {
    let mut s = setup(1).await;
    let (held, waiting) = busy_endpoint(&mut s, 3).await;
    let purged = s.endpoint().purge_queue().await.unwrap();
    assert_eq!(
        (purged.removed, purged.status.as_deref()),
        (Some(3), Some("completed"))
    );
    for job in &waiting {
        let err = job.status().await.unwrap_err();
        assert!(err.is_not_found(), "{}", Report(&err));
    }
    assert_eq!(
        s.endpoint().health().await.unwrap().jobs.unwrap().in_queue,
        Some(0)
    );
    s.probe.open(1);
    assert_eq!(
        finished(&held).await.unwrap().status,
        Some(JobStatus::Completed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_updates_show_in_the_status_while_the_job_runs() {
    let mut s = setup(1).await;
    let job = s
        .endpoint()
        .run(json!({"progress": {"pct": 50}, "gate": true, "echo": {"done": true}}))
        .send()
        .await
        .unwrap();
    // The handler reaches the gate only once its update was delivered.
    assert_eq!(s.probe.at_gate().await, job.id());
    let running = job.status().await.unwrap();
    assert_eq!(
        (running.status, running.output),
        (Some(JobStatus::InProgress), Some(json!({"pct": 50})))
    );
    s.probe.open(1);
    assert_eq!(
        finished(&job).await.unwrap().output,
        Some(json!({"done": true}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_its_job_with_the_panic_message_and_the_worker_goes_on() {
    let s = setup(1).await;
    let endpoint = s.endpoint();
    let job = endpoint
        .run(json!({"panic": "kaboom at step 3"}))
        .send()
        .await
        .unwrap();
    let err = finished(&job).await.unwrap_err();
    assert!(err.is_job_failed(), "{}", Report(&err));
    let doc = err.job_error().unwrap();
    assert_eq!(doc["error_type"], "Panic");
    let message = doc["error_message"].as_str().unwrap();
    assert!(message.contains("kaboom at step 3"), "{doc}");
    assert_eq!(job.status().await.unwrap().status, Some(JobStatus::Failed));
    assert_eq!(
        endpoint.run_sync(json!({"echo": "alive"})).await.unwrap(),
        json!("alive")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_client_runs_and_waits() {
    let s = setup(1).await;
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(s.server.serverless_base_url())
        .build()
        .unwrap();
    // Off the runtime's threads: the blocking client parks its caller.
    let (state, output, sync_output) = tokio::task::spawn_blocking(move || {
        let client = runpod::blocking::ServerlessClient::builder()
            .with_config(config)
            .with_poll_policy(crate::support::fast_poll())
            .build()
            .unwrap();
        let endpoint = client.endpoint(EP);
        let job = endpoint.run(json!({"echo": "blocking"})).send().unwrap();
        let state = job.wait_with_timeout(PATIENCE).unwrap();
        let output = job.output::<String>().unwrap();
        let sync_output = endpoint
            .run_sync(json!({"echo": [3]}))
            .output::<Vec<u8>>()
            .unwrap();
        (state, output, sync_output)
    })
    .await
    .unwrap();
    assert_eq!(
        (state.status, state.worker_id.as_deref()),
        (Some(JobStatus::Completed), Some(WORKER))
    );
    assert_eq!(output, "blocking");
    assert_eq!(sync_output, [3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_job_is_queued_again_and_completed_by_another_worker() {
    let server = Server::builder()
        .api_key(KEY)
        .heartbeat_timeout(Duration::from_millis(500))
        .hold_time(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let endpoint = client(&server, KEY).endpoint(EP);
    let (doomed_lab, mut doomed_probe) = lab();
    let mut doomed =
        IsolatedWorker::spawn(doomed_lab.worker(), worker_env(&server, EP, "w-doomed"));
    let job = endpoint
        .run(json!({"gate": true, "echo": "rescued"}))
        .send()
        .await
        .unwrap();
    assert_eq!(doomed_probe.at_gate().await, job.id());
    assert_eq!(
        job.status().await.unwrap().worker_id.as_deref(),
        Some("w-doomed")
    );

    doomed.kill();
    // Heard from no more, the worker is declared lost and its job goes back to the queue.
    let requeued = status_until(&job, |s| s.status == Some(JobStatus::InQueue)).await;
    assert_eq!(requeued.retries, Some(1), "{requeued:?}");

    let (rescuer_lab, rescuer_probe) = lab();
    rescuer_probe.open(1);
    let _rescuer = WorkerTask::spawn(rescuer_lab.worker(), worker_env(&server, EP, "w-rescuer"));
    let state = finished(&job).await.unwrap();
    assert_eq!(state.id, job.id());
    assert_eq!(state.worker_id.as_deref(), Some("w-rescuer"));
    assert!(state.retries >= Some(1), "{state:?}");
    assert_eq!(state.output, Some(json!("rescued")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_of_concurrency_4_takes_batches_and_runs_four_jobs_at_once() {
    // Single job-take always fails here, so every job this test sees complete was handed out by
    // job-take-batch.
    let faults = FaultConfig::new().route(Route::JobTake, RouteFaults::new().server_error(1.0));
    let server = Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_millis(500))
        .faults(faults)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let endpoint = client(&server, KEY).endpoint(EP);
    let mut jobs = Vec::new();
    for n in 0..8 {
        jobs.push(endpoint.run(json!({ "n": n })).send().await.unwrap());
    }

    // Each job waits until four run at once: with fewer at a time this would never finish.
    let barrier = Arc::new(Barrier::new(4));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (barrier, running, peak) = (barrier.clone(), running.clone(), peak.clone());
        move |job: Job<Value>| {
            let (barrier, running, peak) = (barrier.clone(), running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                barrier.wait().await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(job.input().clone())
            }
        }
    };
    let _worker = WorkerTask::spawn(
        Worker::builder(handler).with_concurrency(4),
        worker_env(&server, EP, "w-batch"),
    );
    for (n, job) in jobs.iter().enumerate() {
        let state = finished(job).await.unwrap();
        assert_eq!(state.output, Some(json!({ "n": n })));
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        4,
        "never more than the concurrency"
    );
    let health = endpoint.health().await.unwrap();
    assert_eq!(health.jobs.unwrap().completed, Some(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_created_with_the_admin_client_serves_jobs() {
    let server = Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let admin = AdminClient::new(
        runpod::HttpClient::new(
            Config::builder()
                .with_api_key(KEY)
                .with_rest_base_url(server.base_url())
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    let template = admin
        .create_template("e2e-worker", "me/worker:1", true)
        .await
        .unwrap();
    assert!(
        template.serverless && !template.id.is_empty(),
        "{template:?}"
    );
    let created = admin
        .create_endpoint("e2e-endpoint", &template.id, ["AMPERE_16"], 0, 1)
        .await
        .unwrap();
    assert_eq!(created.name, "e2e-endpoint");
    let listed = admin.get_endpoints().await.unwrap();
    assert!(listed.iter().any(|e| e.id == created.id), "{listed:?}");
    // Its URLs are this server's queue routes, the ones our client calls.
    match &created.request_urls {
        Some(EndpointRequestUrls::QueueBased(urls)) => assert_eq!(
            urls.run,
            format!("{}/{}/run", server.serverless_base_url(), created.id)
        ),
        other => panic!("queue request URLs expected, got {other:?}"),
    }

    let (lab, _probe) = lab();
    let _worker = WorkerTask::spawn(lab.worker(), worker_env(&server, &created.id, WORKER));
    let endpoint = client(&server, KEY).endpoint(&created.id);
    let state = endpoint
        .run_sync(json!({"echo": "served"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (state.output, state.worker_id.as_deref()),
        (Some(json!("served")), Some(WORKER))
    );
}
