//! Worker processes: the `echo_worker` example binary, started with the `RUNPOD_WEBHOOK_*`
//! environment, killed with SIGKILL and replaced, stopped with SIGTERM at the end.

use std::fs::File;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// How to start a worker.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) binary: PathBuf,
    /// `RUNPOD_WEBHOOK_*` and friends, for a given worker id.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) concurrency: usize,
    pub(crate) log_dir: PathBuf,
}

/// One worker process.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    pub(crate) id: String,
    child: Child,
    pub(crate) log: PathBuf,
}

impl WorkerProcess {
    pub(crate) fn spawn(spec: &Spec, id: &str) -> std::io::Result<Self> {
        let log = spec.log_dir.join(format!("{id}.log"));
        let stderr = File::create(&log)?;
        let mut cmd = Command::new(&spec.binary);
        cmd.arg("--concurrency")
            .arg(spec.concurrency.to_string())
            .env_remove("RUST_LOG")
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUNPOD_POD_ID", id)
            // Faults make every route fail now and then; warnings are expected, errors are read.
            .env("RUNPOD_LOG_LEVEL", "WARN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd.spawn()?;
        Ok(Self {
            id: id.to_owned(),
            child,
            log,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no graceful shutdown, no final posts; held jobs stay with the server.
    pub(crate) async fn kill(mut self) -> std::io::Result<ExitStatus> {
        self.child.kill()?;
        tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .map_err(std::io::Error::other)?
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns the exit status and whether it had to be
    /// killed.
    pub(crate) async fn stop(mut self, grace: Duration) -> std::io::Result<(ExitStatus, bool)> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok((status, false));
            }
            if tokio::time::Instant::now() >= deadline {
                self.child.kill()?;
                let status = tokio::task::spawn_blocking(move || self.child.wait())
                    .await
                    .map_err(std::io::Error::other)??;
                return Ok((status, true));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `exit 0`, `signal 9`, …
pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "unknown".to_owned(),
    }
}

/// Lines of a worker log at ERROR level.
pub(crate) fn error_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("ERROR"))
        .map(str::to_owned)
        .collect()
}

/// The echo_worker example next to this binary: `target/release/examples/echo_worker`.
pub(crate) fn default_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.join("examples").join("echo_worker");
    candidate.exists().then_some(candidate)
}
