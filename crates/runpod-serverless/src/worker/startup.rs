//! Start-up: an async initializer whose value the handlers share, and fitness checks, all run
//! before the first job is taken.
//!
//! A worker that takes jobs before it can run them strands them: they sit `IN_PROGRESS` with a
//! worker that will never finish them, or time out. So nothing is taken until the initializer
//! (model loading is the common case) and every fitness check ("GPU visible", "disk space")
//! have succeeded, within `RUNPOD_INIT_TIMEOUT` (default 7 minutes, the platform's cold-start
//! limit). When one fails, panics or runs out of time, the worker reports itself unhealthy as
//! the Python worker 1.11+ does — `GET RUNPOD_WEBHOOK_PING?status=unhealthy&check=…&reason=…`
//! (reason cut to 256 characters) `&runpod_version=…` — and `run()` returns an error, so
//! [`start`](super::start) exits non-zero, having taken no job: the platform gives the queued
//! jobs to a healthy worker.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use runpod_transport::{Error, HttpClient, Method, Report, Result, RetryPolicy};
use tokio::time::Instant;

use super::env::WorkerEnv;
use super::report::RUNPOD_VERSION;
use super::runtime::WorkerBuilder;
use super::urls::append_query;

/// Default of `RUNPOD_INIT_TIMEOUT`: the platform marks a worker unhealthy when its cold start
/// passes 7 minutes.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(7 * 60);

/// Longest `reason` sent with an unhealthy report (the Python worker's limit).
const MAX_REASON_CHARS: usize = 256;

/// The check name an initializer failure is reported under.
const INIT_CHECK: &str = "initializer";

/// A value built once at start-up by the worker's initializer and shared by every job (a loaded
/// model, a connection pool). Clone it into the handler; [`get`](Self::get) it in a job.
///
/// ```no_run
/// # use runpod_serverless::__runpod as runpod;
/// use runpod::serverless::worker::{self, Job, Shared, Worker};
///
/// struct Model { name: String }
///
/// fn main() -> std::process::ExitCode {
///     let model = Shared::<Model>::new();
///     let handler_model = model.clone();
///     let builder = Worker::builder(move |job: Job<String>| {
///         let model = handler_model.clone();
///         async move { Ok::<_, String>(format!("{} says {}", model.get().name, job.input())) }
///     })
///     .with_initializer(&model, || async {
///         // e.g. download and load the weights
///         Ok::<_, String>(Model { name: "tiny".into() })
///     })
///     .with_fitness_check("disk space", || async { Ok::<_, String>(()) });
///     worker::start_with(builder)
/// }
/// ```
pub struct Shared<T>(Arc<OnceLock<T>>);

impl<T> Shared<T> {
    /// An empty cell, filled by [`WorkerBuilder::with_initializer`].
    pub fn new() -> Self {
        Self(Arc::new(OnceLock::new()))
    }

    /// The initialized value.
    ///
    /// # Panics
    ///
    /// When the initializer has not run. It always has inside a job of a worker built with
    /// [`WorkerBuilder::with_initializer`] for this cell: no job is taken before it succeeds.
    pub fn get(&self) -> &T {
        match self.0.get() {
            Some(value) => value,
            None => panic!(
                "worker::Shared::get before the initializer ran: pass this cell to \
                 WorkerBuilder::with_initializer"
            ),
        }
    }

    /// The value, or `None` before the initializer ran.
    pub fn try_get(&self) -> Option<&T> {
        self.0.get()
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("initialized", &self.0.get().is_some())
            .finish()
    }
}

type Step = Box<dyn FnOnce() -> BoxFuture<'static, std::result::Result<(), String>> + Send>;

/// What runs before the first take: the initializer, then the fitness checks, in order.
#[derive(Default)]
pub(crate) struct Startup {
    steps: Vec<(String, Step)>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Startup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.steps.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Startup")
            .field("steps", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WorkerBuilder {
    /// Runs `init` once at start-up, before any job is taken, and puts its value in `cell` for
    /// the handlers ([`Shared::get`]). It runs under `RUNPOD_INIT_TIMEOUT` (seconds; default 7
    /// minutes) together with the fitness checks; if it fails, panics or runs out of time, the
    /// worker reports itself unhealthy (check `initializer`) and `run()` fails with
    /// [`is_unexpected_state`](Error::is_unexpected_state), having taken no job. Also runs before
    /// `--test_input` and `--rp_serve_api` jobs (without the report).
    pub fn with_initializer<T, F, Fut, E>(mut self, cell: &Shared<T>, init: F) -> Self
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: fmt::Display,
    {
        let cell = cell.clone();
        let step: Step = Box::new(move || {
            async move {
                let value = init().await.map_err(|e| e.to_string())?;
                // A second initializer for the same cell keeps the first value.
                let _ = cell.0.set(value);
                Ok(())
            }
            .boxed()
        });
        // The initializer runs first, whatever order the builder calls came in.
        let at = self
            .startup
            .steps
            .iter()
            .take_while(|(name, _)| name == INIT_CHECK)
            .count();
        self.startup.steps.insert(at, (INIT_CHECK.to_owned(), step));
        self
    }

    /// A fitness check run at start-up after the initializer, before any job is taken ("GPU
    /// visible", "disk space"). A failure (or panic, or running out of `RUNPOD_INIT_TIMEOUT`) is
    /// reported as `status=unhealthy&check=<name>&reason=<error>` and the worker stops without
    /// taking a job.
    pub fn with_fitness_check<F, Fut, E>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let step: Step =
            Box::new(move || async move { check().await.map_err(|e| e.to_string()) }.boxed());
        self.startup.steps.push((name.into(), step));
        self
    }

    /// How long the initializer and the fitness checks may take together, instead of
    /// `RUNPOD_INIT_TIMEOUT` (default [`DEFAULT_INIT_TIMEOUT`]).
    pub fn with_init_timeout(mut self, timeout: Duration) -> Self {
        self.startup.timeout = Some(timeout);
        self
    }
}

impl Startup {
    /// Runs every step; on the first failure reports it (when `report`) and fails.
    pub(crate) async fn run(self, env: &WorkerEnv, report: bool) -> Result<()> {
        if self.steps.is_empty() {
            return Ok(());
        }
        let timeout = self
            .timeout
            .or(env.init_timeout)
            .unwrap_or(DEFAULT_INIT_TIMEOUT);
        let deadline = Instant::now() + timeout;
        let started = Instant::now();
        for (name, step) in self.steps {
            let outcome =
                tokio::time::timeout_at(deadline, AssertUnwindSafe(step()).catch_unwind()).await;
            let reason = match outcome {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(reason))) => reason,
                Ok(Err(panic)) => format!("panicked: {}", panic_message(panic.as_ref())),
                Err(_) => format!(
                    "did not finish within the start-up limit of {:?} (RUNPOD_INIT_TIMEOUT)",
                    timeout
                ),
            };
            let reason = clip(&reason);
            tracing::error!(
                check = %name,
                reason = %reason,
                "start-up failed: the worker takes no job and stops"
            );
            if report {
                report_unhealthy(env, &name, &reason).await;
            }
            return Err(Error::unexpected_state(
                "worker",
                env.worker_id(),
                "UNHEALTHY",
            ));
        }
        tracing::info!(elapsed = ?started.elapsed(), "start-up done");
        Ok(())
    }
}

/// `reason` cut to [`MAX_REASON_CHARS`] characters.
fn clip(reason: &str) -> String {
    reason.chars().take(MAX_REASON_CHARS).collect()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// The unhealthy report's URL: the ping template with `status`, `check`, `reason` and
/// `runpod_version`.
pub(crate) fn unhealthy_url(env: &WorkerEnv, check: &str, reason: &str) -> Option<String> {
    let mut url = env.urls().ping(&[], RUNPOD_VERSION)?;
    append_query(&mut url, "status", "unhealthy");
    append_query(&mut url, "check", check);
    append_query(&mut url, "reason", reason);
    Some(url)
}

/// Sends the unhealthy report: a few tries within ten seconds, then gives up (the worker exits
/// either way, and a heartbeat that stops tells the platform too).
async fn report_unhealthy(env: &WorkerEnv, check: &str, reason: &str) {
    let Some(url) = unhealthy_url(env, check, reason) else {
        tracing::warn!("RUNPOD_WEBHOOK_PING is not set: the failed start-up is not reported");
        return;
    };
    // The default policy: a GET is retried on transient failures, three attempts in all.
    let config = env.client_config().and_then(|config| {
        config
            .with_retry_policy(RetryPolicy::default())
            .with_operation_timeout(Some(Duration::from_secs(10)))
            .with_user_agent_suffix("worker")
            .build()
    });
    let client = match config.and_then(HttpClient::new) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %Report(&e), "cannot report the failed start-up");
            return;
        }
    };
    let sent = client.request(Method::GET, url).send().await;
    match sent {
        Ok(_) => tracing::info!(check, "reported unhealthy to the platform"),
        Err(e) => tracing::warn!(error = %Report(&e), "the unhealthy report failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_url_carries_check_reason_and_version() {
        let env = WorkerEnv::from_vars([
            ("RUNPOD_WEBHOOK_GET_JOB", "http://h/v2/ep/job-take/$ID"),
            (
                "RUNPOD_WEBHOOK_PING",
                "http://h/v2/ep/ping/$RUNPOD_POD_ID?gpu=X",
            ),
            ("RUNPOD_POD_ID", "w1"),
        ]);
        let url = unhealthy_url(&env, "GPU visible", "no device: /dev/nvidia0 & co").unwrap();
        assert_eq!(
            url,
            format!(
                "http://h/v2/ep/ping/w1?gpu=X&runpod_version={RUNPOD_VERSION}&status=unhealthy\
                 &check=GPU%20visible&reason=no%20device%3A%20%2Fdev%2Fnvidia0%20%26%20co"
            )
        );
        assert_eq!(clip(&"é".repeat(300)).chars().count(), 256);
    }

    #[test]
    fn runpod_init_timeout_is_read_in_seconds() {
        let env = WorkerEnv::from_vars([("RUNPOD_INIT_TIMEOUT", "800")]);
        assert_eq!(env.init_timeout, Some(Duration::from_secs(800)));
        let env = WorkerEnv::from_vars([("RUNPOD_INIT_TIMEOUT", "soon")]);
        assert_eq!(env.init_timeout, None);
    }
}
