//! Load-balancing workers that runpod-local starts itself, from a command with `PORT` set
//! (`--lb-spawn`, [`ServerBuilder::lb_spawn`](crate::ServerBuilder::lb_spawn)); see [`LbSpawn`].

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::process::{ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{DEFAULT_HEALTH_PATH, Gateway, Health, LbWorker, Slot, check_endpoint_id};
use crate::faults::ParseError;

/// How long a spawned worker has to stop after SIGTERM before its process group is killed.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);

/// A load-balancing worker runpod-local starts from a command.
///
/// `--lb-spawn 'ENDPOINT[,health=PATH][,health-port][,id=ID]=COMMAND'` (or
/// [`ServerBuilder::lb_spawn`](crate::ServerBuilder::lb_spawn)): before serving, runpod-local
/// picks a free port and runs `COMMAND` through `sh -c` in a process group of its own, with the
/// environment Runpod gives a load-balancing worker:
///
/// - `PORT`: the port to serve on (bound on 0.0.0.0 or 127.0.0.1; the gateway calls
///   `http://127.0.0.1:PORT`);
/// - `PORT_HEALTH`: a second free port, only with `health-port` (otherwise removed, so the
///   health route is on `PORT`);
/// - `HEALTH_CHECK_PATH`: only with `health=PATH` (otherwise removed: the worker's default,
///   `/ping`);
/// - `RUNPOD_POD_ID`: the worker id the gateway answers in `X-Runpod-Worker-Id`;
///   `RUNPOD_ENDPOINT_ID`: the endpoint.
///
/// The options end at the first `=` that does not belong to `health=` or `id=`, so the command
/// may hold any character. The worker is then registered like any `--lb` worker and its health
/// route polled with the same rules (204 initializing, 200 healthy), except that while its
/// process runs and has not answered yet (still starting, not listening) it counts as
/// initializing rather than unhealthy. Its stdout goes to runpod-local's stderr (stdout carries
/// runpod-local's own `export` lines); its stderr is runpod-local's. When it exits, that is
/// logged and the worker stays unhealthy (it is not restarted). When runpod-local stops, the
/// process group gets SIGTERM, and SIGKILL 10 s later or as soon as the command has exited (for
/// anything it left running); [`RunningServer::shutdown`](crate::RunningServer::shutdown)
/// returns only after that.
///
/// The port is free when picked and handed over a moment later, so another program could take
/// it in between; the worker then fails to bind and exits, which is logged.
///
/// ```
/// let spawn: runpod_local::LbSpawn = "my-lb,health=/healthz=python app.py --fast".parse().unwrap();
/// assert_eq!(spawn.endpoint_id(), "my-lb");
/// assert_eq!(spawn.command(), "python app.py --fast");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbSpawn {
    endpoint_id: String,
    command: String,
    health: Option<String>,
    health_port: bool,
    id: Option<String>,
}

impl LbSpawn {
    /// A worker of `endpoint_id` started by `command` (run by `sh -c`, so quoting, variables
    /// and `exec` work as in a shell).
    pub fn new(endpoint_id: impl Into<String>, command: impl Into<String>) -> Self {
        Self {
            endpoint_id: endpoint_id.into(),
            command: command.into(),
            health: None,
            health_port: false,
            id: None,
        }
    }

    /// The health route's path, passed as `HEALTH_CHECK_PATH` (default: the worker's, `/ping`).
    #[must_use]
    pub fn health(mut self, path: impl Into<String>) -> Self {
        self.health = Some(path.into());
        self
    }

    /// Serve health on a port of its own, passed as `PORT_HEALTH` (default: on `PORT`).
    #[must_use]
    pub fn separate_health_port(mut self) -> Self {
        self.health_port = true;
        self
    }

    /// The worker id (default as for [`LbWorker::id`]), also passed as `RUNPOD_POD_ID`.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The endpoint this worker serves.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// The command that starts it.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Picks its ports and describes it as a worker at `http://127.0.0.1:PORT`.
    pub(crate) fn prepare(&self) -> io::Result<LbWorker> {
        let port = free_port()?;
        let health_port = if self.health_port {
            Some(free_port()?)
        } else {
            None
        };
        let mut worker = LbWorker::new(&self.endpoint_id, format!("http://127.0.0.1:{port}"));
        if let Some(hp) = health_port {
            let path = self.health.as_deref().unwrap_or(DEFAULT_HEALTH_PATH);
            worker = worker.health(format!(
                "http://127.0.0.1:{hp}/{}",
                path.trim_start_matches('/')
            ));
        } else if let Some(path) = &self.health {
            worker = worker.health(path.clone());
        }
        if let Some(id) = &self.id {
            worker = worker.id(id.clone());
        }
        worker.launch = Some(Launch {
            command: self.command.clone(),
            port,
            health_port,
            health_path: self.health.clone(),
        });
        Ok(worker)
    }
}

impl FromStr for LbSpawn {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ParseError(format!("invalid spawned worker `{s}`: {why}"));
        let head_end = s
            .find([',', '='])
            .ok_or_else(|| bad("expected ENDPOINT=COMMAND"))?;
        let endpoint_id = &s[..head_end];
        check_endpoint_id(endpoint_id).map_err(&bad)?;
        let (mut health, mut health_port, mut id) = (None, false, None);
        let mut rest = &s[head_end..];
        let command = loop {
            if let Some(command) = rest.strip_prefix('=') {
                break command;
            }
            // `rest` starts with `,`: one option.
            let option = &rest[1..];
            let name_end = option.find([',', '=']).unwrap_or(option.len());
            let (name, after) = option.split_at(name_end);
            rest = match name {
                "health-port" => {
                    health_port = true;
                    after
                }
                "health" | "id" => {
                    let value = after
                        .strip_prefix('=')
                        .ok_or_else(|| bad(&format!("`{name}` needs a value")))?;
                    let value_end = value.find([',', '=']).unwrap_or(value.len());
                    let (value, after) = value.split_at(value_end);
                    if value.is_empty() {
                        return Err(bad(&format!("`{name}` needs a value")));
                    }
                    if name == "health" {
                        health = Some(value.to_owned());
                    } else {
                        id = Some(value.to_owned());
                    }
                    after
                }
                _ => {
                    return Err(bad(&format!(
                        "unknown option `{name}` (health=, health-port, id=)"
                    )));
                }
            };
            if rest.is_empty() {
                return Err(bad("expected `=COMMAND` after the options"));
            }
        };
        if command.trim().is_empty() {
            return Err(bad("the command is empty"));
        }
        Ok(Self {
            endpoint_id: endpoint_id.to_owned(),
            command: command.to_owned(),
            health,
            health_port,
            id,
        })
    }
}

/// How a spawned worker is started: its command and the ports picked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch {
    command: String,
    port: u16,
    health_port: Option<u16>,
    health_path: Option<String>,
}

/// A spawned worker's process, as the health poller needs to know it.
#[derive(Debug)]
pub(crate) struct Process {
    launch: Launch,
    running: AtomicBool,
    answered: AtomicBool,
}

impl Process {
    pub(crate) fn new(launch: Launch) -> Self {
        Self {
            launch,
            // Started before the pollers read its health (or the server does not start).
            running: AtomicBool::new(true),
            answered: AtomicBool::new(false),
        }
    }

    /// Running, and not yet answering its health route: still starting.
    pub(crate) fn is_starting(&self) -> bool {
        self.running.load(Ordering::Acquire) && !self.answered.load(Ordering::Acquire)
    }

    pub(crate) fn answered(&self) {
        self.answered.store(true, Ordering::Release);
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts the process of every spawned worker and a task that watches it and stops it with
/// `shutdown`. On an error, the processes already started stop when `shutdown` is cancelled.
pub(crate) fn start(
    gateway: &Arc<Gateway>,
    shutdown: &CancellationToken,
) -> io::Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for (endpoint_id, slots) in &gateway.endpoints {
        for slot in slots {
            let Some(process) = &slot.process else {
                continue;
            };
            let child = spawn(endpoint_id, &slot.id, &process.launch).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start load-balancing worker `{}`: {e}",
                        process.launch.command
                    ),
                )
            })?;
            tracing::info!(
                endpoint_id,
                worker_id = %slot.id,
                pid = child.id(),
                port = process.launch.port,
                command = %process.launch.command,
                "lb worker process started"
            );
            tasks.push(tokio::spawn(supervise(
                gateway.clone(),
                endpoint_id.clone(),
                slot.clone(),
                child,
                shutdown.clone(),
            )));
        }
    }
    Ok(tasks)
}

fn spawn(endpoint_id: &str, worker_id: &str, launch: &Launch) -> io::Result<Child> {
    #[cfg(unix)]
    let mut command = {
        let mut command = Command::new("sh");
        command.arg("-c").arg(&launch.command);
        // Its own group, so that stopping it reaches whatever it started.
        command.process_group(0);
        command
    };
    #[cfg(not(unix))]
    let mut command = {
        let mut command = Command::new("cmd");
        command.arg("/C").arg(&launch.command);
        command
    };
    command
        .env("PORT", launch.port.to_string())
        .env("RUNPOD_POD_ID", worker_id)
        .env("RUNPOD_ENDPOINT_ID", endpoint_id);
    match launch.health_port {
        Some(port) => command.env("PORT_HEALTH", port.to_string()),
        None => command.env_remove("PORT_HEALTH"),
    };
    match &launch.health_path {
        Some(path) => command.env("HEALTH_CHECK_PATH", path),
        None => command.env_remove("HEALTH_CHECK_PATH"),
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        // If the runtime goes away without a shutdown, at least the command itself goes too.
        .kill_on_drop(true)
        .spawn()
}

/// Watches one spawned worker: logs its exit, and stops its process group with `shutdown`.
async fn supervise(
    gateway: Arc<Gateway>,
    endpoint_id: String,
    slot: Arc<Slot>,
    mut child: Child,
    shutdown: CancellationToken,
) {
    let pid = child.id();
    let worker_id = slot.id.as_str();
    let exited = tokio::select! {
        status = child.wait() => Some(status),
        () = shutdown.cancelled() => None,
    };
    if let Some(status) = exited {
        if let Some(process) = &slot.process {
            process.running.store(false, Ordering::Release);
        }
        let detail = Exit(&status).to_string();
        tracing::warn!(endpoint_id, worker_id, %detail, "lb worker process exited");
        gateway.set_health(&endpoint_id, &slot, Health::Unhealthy, &detail);
        shutdown.cancelled().await;
        // What it left running in its group goes with the server.
        signal_group(pid, Stop::Kill);
        return;
    }
    if !signal_group(pid, Stop::Term) {
        terminate_alone(&mut child);
    }
    let status = match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(endpoint_id, worker_id, grace = ?STOP_GRACE, "lb worker process ignored SIGTERM; killing it");
            signal_group(pid, Stop::Kill);
            // In case it left its group (setsid): the process itself.
            let _ = child.start_kill();
            child.wait().await
        }
    };
    // What is left of its group (the command has exited and been reaped; the group id stays
    // taken while any member lives, so this reaches no other process).
    signal_group(pid, Stop::Kill);
    tracing::info!(endpoint_id, worker_id, status = %Exit(&status), "lb worker process stopped");
}

enum Stop {
    Term,
    Kill,
}

/// Signals the process group led by `pid`; false when the group is empty (and off unix).
fn signal_group(pid: Option<u32>, stop: Stop) -> bool {
    #[cfg(unix)]
    {
        use rustix::process::{Pid, Signal, kill_process_group};
        let Some(pid) = pid
            .and_then(|p| i32::try_from(p).ok())
            .and_then(Pid::from_raw)
        else {
            return false;
        };
        let signal = match stop {
            Stop::Term => Signal::TERM,
            Stop::Kill => Signal::KILL,
        };
        // ESRCH: nothing left in the group.
        kill_process_group(pid, signal).is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = (pid, stop);
        false
    }
}

/// Stops the command itself when its group is empty (it left it with `setsid`): SIGTERM on
/// unix, only while `child` is not reaped so that its pid cannot name another process; off
/// unix, there are no groups and no SIGTERM, so it is killed.
fn terminate_alone(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    #[cfg(not(unix))]
    let _ = child.start_kill();
}

/// An exit status, or why it could not be read, as logged.
struct Exit<'a>(&'a io::Result<ExitStatus>);

impl fmt::Display for Exit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(status) => write!(f, "{status}"),
            Err(error) => write!(f, "exit status unknown: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_their_options_and_keep_the_command_whole() {
        let spawn: LbSpawn = "ep=./worker --flag=x,y".parse().unwrap();
        assert_eq!(spawn, LbSpawn::new("ep", "./worker --flag=x,y"));
        let spawn: LbSpawn = "ep,health=/up,health-port,id=w9=sh -c 'exec w=1'"
            .parse()
            .unwrap();
        assert_eq!(
            spawn,
            LbSpawn::new("ep", "sh -c 'exec w=1'")
                .health("/up")
                .separate_health_port()
                .id("w9")
        );
        let spawn: LbSpawn = "ep,health-port=cmd".parse().unwrap();
        assert_eq!(spawn, LbSpawn::new("ep", "cmd").separate_health_port());
        for bad in [
            "ep",
            "=cmd",
            "ep=",
            "ep=  ",
            "a/b=cmd",
            "ep,color=red=cmd",
            "ep,health=cmd",
            "ep,health==cmd",
            "ep,id",
            "ep,health-port",
        ] {
            assert!(bad.parse::<LbSpawn>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prepared_workers_reach_the_picked_ports() {
        let worker = LbSpawn::new("ep", "true").id("w").prepare().unwrap();
        let launch = worker.launch.clone().unwrap();
        assert_eq!(worker.url(), format!("http://127.0.0.1:{}", launch.port));
        assert_eq!(worker.health_url(), format!("{}/ping", worker.url()));
        assert_eq!(worker.id.as_deref(), Some("w"));

        let worker = LbSpawn::new("ep", "true")
            .health("healthz")
            .separate_health_port()
            .prepare()
            .unwrap();
        let launch = worker.launch.clone().unwrap();
        let hp = launch.health_port.unwrap();
        assert_eq!(
            worker.health_url(),
            format!("http://127.0.0.1:{hp}/healthz")
        );
        assert_eq!(launch.health_path.as_deref(), Some("healthz"));
    }
}
