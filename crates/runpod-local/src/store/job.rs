//! One job's record: request, life-cycle state, result and stream chunks.

use std::sync::Arc;
use std::time::Duration;

use runpod_types::serverless::{
    ExecutionPolicy, JobRequest, JobState, JobStatus, S3Config, StreamChunk, WorkerJob,
};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::limits::Charge;

/// The jobs of one endpoint. Each job is boxed, so the table's slots (about half of them empty
/// after a resize) are two words each rather than a whole job; the id is shared with the key.
pub(super) type Jobs = std::collections::HashMap<Arc<str>, Box<Job>>;

/// One job, laid out for memory: an endpoint may keep 50 000 queued and as many finished jobs,
/// so what every job has stays inline and small, and what few jobs have (a webhook, a policy,
/// an error, stream chunks, …) lives in [`Extra`], allocated on first use. The input and output
/// are kept as JSON text (a one-key object as a `Value` is a whole B-tree node, over 600
/// bytes); they are parsed again when handed out.
#[derive(Debug)]
pub(super) struct Job {
    /// Shared with the endpoint's job table, its queue and the job's timers.
    pub(super) id: Arc<str>,
    input: Box<RawValue>,
    output: Option<Box<RawValue>>,
    pub(super) status: JobStatus,
    /// Submitted through `/runsync` (shorter result retention).
    pub(super) sync: bool,
    /// When the job last entered the queue from a client (submission or `/retry`).
    queued_at: Instant,
    started_at: Option<Instant>,
    execution_time: Option<i64>,
    pub(super) retries: i64,
    pub(super) worker_id: Option<String>,
    /// Counts takes, so that a timer armed for an earlier run does not fire on a later one.
    pub(super) attempt: u64,
    pub(super) execution_timeout: Duration,
    pub(super) ttl_deadline: Instant,
    pub(super) expires_at: Option<Instant>,
    /// Woken on every change that a waiting client might care about.
    pub(super) changed: Arc<Notify>,
    /// Stored bytes of the input and of the last output; held for their `Drop`, which gives the
    /// bytes back when the job goes.
    #[allow(dead_code, reason = "held for its Drop")]
    input_charge: Charge,
    pub(super) output_charge: Charge,
    extra: Option<Box<Extra>>,
    /// What only the console reads (creation time, counted state, progress history); empty
    /// without the `console` feature.
    pub(super) trace: super::console::Trace,
}

/// What few jobs have. A field that only some jobs carry belongs here.
#[derive(Debug, Default)]
struct Extra {
    webhook: Option<String>,
    policy: Option<ExecutionPolicy>,
    s3_config: Option<S3Config>,
    /// The batch the job came from (Batch Jobs), handed to the worker as `batchId`.
    batch_id: Option<String>,
    error: Option<Value>,
    chunks: Vec<StreamChunk>,
    read_cursor: usize,
    /// Stored bytes of the stream chunks.
    chunk_charge: Charge,
}

impl Extra {
    fn is_empty(&self) -> bool {
        self.webhook.is_none()
            && self.policy.is_none()
            && self.s3_config.is_none()
            && self.batch_id.is_none()
            && self.error.is_none()
            && self.chunks.is_empty()
    }
}

/// `value` as JSON text. Serializing a `Value` cannot fail (it holds no non-finite float and
/// only string keys); `null` stands in should it ever.
fn to_raw(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| null())
}

/// Text written by [`to_raw`] parses back; `null` stands in should it ever not.
fn from_raw(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

fn null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

impl Job {
    pub(super) fn new(
        id: Arc<str>,
        request: JobRequest,
        input_charge: Charge,
        sync: bool,
        execution_timeout: Duration,
        ttl: Duration,
        now: Instant,
    ) -> Self {
        let extra = Extra {
            webhook: request.webhook,
            policy: request.policy,
            s3_config: request.s3_config,
            ..Extra::default()
        };
        Self {
            id,
            input: to_raw(&request.input),
            output: None,
            status: JobStatus::InQueue,
            sync,
            queued_at: now,
            started_at: None,
            execution_time: None,
            retries: 0,
            worker_id: None,
            attempt: 0,
            execution_timeout,
            ttl_deadline: now + ttl,
            expires_at: None,
            changed: Arc::new(Notify::new()),
            input_charge,
            output_charge: Charge::default(),
            extra: (!extra.is_empty()).then(|| Box::new(extra)),
            trace: Default::default(),
        }
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    pub(super) fn webhook(&self) -> Option<&str> {
        self.extra.as_ref()?.webhook.as_deref()
    }

    pub(super) fn set_batch_id(&mut self, batch_id: &str) {
        self.extra_mut().batch_id = Some(batch_id.to_owned());
    }

    /// The last output a worker reported (the result once the job ended).
    pub(super) fn output(&self) -> Option<Value> {
        self.output.as_deref().map(from_raw)
    }

    pub(super) fn set_output(&mut self, output: Option<Value>) {
        self.output = output.as_ref().map(to_raw);
    }

    pub(super) fn error(&self) -> Option<&Value> {
        self.extra.as_ref()?.error.as_ref()
    }

    pub(super) fn set_error(&mut self, error: Option<Value>) {
        if error.is_some() || self.extra.is_some() {
            self.extra_mut().error = error;
        }
    }

    /// How long the job waited before its worker took it (`delayTime`), in ms.
    fn delay_time(&self) -> Option<i64> {
        self.started_at
            .map(|started| millis(started.saturating_duration_since(self.queued_at)))
    }

    /// The body clients see on `/status` and friends, and webhooks receive.
    pub(super) fn state(&self) -> JobState {
        JobState {
            id: self.id.to_string(),
            status: Some(self.status.clone()),
            delay_time: self.delay_time(),
            execution_time: self.execution_time,
            output: self.output(),
            error: self.error().cloned(),
            retries: (self.retries > 0).then_some(self.retries),
            worker_id: self.worker_id.clone(),
            ..Default::default()
        }
    }

    /// The job as a worker receives it from job-take.
    pub(super) fn worker_job(&self) -> WorkerJob {
        let extra = self.extra.as_deref();
        WorkerJob {
            id: self.id.to_string(),
            input: from_raw(&self.input),
            webhook: extra.and_then(|e| e.webhook.clone()),
            policy: extra.and_then(|e| e.policy.clone()),
            s3_config: extra.and_then(|e| e.s3_config.clone()),
            batch_id: extra.and_then(|e| e.batch_id.clone()),
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
        self.execution_time = None;
        self.output = None;
        self.output_charge = Charge::default();
        if let Some(extra) = &mut self.extra {
            extra.error = None;
            extra.chunk_charge = Charge::default();
            extra.chunks = Vec::new();
            extra.read_cursor = 0;
        }
    }

    pub(super) fn push_chunk(&mut self, chunk: StreamChunk, charge: Charge) {
        let extra = self.extra_mut();
        extra.chunks.push(chunk);
        extra.chunk_charge.absorb(charge);
        self.changed.notify_waiters();
    }

    pub(super) fn has_unread_chunks(&self) -> bool {
        self.extra
            .as_ref()
            .is_some_and(|e| e.read_cursor < e.chunks.len())
    }

    /// The chunks no reader has received yet; each chunk is handed out once.
    pub(super) fn take_unread_chunks(&mut self) -> Vec<StreamChunk> {
        let Some(extra) = &mut self.extra else {
            return Vec::new();
        };
        let unread = extra.chunks[extra.read_cursor..].to_vec();
        extra.read_cursor = extra.chunks.len();
        unread
    }
}

/// Read access for the console's job detail.
#[cfg_attr(not(feature = "console"), allow(dead_code))]
impl Job {
    /// The job's input, parsed from its stored text.
    pub(super) fn input(&self) -> Value {
        from_raw(&self.input)
    }

    /// `delayTime` and `executionTime` in milliseconds, once known.
    pub(super) fn timings(&self) -> (Option<i64>, Option<i64>) {
        (self.delay_time(), self.execution_time)
    }

    /// Every stream chunk of the current run, read or not.
    pub(super) fn chunks(&self) -> &[StreamChunk] {
        self.extra.as_ref().map_or(&[], |extra| &extra.chunks)
    }
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-job memory budget (2 KB, `bench local` measures it) rests on this layout: a
    /// field that only some jobs need goes to `Extra`.
    #[test]
    fn a_job_stays_small() {
        assert!(size_of::<Job>() <= 320, "Job is {} bytes", size_of::<Job>());
    }

    #[test]
    fn input_and_output_come_back_as_sent() {
        let request = JobRequest {
            input: serde_json::json!({"prompt": "hi", "n": [1, 2.5, null], "deep": {"x": true}}),
            ..JobRequest::default()
        };
        let now = Instant::now();
        let mut job = Job::new(
            "j".into(),
            request.clone(),
            Charge::default(),
            false,
            Duration::from_secs(1),
            Duration::from_secs(1),
            now,
        );
        assert!(job.extra.is_none(), "a plain job allocates no extra");
        assert_eq!(job.worker_job().input, request.input);
        let output = serde_json::json!(["out", 0.1, {"k": "v"}]);
        job.set_output(Some(output.clone()));
        assert_eq!(job.output(), Some(output));
        job.set_error(None);
        assert!(job.extra.is_none());
        job.set_error(Some(serde_json::json!("boom")));
        assert_eq!(job.state().error, Some(serde_json::json!("boom")));
    }
}
