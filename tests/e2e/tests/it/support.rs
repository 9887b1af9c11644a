//! What the flows and the interop tests share: our client pointed at a local server, bounded
//! waits on jobs, and in-process workers that end with their test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use runpod::Config;
use runpod::serverless::{JobHandle, JobState, PollPolicy, ServerlessClient};
use runpod::worker::{WorkerBuilder, WorkerEnv};
use runpod_local::RunningServer;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest any single wait in these tests may take before it counts as a hang.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// Polls quickly so that waits add little latency to a test (the default backs off to 2 s).
pub(crate) fn fast_poll() -> PollPolicy {
    PollPolicy::builder()
        .with_initial_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(200))
        .build()
        .unwrap()
}

/// Our client for the queue API at `base_url` (`http://HOST:PORT/v2`), sending `key`.
pub(crate) fn client_at(base_url: &str, key: &str) -> ServerlessClient {
    let config = Config::builder()
        .with_api_key(key)
        .with_serverless_base_url(base_url)
        .build()
        .unwrap();
    ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(fast_poll())
        .build()
        .unwrap()
}

/// Our client for `server`'s queue API.
pub(crate) fn client(server: &RunningServer, key: &str) -> ServerlessClient {
    client_at(&server.serverless_base_url(), key)
}

/// Waits until the job ends: `Ok` with the COMPLETED job, or the error its end turned into
/// (`is_job_failed()`, `is_job_cancelled()`, …). Panics if it is still running after
/// [`PATIENCE`].
pub(crate) async fn finished(job: &JobHandle) -> runpod::Result<JobState> {
    match job.wait_with_timeout(PATIENCE).await {
        Err(e) if e.is_timeout() => {
            panic!("job {} did not finish: {:?}", job.id(), job.status().await)
        }
        other => other,
    }
}

/// Polls `/status` until `accept` holds (for states no wait reports, like "running").
pub(crate) async fn status_until(job: &JobHandle, accept: impl Fn(&JobState) -> bool) -> JobState {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let state = job.status().await.unwrap();
        if accept(&state) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {} stuck at {state:?}",
            job.id()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The environment of a worker serving `endpoint` on `server` as `worker_id`, pinging every
/// 100 ms so that short heartbeat timeouts can be used.
pub(crate) fn worker_env(server: &RunningServer, endpoint: &str, worker_id: &str) -> WorkerEnv {
    WorkerEnv::from_vars(server.worker_env(endpoint, worker_id))
        .with_ping_interval(Duration::from_millis(100))
}

/// An in-process worker on the test's runtime. Dropping it asks for a graceful shutdown.
pub(crate) struct WorkerTask {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<runpod::Result<()>>,
}

impl WorkerTask {
    pub(crate) fn spawn(builder: WorkerBuilder, env: WorkerEnv) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let worker = builder.with_env(env).graceful_shutdown_on(async move {
            let _ = stopped.await;
        });
        Self {
            stop: Some(stop),
            task: tokio::spawn(worker.run()),
        }
    }

    /// Shuts down gracefully and returns what `run()` returned.
    pub(crate) async fn stop(mut self) -> runpod::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("the worker stops")
            .unwrap()
    }
}

impl Drop for WorkerTask {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A worker on a runtime of its own, which [`kill`](Self::kill) tears down: every task of the
/// worker (job-take, job-stop, handlers, the heartbeat) ends at once, mid-request, sending
/// nothing more — as when its machine dies. Aborting the `run()` task would not do: the tasks it
/// spawned would go on polling.
pub(crate) struct IsolatedWorker {
    runtime: Option<tokio::runtime::Runtime>,
}

impl IsolatedWorker {
    pub(crate) fn spawn(builder: WorkerBuilder, env: WorkerEnv) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.spawn(builder.with_env(env).run());
        Self {
            runtime: Some(runtime),
        }
    }

    pub(crate) fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for IsolatedWorker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A forwarding proxy in front of `server` that records the path of every request: put in a
/// worker's `RUNPOD_WEBHOOK_POST_OUTPUT`, it shows on the wire which results the worker posted.
pub(crate) struct PostRecorder {
    base_url: String,
    paths: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl PostRecorder {
    pub(crate) async fn start(server: &RunningServer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (upstream, recorded) = (server.base_url(), paths.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (http, upstream, recorded) = (http.clone(), upstream.clone(), recorded.clone());
                tokio::spawn(forward(stream, http, upstream, recorded));
            }
        });
        Self {
            base_url,
            paths,
            task,
        }
    }

    /// [`worker_env`], with the job-done URL (results and progress updates) through this proxy.
    pub(crate) fn worker_env(
        &self,
        server: &RunningServer,
        endpoint: &str,
        worker_id: &str,
    ) -> WorkerEnv {
        let vars = server
            .worker_env(endpoint, worker_id)
            .into_iter()
            .map(|(name, mut value)| {
                if name == "RUNPOD_WEBHOOK_POST_OUTPUT" {
                    value = value.replacen(&server.base_url(), &self.base_url, 1);
                }
                (name, value)
            });
        WorkerEnv::from_vars(vars).with_ping_interval(Duration::from_millis(100))
    }

    /// Every request path (with query) received so far, in order.
    pub(crate) fn paths(&self) -> Vec<String> {
        self.paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for PostRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one keep-alive connection: each HTTP/1.1 request (with a `Content-Length` body, as the
/// worker sends them) is recorded, sent upstream, and answered with the upstream answer.
async fn forward(
    stream: TcpStream,
    http: reqwest::Client,
    upstream: String,
    recorded: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut words = line.split_whitespace();
        let method: reqwest::Method = words.next().unwrap_or_default().parse().unwrap();
        let target = words.next().unwrap_or_default().to_owned();
        let mut request = http.request(method, format!("{upstream}{target}"));
        let mut length = 0;
        loop {
            let mut header = String::new();
            read.read_line(&mut header).await?;
            let Some((name, value)) = header.trim_end().split_once(':') else {
                break;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap();
            } else if !name.eq_ignore_ascii_case("host") && !name.eq_ignore_ascii_case("connection")
            {
                request = request.header(name, value);
            }
        }
        let mut body = vec![0; length];
        read.read_exact(&mut body).await?;
        recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(target);
        let response = request.body(body).send().await.unwrap();
        let status = response.status();
        let answer = response.bytes().await.unwrap();
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            answer.len()
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(&answer).await?;
    }
}

/// The example `name` of `runpod-examples`, built once per test run by the cargo running these
/// tests, in their profile (a no-op when it is up to date). Blocks: call it from
/// `spawn_blocking` in async tests.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    // Held while building, so two tests asking for the same example build it once.
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "-p", "runpod-examples", "--example", name])
        .arg("--message-format=json-render-diagnostics");
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "building {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Cargo names the executable it built, wherever the target directory is.
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reports no {name} executable"));
    built.insert(name.to_owned(), path.clone());
    path
}
