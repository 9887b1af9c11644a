//! Interop with the official Python SDK (`runpod==1.12.0`): its client and its worker, unmodified,
//! against an in-process runpod-local — with our client driving the official worker, and the
//! official client driving our worker.
//!
//! The interpreter is `RUNPOD_PYTHON`, else `<workspace>/.venv/bin/python`. Without `runpod`
//! 1.12.0 there every test here fails and says how to fix it; none is skipped silently.
//! Each child process runs in its own process group, killed when its handle drops (the Python
//! worker's heartbeat is a separate process).
//!
//! The scripts stub one SDK dependency, py-cpuinfo: it only names the CPU for `--rp_debugger`
//! output, and finding out costs a second interpreter start per process.

mod batch;
mod client;
mod lb_http;
mod openai;
mod our_worker;
mod startup;
mod worker;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use runpod::serverless::{Endpoint, JobHandle};
use runpod_local::{RunningServer, Server, ServerBuilder};
use serde_json::Value;
use tempfile::TempDir;

use crate::support;

/// The key runpod-local requires in these tests: Bearer from the client, raw from the worker.
pub(crate) const KEY: &str = "interop-key";

/// A server requiring [`KEY`], with a short hold so that stopping Python workers is quick.
pub(crate) fn server() -> ServerBuilder {
    Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_secs(2))
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/python/scripts")
        .join(name)
}

/// The checked interpreter (once per test binary).
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

/// Prints the SDK's version, with py-cpuinfo stubbed as the scripts do (see `client.py`).
const VERSION_CHECK: &str = "import sys, types; \
    sys.modules['cpuinfo'] = types.SimpleNamespace(get_cpu_info=lambda: {'brand_raw': 'stub'}); \
    import runpod; print(runpod.__version__)";

fn find_python() -> Result<PathBuf, String> {
    let (path, origin) = match std::env::var_os("RUNPOD_PYTHON") {
        Some(path) => (PathBuf::from(path), "RUNPOD_PYTHON"),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
            "the workspace's .venv",
        ),
    };
    let help = "the python-interop tests need Python with the official SDK: set RUNPOD_PYTHON, or run \
                `python3 -m venv .venv && .venv/bin/pip install runpod==1.12.0 openai==3.63.0` at the workspace root";
    let home = TempDir::new().map_err(|e| e.to_string())?;
    let output = Command::new(&path)
        .args(["-c", VERSION_CHECK])
        .env("HOME", home.path())
        .output()
        .map_err(|e| format!("cannot run {} (from {origin}): {e}; {help}", path.display()))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || version != "1.12.0" {
        return Err(format!(
            "{} (from {origin}) has runpod {version:?}, not 1.12.0 ({}); {help}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(path)
}

/// A Python process in its own process group, with stdout and stderr in a log file.
pub(crate) struct Process {
    child: Child,
    name: String,
    log: PathBuf,
    /// HOME, control files and the log; removed after the process is gone.
    dir: TempDir,
}

impl Process {
    /// Starts `python <script> <args…>` with `env` on top of the parent's environment minus every
    /// `RUNPOD_*` variable (those change the SDK's behaviour), and a fresh HOME so that no
    /// `~/.runpod/config.toml` overrides the key.
    fn spawn(script_name: &str, args: &[&str], env: Vec<(String, String)>) -> Self {
        let mut command = Command::new(python());
        command
            .arg(script(script_name))
            .args(args)
            .env("PYTHONUNBUFFERED", "1");
        Self::start(command, format!("{script_name} {}", args.join(" ")), env)
    }

    /// Starts `command` as [`spawn`](Self::spawn) does: scrubbed `RUNPOD_*`, fresh HOME,
    /// `TEST_CONTROL_DIR`, output in the log, own process group.
    pub(crate) fn start(mut command: Command, name: String, env: Vec<(String, String)>) -> Self {
        let dir = TempDir::new().unwrap();
        let log = dir.path().join("output.log");
        let file = File::create(&log).unwrap();
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("RUNPOD_") {
                command.env_remove(name);
            }
        }
        command
            .env("HOME", dir.path())
            .env("TEST_CONTROL_DIR", dir.path())
            .envs(env);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().unwrap();
        Self {
            child,
            name,
            log,
            dir,
        }
    }

    /// Whether the process has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Everything the process printed so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit by itself; `None` when `limit` passes first.
    pub(crate) async fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            // std's Child offers no exit notification; a short poll of its state stands in.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the log contains `needle`, and returns the log.
    pub(crate) async fn wait_for_log(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) before logging {needle:?}:\n{log}",
                    self.name
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never logged {needle:?}:\n{log}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates `TEST_CONTROL_DIR/<name>`, releasing a handler that waits for it.
    pub(crate) fn release(&self, name: &str) {
        std::fs::write(self.dir.path().join(name), b"").unwrap();
    }

    /// Kills the whole process group at once (SIGKILL: no goodbye to the server).
    pub(crate) fn kill(&mut self) {
        #[cfg(unix)]
        {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs one operation of `client.py` against `server`'s `endpoint` and returns its `RESULT` JSON.
pub(crate) async fn run_client(server: &RunningServer, endpoint: &str, op: &str) -> Value {
    run_client_at(&server.serverless_base_url(), endpoint, op, &[]).await
}

/// Runs one operation of `client.py` against `endpoint` of the queue API at `base_url`, with
/// `extra` variables for the script, and returns its `RESULT` JSON.
pub(crate) async fn run_client_at(
    base_url: &str,
    endpoint: &str,
    op: &str,
    extra: &[(&str, String)],
) -> Value {
    let mut env = vec![
        ("RUNPOD_ENDPOINT_BASE_URL".to_owned(), base_url.to_owned()),
        ("TEST_API_KEY".to_owned(), KEY.to_owned()),
        ("TEST_ENDPOINT".to_owned(), endpoint.to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let mut process = Process::spawn("client.py", &[op], env);
    let status = process.wait(Duration::from_secs(120)).await;
    let log = process.log();
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("client.py {op} failed ({status}):\n{log}"),
        None => panic!("client.py {op} did not finish:\n{log}"),
    }
    let result = log
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("client.py {op} printed no RESULT:\n{log}"));
    serde_json::from_str(result).unwrap()
}

/// Starts `worker.py <kind>`: the official worker serving `endpoint` as `worker_id`.
pub(crate) fn start_worker(
    server: &RunningServer,
    endpoint: &str,
    worker_id: &str,
    kind: &str,
) -> Process {
    let mut env = server.worker_env(endpoint, worker_id);
    env.extend(
        [
            ("RUNPOD_SKIP_GPU_CHECK", "true"),
            ("RUNPOD_SKIP_AUTO_SYSTEM_CHECKS", "true"),
            ("RUNPOD_LOG_LEVEL", "INFO"),
            ("RUNPOD_PING_INTERVAL", "1000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    Process::spawn("worker.py", &[kind], env)
}

/// Our client (`runpod::ServerlessClient`, key [`KEY`]) on one endpoint: it drives the official
/// worker and checks what the official client did.
pub(crate) struct Driver {
    endpoint: Endpoint,
}

impl Driver {
    pub(crate) fn new(server: &RunningServer, endpoint: &str) -> Self {
        Self::at(&server.serverless_base_url(), endpoint)
    }

    /// On the queue API at `base_url` (`http://HOST:PORT/v2`).
    pub(crate) fn at(base_url: &str, endpoint: &str) -> Self {
        Self {
            endpoint: support::client_at(base_url, KEY).endpoint(endpoint),
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Queues a job (`/run`).
    pub(crate) async fn run(&self, input: Value) -> JobHandle {
        self.endpoint.run(input).send().await.unwrap()
    }

    /// A handle to an existing job.
    pub(crate) fn job(&self, id: &str) -> JobHandle {
        self.endpoint.job(id)
    }
}
