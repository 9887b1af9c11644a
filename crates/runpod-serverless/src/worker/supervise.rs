//! Running one job: the handler in its own task, its deadlines and cancellation, then its result.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runpod_types::serverless::WorkerJob;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::handler::Runner;
use super::job::{JobContext, JobShared, StopReason};
use super::report::{Failure, Outcome, Reporter};
use super::sink::Sink;

/// The jobs a worker holds (taken and not yet reported), in the order they were taken.
/// Shared with the heartbeat thread, hence a std mutex held only for short, non-async sections.
#[derive(Clone, Default)]
pub(crate) struct JobTable(Arc<Mutex<Vec<Arc<JobShared>>>>);

impl JobTable {
    pub(crate) fn ids(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|t| t.iter().map(|j| j.id().to_owned()).collect())
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<JobShared>> {
        self.0.lock().ok()?.iter().find(|j| j.id() == id).cloned()
    }

    fn all(&self) -> Vec<Arc<JobShared>> {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// Everything the job tasks and the loops share.
pub(crate) struct Shared {
    pub(crate) runner: Runner,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) reporter: Reporter,
    pub(crate) jobs: JobTable,
    /// Number of held jobs; the take loop waits on it for free slots, shutdown for zero.
    pub(crate) held: watch::Sender<usize>,
    /// Cancelled to stop taking jobs (shutdown or refresh).
    pub(crate) stop_taking: CancellationToken,
    refresh_requested: AtomicBool,
    pub(crate) cancel_grace: Duration,
    pub(crate) max_result_bytes: usize,
}

impl Shared {
    pub(crate) fn new(
        runner: Runner,
        sink: Arc<dyn Sink>,
        reporter: Reporter,
        cancel_grace: Duration,
        max_result_bytes: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            runner,
            sink,
            reporter,
            jobs: JobTable::default(),
            held: watch::Sender::new(0),
            stop_taking: CancellationToken::new(),
            refresh_requested: AtomicBool::new(false),
            cancel_grace,
            max_result_bytes,
        })
    }

    pub(crate) fn held(&self) -> usize {
        *self.held.borrow()
    }

    pub(crate) fn refresh_requested(&self) -> bool {
        self.refresh_requested.load(Ordering::Relaxed)
    }

    /// Adds a job to the table; `None` if a job with that id is already held.
    pub(crate) fn register(&self, raw: WorkerJob) -> Option<Arc<JobShared>> {
        let job = JobShared::new(raw, self.sink.clone());
        let mut table = self.jobs.0.lock().ok()?;
        if table.iter().any(|j| j.id() == job.id()) {
            return None;
        }
        table.push(job.clone());
        self.held.send_replace(table.len());
        Some(job)
    }

    fn unregister(&self, id: &str) {
        if let Ok(mut table) = self.jobs.0.lock() {
            table.retain(|j| j.id() != id);
            self.held.send_replace(table.len());
        }
    }

    /// Cancels every held job (shutdown deadline); returns how many there were.
    pub(crate) fn cancel_all(&self, reason: StopReason) -> usize {
        let all = self.jobs.all();
        for j in &all {
            j.cancel(reason);
        }
        all.len()
    }

    /// Registers a job and runs it in its own task. `preset` fails it without running the
    /// handler (a job-take entry that could not be decoded).
    pub(crate) fn spawn(self: &Arc<Self>, raw: WorkerJob, preset: Option<Failure>) {
        let id = raw.id.clone();
        let batch_id = raw.batch_id.clone();
        let Some(job) = self.register(raw) else {
            tracing::warn!(job.id = %id, "job-take returned a job this worker already holds; ignoring the duplicate");
            return;
        };
        let span = tracing::info_span!("job", id = %id, batch_id = batch_id.as_deref());
        tokio::spawn(supervise(self.clone(), job, preset).instrument(span));
    }
}

/// Runs one job to the end and reports it; returns the outcome (`None`: stopped, nothing sent).
pub(crate) async fn supervise(
    shared: Arc<Shared>,
    job: Arc<JobShared>,
    preset: Option<Failure>,
) -> Option<Outcome> {
    let started = Instant::now();
    tracing::info!("job started");
    let outcome = match preset {
        Some(f) => Some(Outcome::Failed(f)),
        None => run_handler(&shared, &job).await,
    };
    let refresh = job.wants_refresh();
    let body = outcome.as_ref().map(|o| {
        shared
            .reporter
            .final_body(o, refresh, shared.max_result_bytes)
    });
    let is_stream = shared.runner.0.is_stream() || job.streamed();
    let delivered = job.finish(body, is_stream).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match &outcome {
        Some(Outcome::Output(_)) => tracing::info!(
            duration_ms,
            outcome = "completed",
            delivered,
            "job finished"
        ),
        Some(Outcome::Failed(f)) => tracing::warn!(
            duration_ms,
            outcome = "failed",
            delivered,
            error_type = %f.kind,
            error = %f.message,
            "job finished"
        ),
        None => tracing::info!(
            duration_ms,
            outcome = "stopped",
            "job finished; stopped jobs send no result"
        ),
    }
    if refresh {
        // Before the slot frees up, so the take loop never asks for a job in its place.
        tracing::info!("the handler asked for a worker refresh: no new jobs will be taken");
        shared.refresh_requested.store(true, Ordering::Relaxed);
        shared.stop_taking.cancel();
    }
    shared.unregister(job.id());
    outcome
}

async fn run_handler(shared: &Shared, job: &Arc<JobShared>) -> Option<Outcome> {
    let runner = shared.runner.clone();
    let ctx = JobContext { inner: job.clone() };
    // Its own task: a panic fails only this job, and the handler can be dropped on cancellation.
    let mut task =
        tokio::spawn(async move { runner.0.run(ctx).await }.instrument(tracing::Span::current()));
    let timeout = job
        .raw
        .policy
        .as_ref()
        .and_then(|p| p.execution_timeout)
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    let expired = async {
        match timeout {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        // A handler that returns because it saw its cancellation is ready in the same poll as
        // the cancellation: the stop must win, or a stopped job would post a result.
        biased;
        () = job.cancelled() => {}
        joined = &mut task => return Some(joined_outcome(joined)),
        () = expired => job.cancel(StopReason::TimedOut(timeout.unwrap_or_default())),
    }
    let reason = job.reason().unwrap_or(StopReason::Stopped);
    let grace = if reason == StopReason::Shutdown {
        Duration::ZERO
    } else {
        shared.cancel_grace
    };
    match tokio::time::timeout(grace, &mut task).await {
        Ok(_) => tracing::debug!(
            ?reason,
            "handler returned after cancellation; its result is discarded"
        ),
        Err(_) => {
            tracing::debug!(
                ?reason,
                "handler still running after cancellation; dropping it"
            );
            task.abort();
        }
    }
    match reason {
        StopReason::Stopped => None,
        StopReason::TimedOut(d) => Some(Outcome::Failed(Failure::new(
            "ExecutionTimeout",
            format!(
                "the job ran longer than its execution timeout of {} ms",
                d.as_millis()
            ),
            "enforced by the worker from policy.executionTimeout",
        ))),
        StopReason::Shutdown => Some(Outcome::Failed(Failure::new(
            "WorkerShutdown",
            "worker shutting down: the job was still running when the shutdown deadline passed",
            "enforced by the worker's graceful shutdown",
        ))),
    }
}

fn joined_outcome(joined: Result<Outcome, tokio::task::JoinError>) -> Outcome {
    match joined {
        Ok(o) => o,
        Err(e) if e.is_panic() => {
            let message = panic_message(&e.into_panic());
            Outcome::Failed(Failure::new(
                "Panic",
                format!("the handler panicked: {message}"),
                "panic in the handler task",
            ))
        }
        Err(_) => Outcome::Failed(Failure::new(
            "Cancelled",
            "the handler task was cancelled (the runtime is shutting down)",
            "handler task",
        )),
    }
}

fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_owned()
    }
}
