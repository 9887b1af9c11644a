//! One job's record: request, life-cycle state, result and stream chunks.

use std::sync::Arc;
use std::time::Duration;

use runpod_types::serverless::{
    ExecutionPolicy, JobRequest, JobState, JobStatus, S3Config, StreamChunk, WorkerJob,
};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::limits::Charge;

#[derive(Debug)]
pub(super) struct Job {
    pub(super) id: String,
    input: Value,
    pub(super) webhook: Option<String>,
    policy: Option<ExecutionPolicy>,
    s3_config: Option<S3Config>,
    /// Submitted through `/runsync` (shorter result retention).
    pub(super) sync: bool,
    pub(super) status: JobStatus,
    /// When the job last entered the queue from a client (submission or `/retry`).
    queued_at: Instant,
    started_at: Option<Instant>,
    delay_time: Option<i64>,
    execution_time: Option<i64>,
    pub(super) output: Option<Value>,
    pub(super) error: Option<Value>,
    pub(super) retries: i64,
    pub(super) worker_id: Option<String>,
    /// Counts takes, so that a timer armed for an earlier run does not fire on a later one.
    pub(super) attempt: u64,
    chunks: Vec<StreamChunk>,
    read_cursor: usize,
    pub(super) execution_timeout: Duration,
    pub(super) ttl_deadline: Instant,
    pub(super) expires_at: Option<Instant>,
    /// Woken on every change that a waiting client might care about.
    pub(super) changed: Arc<Notify>,
    /// Stored bytes of the input, the last output, and the stream chunks; held for their `Drop`,
    /// which gives the bytes back when the job goes.
    #[allow(dead_code, reason = "held for its Drop")]
    input_charge: Charge,
    pub(super) output_charge: Charge,
    chunk_charge: Charge,
    /// The batch the job came from (Batch Jobs), handed to the worker as `batchId`.
    pub(super) batch_id: Option<String>,
    /// What only the console reads (creation time, progress history); empty without the
    /// `console` feature.
    pub(super) trace: super::console::Trace,
}

impl Job {
    pub(super) fn new(
        id: String,
        request: JobRequest,
        input_charge: Charge,
        sync: bool,
        execution_timeout: Duration,
        ttl: Duration,
        now: Instant,
    ) -> Self {
        Self {
            id,
            input: request.input,
            webhook: request.webhook,
            policy: request.policy,
            s3_config: request.s3_config,
            sync,
            status: JobStatus::InQueue,
            queued_at: now,
            started_at: None,
            delay_time: None,
            execution_time: None,
            output: None,
            error: None,
            retries: 0,
            worker_id: None,
            attempt: 0,
            chunks: Vec::new(),
            read_cursor: 0,
            execution_timeout,
            ttl_deadline: now + ttl,
            expires_at: None,
            changed: Arc::new(Notify::new()),
            input_charge,
            output_charge: Charge::default(),
            chunk_charge: Charge::default(),
            batch_id: None,
            trace: Default::default(),
        }
    }

    /// The body clients see on `/status` and friends, and webhooks receive.
    pub(super) fn state(&self) -> JobState {
        JobState {
            id: self.id.clone(),
            status: Some(self.status.clone()),
            delay_time: self.delay_time,
            execution_time: self.execution_time,
            output: self.output.clone(),
            error: self.error.clone(),
            retries: (self.retries > 0).then_some(self.retries),
            worker_id: self.worker_id.clone(),
            ..Default::default()
        }
    }

    /// The job as a worker receives it from job-take.
    pub(super) fn worker_job(&self) -> WorkerJob {
        WorkerJob {
            id: self.id.clone(),
            input: self.input.clone(),
            webhook: self.webhook.clone(),
            policy: self.policy.clone(),
            s3_config: self.s3_config.clone(),
            batch_id: self.batch_id.clone(),
            ..Default::default()
        }
    }

    pub(super) fn is_held_by(&self, worker: &str) -> bool {
        self.status == JobStatus::InProgress && self.worker_id.as_deref() == Some(worker)
    }

    /// Whether the job was handed to its worker at or before `t`.
    pub(super) fn started_by(&self, t: Instant) -> bool {
        self.started_at.is_some_and(|started| started <= t)
    }

    pub(super) fn start(&mut self, worker: &str, now: Instant) {
        self.status = JobStatus::InProgress;
        self.worker_id = Some(worker.to_owned());
        self.started_at = Some(now);
        self.delay_time = Some(millis(now - self.queued_at));
        self.attempt += 1;
        self.changed.notify_waiters();
    }

    /// Ends the job in a terminal `status`; the caller records output or error first.
    pub(super) fn end(&mut self, status: JobStatus, now: Instant) {
        self.status = status;
        self.execution_time = self.started_at.map(|started| millis(now - started));
        self.changed.notify_waiters();
    }

    /// Back to the queue after its worker vanished: a fresh attempt, counted as a retry.
    /// The client keeps `queued_at`, so `delayTime` includes the time lost.
    pub(super) fn requeue(&mut self) {
        self.status = JobStatus::InQueue;
        self.retries += 1;
        self.clear_run();
        self.changed.notify_waiters();
    }

    /// `/retry` of a FAILED or TIMED_OUT job: same id, output and error cleared.
    pub(super) fn retry(&mut self, now: Instant) {
        self.status = JobStatus::InQueue;
        self.retries += 1;
        self.queued_at = now;
        self.expires_at = None;
        self.clear_run();
        self.changed.notify_waiters();
    }

    fn clear_run(&mut self) {
        self.worker_id = None;
        self.started_at = None;
        self.delay_time = None;
        self.execution_time = None;
        self.output = None;
        self.error = None;
        self.output_charge = Charge::default();
        self.chunk_charge = Charge::default();
        self.chunks.clear();
        self.read_cursor = 0;
    }

    pub(super) fn push_chunk(&mut self, chunk: StreamChunk, charge: Charge) {
        self.chunks.push(chunk);
        self.chunk_charge.absorb(charge);
        self.changed.notify_waiters();
    }

    pub(super) fn has_unread_chunks(&self) -> bool {
        self.read_cursor < self.chunks.len()
    }

    /// The chunks no reader has received yet; each chunk is handed out once.
    pub(super) fn take_unread_chunks(&mut self) -> Vec<StreamChunk> {
        let unread = self.chunks[self.read_cursor..].to_vec();
        self.read_cursor = self.chunks.len();
        unread
    }
}

/// Read access for the console's job detail.
#[cfg_attr(not(feature = "console"), allow(dead_code))]
impl Job {
    pub(super) fn input(&self) -> &Value {
        &self.input
    }

    /// `delayTime` and `executionTime` in milliseconds, once known.
    pub(super) fn timings(&self) -> (Option<i64>, Option<i64>) {
        (self.delay_time, self.execution_time)
    }

    /// Every stream chunk of the current run, read or not.
    pub(super) fn chunks(&self) -> &[StreamChunk] {
        &self.chunks
    }
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
