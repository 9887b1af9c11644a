//! What a handler receives: [`Job`] (typed input + context) and [`JobContext`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runpod_types::serverless::WorkerJob;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::report;
use super::sink::{PostKind, Sink};

/// Why a job's cancellation token fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// job-stop named it: the platform no longer wants a result.
    Stopped,
    /// `policy.executionTimeout` elapsed.
    TimedOut(Duration),
    /// The worker is shutting down and the drain deadline passed.
    Shutdown,
}

/// State shared by the runtime and every handle of one job.
pub(crate) struct JobShared {
    pub(crate) raw: WorkerJob,
    token: CancellationToken,
    reason: Mutex<Option<StopReason>>,
    refresh: AtomicBool,
    /// Set once a chunk went to job-stream: the final result then says `isStream=true`.
    streamed: AtomicBool,
    /// Serializes this job's posts (progress, chunks, final result) in call order: tokio's
    /// mutex is FIFO, and the final result is sent while holding it.
    lane: tokio::sync::Mutex<bool>,
    sink: Arc<dyn Sink>,
}

impl JobShared {
    pub(crate) fn new(raw: WorkerJob, sink: Arc<dyn Sink>) -> Arc<Self> {
        Arc::new(Self {
            raw,
            token: CancellationToken::new(),
            reason: Mutex::new(None),
            refresh: AtomicBool::new(false),
            streamed: AtomicBool::new(false),
            lane: tokio::sync::Mutex::new(false),
            sink,
        })
    }

    pub(crate) fn id(&self) -> &str {
        &self.raw.id
    }

    /// Fires the job's token; the first reason wins.
    pub(crate) fn cancel(&self, reason: StopReason) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert(reason);
        }
        self.token.cancel();
    }

    /// Whether the job's token has already fired.
    pub(crate) fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    pub(crate) fn reason(&self) -> Option<StopReason> {
        self.reason.lock().ok().and_then(|r| *r)
    }

    pub(crate) async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    pub(crate) fn wants_refresh(&self) -> bool {
        self.refresh.load(Ordering::Relaxed)
    }

    pub(crate) fn streamed(&self) -> bool {
        self.streamed.load(Ordering::Relaxed)
    }

    /// Posts a progress update or a chunk, unless the job is already closed (final result
    /// sent, or stopped). Returns whether it was delivered.
    pub(crate) async fn post(&self, kind: PostKind, body: bytes::Bytes) -> bool {
        let closed = self.lane.lock().await;
        if *closed || self.reason() == Some(StopReason::Stopped) {
            tracing::debug!(?kind, "job already finished or stopped; not sending");
            return false;
        }
        if kind == PostKind::Chunk {
            self.streamed.store(true, Ordering::Relaxed);
        }
        self.sink.post(self.id(), kind, body).await.is_delivered()
    }

    /// Sends the final result (or nothing, for `None`) and closes the job: later progress
    /// updates and chunks are dropped.
    pub(crate) async fn finish(&self, body: Option<bytes::Bytes>, is_stream: bool) -> bool {
        let mut closed = self.lane.lock().await;
        *closed = true;
        match body {
            Some(b) => self
                .sink
                .post(self.id(), PostKind::Final { is_stream }, b)
                .await
                .is_delivered(),
            None => false,
        }
    }
}

/// A cheap, cloneable handle on a running job: its id and raw fields, progress updates,
/// cancellation and the worker-refresh request. Obtained with [`Job::context`] or
/// [`Job::into_parts`] and safe to move into spawned tasks or `spawn_blocking` closures.
#[derive(Clone)]
pub struct JobContext {
    pub(crate) inner: Arc<JobShared>,
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// The job id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The job as job-take delivered it: `input` (untyped), `webhook`, `policy`, `s3Config`,
    /// `batchId` and any other field (`extra`).
    pub fn raw(&self) -> &WorkerJob {
        &self.inner.raw
    }

    /// Sends a progress update, `{"status": "IN_PROGRESS", "output": value}`, and waits until it
    /// is delivered. Updates go out in call order and always before the job's result; an update
    /// sent after the handler has returned is dropped. Best effort: a failure to deliver (after
    /// a few retries) is logged, never returned.
    pub async fn progress<T: Serialize>(&self, value: T) {
        match report::progress_body(&value) {
            Ok(body) => {
                self.inner.post(PostKind::Progress, body).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "progress value could not be serialized; not sent")
            }
        }
    }

    /// Sends one chunk of partial output to job-stream (`{"output": value}`) and waits until it
    /// is delivered, so `/stream` callers see it while the job runs. Chunks go out in call
    /// order, before the result, and make the final post say `isStream=true`. A plain async
    /// handler can stream this way and still return a final output; [`streaming`](super::streaming)
    /// handlers do it for every item. Delivery retries like a result; a failure is logged.
    pub async fn send_chunk<T: Serialize>(&self, value: T) {
        match report::chunk_body(&value) {
            Ok(body) => {
                self.inner.post(PostKind::Chunk, body).await;
            }
            Err(e) => tracing::warn!(error = %e, "stream chunk could not be serialized; not sent"),
        }
    }

    /// A token cancelled when the job must stop: job-stop named it, its execution timeout
    /// (`policy.executionTimeout`) elapsed, or the worker's shutdown deadline passed.
    ///
    /// Cancellation is cooperative for blocking code: pass the token into `spawn_blocking` work
    /// and check [`is_cancelled`](CancellationToken::is_cancelled). Async handlers that ignore it
    /// are dropped at their next `.await` after a grace period
    /// ([`with_cancel_grace`](super::WorkerBuilder::with_cancel_grace)).
    /// The returned token is a child: cancelling it does not cancel the job.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.inner.token.child_token()
    }

    /// Whether the job has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Completes when the job is cancelled.
    pub async fn cancelled(&self) {
        self.inner.cancelled().await;
    }

    /// Asks for a worker refresh after this job: the result carries `"stopPod": true`, the
    /// worker stops taking jobs, finishes the ones it holds, and [`run`](super::WorkerBuilder::run)
    /// returns (the Python worker's `refresh_worker`).
    pub fn refresh_worker(&self) {
        self.inner.refresh.store(true, Ordering::Relaxed);
    }
}

/// One job, as a handler receives it: the input decoded as `I` plus its [`JobContext`].
///
/// `I` defaults to [`serde_json::Value`] (any input). A job whose input does not decode as `I`
/// fails with an `InvalidInput` error naming the offending path; the handler is not called.
pub struct Job<I = Value> {
    input: I,
    ctx: JobContext,
}

impl<I: fmt::Debug> fmt::Debug for Job<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id())
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

impl<I> Job<I> {
    pub(crate) fn new(input: I, ctx: JobContext) -> Self {
        Self { input, ctx }
    }

    /// The job id.
    pub fn id(&self) -> &str {
        self.ctx.id()
    }

    /// The decoded input.
    pub fn input(&self) -> &I {
        &self.input
    }

    /// Takes the input, dropping the context.
    pub fn into_input(self) -> I {
        self.input
    }

    /// Splits the job into its input and a cloneable context.
    pub fn into_parts(self) -> (I, JobContext) {
        (self.input, self.ctx)
    }

    /// The job's context handle.
    pub fn context(&self) -> &JobContext {
        &self.ctx
    }

    /// The job as job-take delivered it; see [`JobContext::raw`].
    pub fn raw(&self) -> &WorkerJob {
        self.ctx.raw()
    }

    /// Sends a progress update; see [`JobContext::progress`].
    pub async fn progress<T: Serialize>(&self, value: T) {
        self.ctx.progress(value).await;
    }

    /// Sends one chunk of partial output to job-stream; see [`JobContext::send_chunk`].
    pub async fn send_chunk<T: Serialize>(&self, value: T) {
        self.ctx.send_chunk(value).await;
    }

    /// The job's cancellation token; see [`JobContext::cancellation_token`].
    pub fn cancellation_token(&self) -> CancellationToken {
        self.ctx.cancellation_token()
    }

    /// Whether the job has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    /// Completes when the job is cancelled.
    pub async fn cancelled(&self) {
        self.ctx.cancelled().await;
    }

    /// Asks for a worker refresh after this job; see [`JobContext::refresh_worker`].
    pub fn refresh_worker(&self) {
        self.ctx.refresh_worker();
    }
}
