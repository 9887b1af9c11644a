//! Child processes: the server (`runpod-bench serve`), measured clients and workers, and where
//! their programs are found.

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::Result;

/// The workspace root (the bench crate lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

/// The Python interpreter with `runpod==1.12.0`: `RUNPOD_PYTHON`, else `.venv/bin/python`.
/// `None` when neither exists.
pub(crate) fn python(flag: Option<&Path>) -> Option<PathBuf> {
    let candidate = flag
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("RUNPOD_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    candidate.exists().then_some(candidate)
}

/// A script under `bench/python/`.
pub(crate) fn python_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// This binary, to start its hidden subcommands as separate processes.
pub(crate) fn this_exe() -> Result<PathBuf> {
    Ok(std::env::current_exe()?)
}

/// Runs `cmd` to completion (bounded by `limit`) and decodes the last stdout line as JSON.
pub(crate) async fn run_json<T: for<'de> Deserialize<'de> + Send + 'static>(
    mut cmd: Command,
    limit: Duration,
) -> Result<T> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.process_group(0);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        BufReader::new(stdout)
            .read_to_string(&mut text)
            .map(|_| text)
    });
    let text = match tokio::time::timeout(limit, reader).await {
        Ok(joined) => joined??,
        Err(_) => {
            signal_group(pid, "KILL");
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
            return Err(format!("child {pid} did not finish within {limit:?}").into());
        }
    };
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    if !status.success() {
        return Err(format!("child exited with {status}").into());
    }
    let last = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("child printed no JSON result; stdout was: {}", text.trim()))?;
    Ok(serde_json::from_str(last)?)
}

/// Sends `SIGNAL` to the process group `pgid` (our own children only; each is the leader of its
/// group). Through `kill(1)` because std has no signal API.
pub(crate) fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A process started in its own process group and stopped with it (SIGTERM, then SIGKILL).
#[derive(Debug)]
pub(crate) struct Group {
    child: Option<Child>,
    pid: u32,
}

impl Group {
    pub(crate) fn spawn(mut cmd: Command) -> Result<Self> {
        cmd.process_group(0);
        let child = cmd.spawn()?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// SIGTERM to the group, SIGKILL after `grace`; waits for the leader.
    pub(crate) async fn stop(mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal_group(self.pid, "TERM");
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    signal_group(self.pid, "KILL");
                    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
                    break;
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        // Descendants (the Python heartbeat process) share the group; make sure none outlives us.
        signal_group(self.pid, "KILL");
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(self.pid, "KILL");
            let _ = child.wait();
        }
    }
}

/// What `runpod-bench serve` prints first.
#[derive(Debug, Deserialize)]
struct Hello {
    base_url: String,
    worker_env: Vec<(String, String)>,
}

/// What `runpod-bench serve` prints when its stdin closes.
#[derive(Debug, Deserialize)]
struct Goodbye {
    peak_rss_kib: Option<u64>,
}

/// `runpod-local` in its own process (`runpod-bench serve`), so that the server's CPU and memory
/// are not the measured process's. It stops when its stdin closes, so it never outlives the bench.
#[derive(Debug)]
pub(crate) struct ServerProc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    base_url: String,
    worker_env: Vec<(String, String)>,
}

/// Placeholders in the worker environment `serve` prints, replaced per endpoint and worker.
pub(crate) const EP_PLACEHOLDER: &str = "__BENCH_ENDPOINT__";
pub(crate) const WORKER_PLACEHOLDER: &str = "__BENCH_WORKER__";

impl ServerProc {
    /// `hold`: long-poll hold; `retention`: how long finished jobs stay readable (they count in
    /// `/health` as long); `echo`: answer every job in the server, after this long.
    pub(crate) async fn start(
        api_key: &str,
        hold: Duration,
        retention: Duration,
        echo: Option<Duration>,
    ) -> Result<Self> {
        Self::start_with(api_key, hold, retention, echo, &[]).await
    }

    /// A server whose in-process handler takes `work` and stamps its output with the time it
    /// ended (`bench wait`).
    /// With `runpod_limits`, it answers 429 beyond Runpod's documented rate limits.
    pub(crate) async fn start_stamped(
        api_key: &str,
        work: Duration,
        runpod_limits: bool,
    ) -> Result<Self> {
        let (hold, retention) = (Duration::from_secs(1), Duration::from_secs(1_800));
        // A client with N jobs in flight can hold more than N connections for a moment: a
        // task's next request may start before its last connection is back in the pool. At
        // runpod-local's default cap (1 024) the 1 024-in-flight rows then met its by-hand 503
        // on new connections, which measured the cap, not waiting.
        let connections = ["--connections", "8192"];
        let extra: &[&str] = if runpod_limits {
            &["--stamp", "--runpod-limits", connections[0], connections[1]]
        } else {
            &["--stamp", connections[0], connections[1]]
        };
        Self::start_with(api_key, hold, retention, Some(work), extra).await
    }

    /// [`start`](Self::start) with more `serve` flags (`--no-limits`, `--stamp`).
    pub(crate) async fn start_with(
        api_key: &str,
        hold: Duration,
        retention: Duration,
        echo: Option<Duration>,
        extra: &[&str],
    ) -> Result<Self> {
        let mut cmd = Command::new(this_exe()?);
        cmd.arg("serve").args(extra);
        if let Some(work) = echo {
            cmd.arg("--echo")
                .arg("--echo-work-ms")
                .arg(work.as_millis().to_string());
        }
        cmd.arg("--api-key")
            .arg(api_key)
            .arg("--hold-ms")
            .arg(hold.as_millis().to_string())
            .arg("--result-retention-ms")
            .arg(retention.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (stdout, line) = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line).map(|_| (reader, line))
        })
        .await??;
        let hello: Hello = serde_json::from_str(&line)
            .map_err(|e| format!("server did not start ({e}): {line:?}"))?;
        Ok(Self {
            child,
            stdin,
            stdout: Some(stdout),
            base_url: hello.base_url,
            worker_env: hello.worker_env,
        })
    }

    /// The server's process id (for its CPU time).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn addr(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }

    /// The `RUNPOD_WEBHOOK_*` environment runpod-local gives a worker, optionally pointed at
    /// another base URL (the cold-start probe in front of the server).
    pub(crate) fn worker_env(
        &self,
        endpoint: &str,
        worker: &str,
        via: Option<&str>,
    ) -> Vec<(String, String)> {
        self.worker_env
            .iter()
            .map(|(k, v)| {
                let mut v = v
                    .replace(EP_PLACEHOLDER, endpoint)
                    .replace(WORKER_PLACEHOLDER, worker);
                if let Some(via) = via {
                    v = v.replace(&self.base_url, via);
                }
                (k.clone(), v)
            })
            .collect()
    }

    /// Stops the server and returns its peak RSS (KiB).
    pub(crate) async fn stop(mut self) -> Option<u64> {
        drop(self.stdin.take());
        let stdout = self.stdout.take()?;
        let bye = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            let mut reader = stdout;
            reader.read_to_string(&mut text).ok()?;
            serde_json::from_str::<Goodbye>(text.trim()).ok()
        });
        let bye = tokio::time::timeout(Duration::from_secs(15), bye)
            .await
            .ok()?
            .ok()??;
        bye.peak_rss_kib
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
