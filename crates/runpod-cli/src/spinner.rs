//! A one-line spinner on stderr while a job runs: what is waited for, its last known status and
//! the time spent. Only on a terminal; otherwise it does nothing.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK: Duration = Duration::from_millis(100);

/// A running spinner. [`Spinner::stop`] erases it; dropping it stops it too.
#[derive(Debug)]
pub(crate) struct Spinner {
    status: Option<watch::Sender<String>>,
    task: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts a spinner labelled `label` when stderr is a terminal.
    pub(crate) fn start(label: String) -> Self {
        if !enabled() {
            return Self {
                status: None,
                task: None,
            };
        }
        let (tx, rx) = watch::channel(String::new());
        let task = tokio::spawn(spin(label, rx));
        Self {
            status: Some(tx),
            task: Some(task),
        }
    }

    /// Whether anything is shown (callers skip the status polling otherwise).
    pub(crate) fn is_shown(&self) -> bool {
        self.task.is_some()
    }

    /// Shows `status` next to the label.
    pub(crate) fn set_status(&self, status: &str) {
        if let Some(tx) = &self.status {
            tx.send_if_modified(|current| {
                if current == status {
                    return false;
                }
                status.clone_into(current);
                true
            });
        }
    }

    /// Erases the spinner and waits until it is gone, so nothing is printed over it.
    pub(crate) async fn stop(mut self) {
        self.status = None;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            clear();
        }
    }
}

fn enabled() -> bool {
    std::io::stderr().is_terminal() && !std::env::var("TERM").is_ok_and(|t| t == "dumb")
}

async fn spin(label: String, mut status: watch::Receiver<String>) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(TICK);
    let mut frame = 0usize;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let current = status.borrow().clone();
        let shown = if current.is_empty() {
            format!("{} {label} {elapsed:.1}s", FRAMES[frame % FRAMES.len()])
        } else {
            format!(
                "{} {label} {current} {elapsed:.1}s",
                FRAMES[frame % FRAMES.len()]
            )
        };
        frame += 1;
        let _ = write!(std::io::stderr(), "\r\x1b[2K{shown}");
        let _ = std::io::stderr().flush();
    }
    clear();
}

fn clear() {
    let _ = write!(std::io::stderr(), "\r\x1b[2K");
    let _ = std::io::stderr().flush();
}
