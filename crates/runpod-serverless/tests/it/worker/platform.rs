//! A scriptable fake of the platform's worker endpoints: a minimal HTTP/1.1 server on loopback
//! that logs every request and answers through a closure, plus a job-queue script on top.
//!
//! Hand-rolled rather than httpmock because the behaviours under test are sequences (hand out a
//! job once, fail a post twice then accept it, hold a long-poll, come up on a port that was
//! refusing connections), and every request must be logged exactly once.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runpod_serverless::worker::{CancellationToken, Job, WorkerBuilder, WorkerEnv};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) const WORKER_ID: &str = "w1";
pub(crate) const KEY: &str = "worker-secret";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) uri: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) at: Instant,
}

impl Req {
    pub(crate) fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    pub(crate) fn query(&self, key: &str) -> Option<String> {
        let q = self.uri.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.replace("%2C", ","))
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub(crate) fn is(&self, segment: &str) -> bool {
        self.path().contains(&format!("/{segment}/"))
    }

    /// The job id of a job-done / job-stream post (last path segment).
    pub(crate) fn job_id(&self) -> &str {
        self.path().rsplit('/').next().unwrap_or_default()
    }

    /// A job-done post that is the final result (not a progress update).
    pub(crate) fn is_final(&self) -> bool {
        self.is("job-done") && self.json().get("status") != Some(&json!("IN_PROGRESS"))
    }

    /// The decoded error document of a failed result.
    pub(crate) fn error_doc(&self) -> Value {
        let body = self.json();
        let s = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error string in {body}"));
        serde_json::from_str(s).unwrap()
    }
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) delay: Duration,
    pub(crate) headers: Vec<(String, String)>,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    pub(crate) fn json(status: u16, v: Value) -> Self {
        Self {
            body: v.to_string(),
            ..Self::status(status)
        }
    }

    pub(crate) fn raw(status: u16, body: &str) -> Self {
        Self {
            body: body.to_owned(),
            ..Self::status(status)
        }
    }

    pub(crate) fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    pub(crate) fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

type Responder = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;
type PostResponder = Box<dyn FnMut(&Req) -> Reply + Send>;
type HandlerFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, String>> + Send>>;

/// A running fake server. Stops when dropped.
pub(crate) struct Platform {
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<Vec<Req>>>,
    changed: Arc<Notify>,
    stop: CancellationToken,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Platform {
    pub(crate) async fn start(responder: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), responder).await
    }

    /// Serves on its own OS thread and runtime, so that a test whose runtime is blocked (by a
    /// handler that blocks its thread) still has a server answering and logging on time.
    pub(crate) async fn start_on(
        addr: SocketAddr,
        responder: impl Fn(&Req) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let std_listener = std::net::TcpListener::bind(addr).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let changed = Arc::new(Notify::new());
        let responder: Responder = Arc::new(responder);
        let (l, c) = (log.clone(), changed.clone());
        let stop = CancellationToken::new();
        let thread_stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let mut conns = Vec::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { break };
                            conns.push(tokio::spawn(serve(stream, responder.clone(), l.clone(), c.clone())));
                        }
                        () = thread_stop.cancelled() => break,
                    }
                }
                for c in conns {
                    c.abort();
                }
            });
        });
        Self {
            addr,
            log,
            changed,
            stop,
        }
    }

    /// `/v2/ep/...` templates on this server.
    pub(crate) fn env_vars(&self) -> Vec<(String, String)> {
        let base = format!("http://{}/v2/ep", self.addr);
        vec![
            (
                "RUNPOD_WEBHOOK_GET_JOB".into(),
                format!("{base}/job-take/$ID?gpu=TEST"),
            ),
            (
                "RUNPOD_WEBHOOK_POST_OUTPUT".into(),
                format!("{base}/job-done/$RUNPOD_POD_ID/$ID?gpu=TEST"),
            ),
            (
                "RUNPOD_WEBHOOK_POST_STREAM".into(),
                format!("{base}/job-stream/$RUNPOD_POD_ID/$ID?gpu=TEST"),
            ),
            (
                "RUNPOD_WEBHOOK_PING".into(),
                format!("{base}/ping/$RUNPOD_POD_ID?gpu=TEST"),
            ),
            ("RUNPOD_PING_INTERVAL".into(), "60000".into()),
            ("RUNPOD_POD_ID".into(), WORKER_ID.into()),
            ("RUNPOD_AI_API_KEY".into(), KEY.into()),
            ("RUNPOD_POD_HOSTNAME".into(), "host-1".into()),
        ]
    }

    pub(crate) fn env(&self) -> WorkerEnv {
        WorkerEnv::from_vars(self.env_vars())
    }

    pub(crate) fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    pub(crate) fn matching(&self, f: impl Fn(&Req) -> bool) -> Vec<Req> {
        self.requests().into_iter().filter(|r| f(r)).collect()
    }

    pub(crate) fn finals(&self) -> Vec<Req> {
        self.matching(Req::is_final)
    }

    /// Waits (at most 10 s) until `pred` holds for the request log; returns the log.
    pub(crate) async fn wait_until(&self, what: &str, pred: impl Fn(&[Req]) -> bool) -> Vec<Req> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.changed.notified();
            let log = self.requests();
            if pred(&log) {
                return log;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {what}; requests: {:#?}",
                    summary(&self.requests())
                );
            }
        }
    }

    /// Waits until `n` final results were posted.
    pub(crate) async fn wait_finals(&self, n: usize) -> Vec<Req> {
        self.wait_until(&format!("{n} results"), |log| {
            log.iter().filter(|r| r.is_final()).count() >= n
        })
        .await;
        self.finals()
    }
}

/// `METHOD uri` lines, for failure messages.
pub(crate) fn summary(log: &[Req]) -> Vec<String> {
    log.iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.method,
                r.uri,
                String::from_utf8_lossy(&r.body)
            )
        })
        .collect()
}

async fn serve(
    stream: TcpStream,
    responder: Responder,
    log: Arc<Mutex<Vec<Req>>>,
    changed: Arc<Notify>,
) {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let uri = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let req = Req {
            method,
            uri,
            headers,
            body,
            at: Instant::now(),
        };
        let reply = responder(&req);
        log.lock().unwrap().push(req);
        changed.notify_waiters();
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        if !reply.body.is_empty() {
            head.push_str("content-type: application/json\r\n");
        }
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(&reply.body);
        if w.write_all(head.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A job queue behind the fake platform: job-take hands out queued jobs (as many as
/// `batch_size`), job-stop hands out queued stop signals, posts answer through `post_status`.
pub(crate) struct Queue {
    jobs: Mutex<VecDeque<Value>>,
    stops: Mutex<Vec<String>>,
    /// Answer for job-done / job-stream posts (default 200).
    post_status: Mutex<PostResponder>,
    /// How long an empty job-take / job-stop is held.
    pub(crate) hold: Duration,
}

impl Queue {
    pub(crate) fn new(jobs: impl IntoIterator<Item = Value>) -> Arc<Self> {
        Arc::new(Self {
            jobs: Mutex::new(jobs.into_iter().collect()),
            stops: Mutex::new(Vec::new()),
            post_status: Mutex::new(Box::new(|_| Reply::status(200))),
            hold: Duration::from_millis(100),
        })
    }

    pub(crate) fn push(&self, job: Value) {
        self.jobs.lock().unwrap().push_back(job);
    }

    pub(crate) fn stop(&self, id: &str) {
        self.stops.lock().unwrap().push(id.to_owned());
    }

    pub(crate) fn on_post(&self, f: impl FnMut(&Req) -> Reply + Send + 'static) {
        *self.post_status.lock().unwrap() = Box::new(f);
    }

    pub(crate) fn respond(&self, req: &Req) -> Reply {
        if req.is("job-take") || req.is("job-take-batch") {
            let n = req
                .query("batch_size")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1usize);
            let mut jobs = self.jobs.lock().unwrap();
            let k = n.min(jobs.len());
            if k == 0 {
                return Reply::status(204).delay(self.hold);
            }
            let taken: Vec<Value> = jobs.drain(..k).collect();
            return if req.is("job-take-batch") {
                Reply::json(200, Value::Array(taken))
            } else {
                Reply::json(200, taken.into_iter().next().unwrap())
            };
        }
        if req.is("job-stop") {
            let ids: Vec<String> = std::mem::take(&mut *self.stops.lock().unwrap());
            return if ids.is_empty() {
                Reply::status(204).delay(self.hold)
            } else {
                Reply::json(200, json!({ "jobsToStop": ids }))
            };
        }
        if req.is("job-done") || req.is("job-stream") {
            return (self.post_status.lock().unwrap())(req);
        }
        if req.is("ping") {
            return Reply::json(200, json!({"status": "pong"}));
        }
        Reply::raw(404, "no such route in the fake platform")
    }
}

/// A platform serving `queue`.
pub(crate) async fn queue_platform(queue: &Arc<Queue>) -> Platform {
    let q = queue.clone();
    Platform::start(move |req| q.respond(req)).await
}

/// A worker running in the background, stopped through `graceful_shutdown_on`.
pub(crate) struct Running {
    stop: Option<oneshot::Sender<()>>,
    pub(crate) task: JoinHandle<runpod_transport::Result<()>>,
}

impl Running {
    pub(crate) fn spawn(builder: WorkerBuilder) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let builder = builder.graceful_shutdown_on(async move {
            let _ = rx.await;
        });
        Self {
            stop: Some(tx),
            task: tokio::spawn(builder.run()),
        }
    }

    /// Requests a graceful shutdown and waits (at most 20 s) for `run()` to return.
    pub(crate) async fn shutdown(mut self) -> runpod_transport::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("worker did not stop")
            .unwrap()
    }
}

/// Gates that test handlers wait on, opened by the test.
#[derive(Clone, Default)]
pub(crate) struct Gates(Arc<Mutex<std::collections::HashMap<String, Arc<Notify>>>>);

impl Gates {
    fn get(&self, name: &str) -> Arc<Notify> {
        self.0
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    pub(crate) fn open(&self, name: &str) {
        self.get(name).notify_one();
    }

    pub(crate) async fn wait(&self, name: &str) {
        self.get(name).notified().await;
    }
}

/// A handler driven by its input, for the tests:
/// `{"echo": x}` → x; `{"fail": "msg"}` → error; `{"panic": "msg"}`; `{"sleep_ms": n}`;
/// `{"block_ms": n}` blocks its thread; `{"gate": name}` waits for the test to open it;
/// `{"progress": n}` sends n updates first; `{"until_cancelled": true}` returns only once
/// cancelled (then `{"ignore_cancel": true}` keeps going anyway); `{"refresh": true}`.
pub(crate) fn scripted(
    gates: Gates,
) -> impl Fn(Job<Value>) -> HandlerFuture + Send + Sync + 'static {
    move |job: Job<Value>| {
        let gates = gates.clone();
        Box::pin(async move {
            let input = job.input().clone();
            if let Some(n) = input.get("progress").and_then(Value::as_u64) {
                for i in 0..n {
                    job.progress(json!({"step": i})).await;
                }
            }
            if input.get("refresh") == Some(&json!(true)) {
                job.refresh_worker();
            }
            if let Some(name) = input.get("gate").and_then(Value::as_str) {
                gates.wait(name).await;
            }
            if let Some(ms) = input.get("sleep_ms").and_then(Value::as_u64) {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if let Some(ms) = input.get("block_ms").and_then(Value::as_u64) {
                #[allow(clippy::disallowed_methods)] // the point: a handler that blocks its thread
                std::thread::sleep(Duration::from_millis(ms));
            }
            if input.get("until_cancelled") == Some(&json!(true)) {
                job.cancelled().await;
                if input.get("ignore_cancel") == Some(&json!(true)) {
                    std::future::pending::<()>().await;
                }
                return Err("noticed the cancellation".to_owned());
            }
            if let Some(msg) = input.get("panic").and_then(Value::as_str) {
                panic!("{msg}");
            }
            if let Some(msg) = input.get("fail").and_then(Value::as_str) {
                return Err(msg.to_owned());
            }
            Ok(input.get("echo").cloned().unwrap_or(Value::Null))
        })
    }
}
