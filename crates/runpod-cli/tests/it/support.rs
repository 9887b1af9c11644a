//! Running the binary in a clean environment, and the servers it talks to.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use runpod::worker::{CancellationToken, Job, Worker, WorkerEnv};
use runpod_local::{RunningServer, Server};
use serde_json::Value;
use tempfile::TempDir;

pub(crate) const KEY: &str = "rpa_TESTKEY_do_not_print";
pub(crate) const EP: &str = "ep-cli";

/// What one run of the binary did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts the exit code, that stderr is exactly one `error:` line, and that no secret or
    /// backtrace leaked; returns that line.
    #[track_caller]
    pub(crate) fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "wrong exit code: {self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        self.no_secrets();
        lines[0]
    }

    #[track_caller]
    pub(crate) fn no_secrets(&self) {
        for text in [&self.stdout, &self.stderr] {
            assert!(!text.contains(KEY), "the API key leaked: {self:#?}");
            assert!(!text.contains("panicked"), "{self:#?}");
            assert!(!text.contains("stack backtrace"), "{self:#?}");
        }
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// A temporary HOME and the environment the binary runs in.
#[derive(Debug, Clone)]
pub(crate) struct Cli {
    home: Arc<TempDir>,
    env: Vec<(String, String)>,
}

impl Cli {
    /// No key anywhere: HOME is empty, no RUNPOD_* variable.
    pub(crate) fn new() -> Self {
        Self {
            home: Arc::new(tempfile::tempdir().unwrap()),
            env: vec![("COLUMNS".into(), "100".into())],
        }
    }

    /// With RUNPOD_API_KEY set to [`KEY`].
    pub(crate) fn with_key() -> Self {
        Self::new().env("RUNPOD_API_KEY", KEY)
    }

    pub(crate) fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.home().join(".runpod").join("config.toml")
    }

    /// Runs `runpod ARGS` (blocking: call from tests without a server, or through
    /// [`Cli::run`]).
    pub(crate) fn run_blocking(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runpod"));
        command
            .args(args)
            .arg("--no-color")
            .env("HOME", self.home())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in [
            "RUNPOD_API_KEY",
            "RUNPOD_PROFILE",
            "RUNPOD_API_BASE_URL",
            "RUNPOD_ENDPOINT_BASE_URL",
            "RUNPOD_HTTP_VERSION",
            "RUNPOD_LOCAL_API_KEY",
            "RUNPOD_LB_BASE_URL",
            "NO_COLOR",
            "RUST_LOG",
            "COLUMNS",
            "USERPROFILE",
        ] {
            command.env_remove(name);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).unwrap();
        }
        let output = child.wait_with_output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs `runpod ARGS` off the async runtime, so in-process servers keep serving.
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, None).await
    }

    pub(crate) async fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let cli = self.clone();
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let stdin = stdin.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.run_blocking(&args, stdin.as_deref())
        })
        .await
        .unwrap()
    }
}

/// An in-process `runpod-local` and, optionally, a worker serving endpoint [`EP`].
pub(crate) struct Platform {
    server: Option<RunningServer>,
    stop_worker: CancellationToken,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Platform {
    /// A server that requires [`KEY`], with no worker: jobs stay queued.
    pub(crate) async fn without_worker() -> Self {
        let server = Server::builder()
            .api_key(KEY)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        Self {
            server: Some(server),
            stop_worker: CancellationToken::new(),
            worker: None,
        }
    }

    /// A server plus a worker running [`handler`].
    pub(crate) async fn with_worker() -> Self {
        let mut platform = Self::without_worker().await;
        let env = WorkerEnv::from_vars(platform.server().worker_env(EP, "worker-1"));
        let stop = platform.stop_worker.clone();
        let worker = Worker::builder(handler)
            .with_env(env)
            .with_concurrency(4)
            .with_shutdown_timeout(Duration::from_secs(1))
            .graceful_shutdown_on(async move { stop.cancelled().await });
        platform.worker = Some(tokio::spawn(async move {
            let _ = worker.run().await;
        }));
        platform
    }

    pub(crate) fn server(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    /// `http://127.0.0.1:PORT/v2`.
    pub(crate) fn endpoint_url(&self) -> String {
        self.server().serverless_base_url()
    }

    pub(crate) async fn stop(mut self) {
        self.stop_worker.cancel();
        if let Some(worker) = self.worker.take() {
            let _ = worker.await;
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// The test worker. Input keys choose what it does:
/// - `chunks`: streams each item, in order, before returning;
/// - `sleep_ms`: waits that long, or until the job is cancelled;
/// - `fail`: fails with that message;
/// - `echo`: returns it (else returns the whole input).
async fn handler(job: Job) -> Result<Value, String> {
    let input = job.input().clone();
    if let Some(chunks) = input.get("chunks").and_then(Value::as_array) {
        for chunk in chunks {
            job.send_chunk(chunk).await;
        }
    }
    if let Some(ms) = input.get("sleep_ms").and_then(Value::as_u64) {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => {}
            () = job.cancelled() => return Err("cancelled".to_owned()),
        }
    }
    if let Some(message) = input.get("fail").and_then(Value::as_str) {
        return Err(message.to_owned());
    }
    Ok(input.get("echo").cloned().unwrap_or(input))
}

/// Replaces random ids in `text` with `[id1]`, `[id2]`, … padded with `_` to the id's length,
/// so that table columns stay aligned in snapshots.
pub(crate) fn redact_ids(text: &str, ids: &[&str]) -> String {
    let mut text = text.to_owned();
    for (n, id) in ids.iter().enumerate() {
        let label = format!("[id{}]", n + 1);
        let padded = format!(
            "{label:_<width$}",
            width = id.chars().count().max(label.len())
        );
        text = text.replace(id, &padded);
    }
    text
}

/// runpod-local's in-memory REST v2 (templates, serverless endpoints, catalog) on its own port;
/// stops when dropped.
pub(crate) struct RestV2 {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl RestV2 {
    pub(crate) async fn start(state: runpod_local::rest_v2::RestV2State) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = runpod_local::rest_v2::router(state.api_key(KEY));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, task }
    }

    /// The value for `--api-url` / `RUNPOD_API_BASE_URL`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for RestV2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}
