//! The store's side of the console (`crate::console`): the job changes its live feed publishes,
//! the history its job detail shows (progress updates, webhook deliveries), the timing samples
//! of its endpoint overview, and the queries behind its JSON API.
//!
//! Recording is cheap by construction: with no console connected a job change costs one
//! comparison (plus, when a job ends, one sample pushed into a fixed-size ring per endpoint), and
//! with one connected, one push of the changed job's ids into a vector that the feed drains
//! every 100 ms. Nothing here sends, formats or waits while the store's lock is held.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use runpod_types::serverless::JobStatus;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::job::Job;
use super::{Store, Worker};
use crate::webhook::AttemptObserver;

/// Changes held for the feed's next flush; beyond this the feed drops them and tells its
/// clients to fetch everything again (`event: resync`).
const PENDING_MAX: usize = 50_000;
/// Progress updates kept per job (the newest).
const PROGRESS_MAX: usize = 32;
/// Ends of jobs kept per endpoint for its rate and percentiles.
const SAMPLES_MAX: usize = 1_024;
/// The window of `jobs_per_second`.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Webhook attempts kept for all jobs together (the newest).
const WEBHOOK_LOG_MAX: usize = 4_096;

/// Console bookkeeping inside the store's state.
#[derive(Debug)]
pub(crate) struct Console {
    /// Connected live feeds; changes are recorded only while there is one.
    listeners: usize,
    pending: Vec<JobChange>,
    overflowed: bool,
    /// Per endpoint: jobs by state, kept as jobs change, and the latest ends.
    endpoints: HashMap<String, EndpointStats>,
    clock: WallClock,
    last_created_us: u64,
    webhooks: Arc<Mutex<VecDeque<WebhookAttempt>>>,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            listeners: 0,
            pending: Vec::new(),
            overflowed: false,
            endpoints: HashMap::new(),
            clock: WallClock::new(),
            last_created_us: 0,
            webhooks: Arc::default(),
        }
    }
}

/// Wall-clock milliseconds for the store's monotonic instants: the system clock read once, when
/// the store is made, and monotonic time added to it (so paused-time tests stay consistent).
#[derive(Debug, Clone, Copy)]
struct WallClock {
    anchor: Instant,
    anchor_ms: u64,
}

impl WallClock {
    fn new() -> Self {
        let now = (crate::rest_v2::clock::system())();
        let anchor_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            anchor: Instant::now(),
            anchor_ms,
        }
    }

    fn micros(self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.anchor).as_micros()).unwrap_or(u64::MAX)
    }

    fn epoch_ms(self, at: Instant) -> u64 {
        self.anchor_ms + self.micros(at) / 1_000
    }
}

/// One job's change, as the feed publishes it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JobChange {
    pub(crate) id: String,
    /// Shared with the endpoint's stats, so a change costs no copy of it.
    #[serde(serialize_with = "shared_str")]
    pub(crate) endpoint: Arc<str>,
    /// The job's status; `GONE` once it left the store (purged, expired).
    #[serde(serialize_with = "state_or_gone")]
    pub(crate) state: Option<JobStatus>,
    pub(crate) worker: Option<String>,
    pub(crate) at_ms: u64,
}

fn shared_str<S: serde::Serializer>(value: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value)
}

fn state_or_gone<S: serde::Serializer>(
    state: &Option<JobStatus>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(state.as_ref().map_or("GONE", JobStatus::as_str))
}

/// What the feed takes from the store at a flush.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    pub(crate) changes: Vec<JobChange>,
    /// Changes were dropped since the last flush (more than [`PENDING_MAX`]).
    pub(crate) overflowed: bool,
}

/// The history of one job that only the console reads.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    /// Low 56 bits: the creation stamp, unique and increasing per store (microseconds since the
    /// store started, bumped on ties). High 8 bits: the state the job is counted under in its
    /// endpoint's counts (see [`state_code`]; 0 = not counted yet). Packed to keep a job's
    /// trace at 16 bytes.
    stamp: u64,
    /// Progress updates (`job-done` with `IN_PROGRESS`), rare, so boxed: 8 bytes per job
    /// instead of the 32 of a `VecDeque`.
    #[allow(
        clippy::box_collection,
        reason = "one pointer per job; most jobs have none"
    )]
    progress: Option<Box<VecDeque<(u64, Value)>>>,
}

/// What the overview shows of an endpoint without walking its jobs.
#[derive(Debug)]
struct EndpointStats {
    /// The endpoint id, shared with the changes recorded for it.
    name: Arc<str>,
    /// Jobs by [`state_code`].
    counts: [u64; STATES],
    samples: Samples,
}

/// The ends of an endpoint's latest jobs.
#[derive(Debug, Default)]
struct Samples {
    ends: VecDeque<Sample>,
}

const STATE_BITS: u32 = 56;
const STAMP_MASK: u64 = (1 << STATE_BITS) - 1;
const STATES: usize = 8;

/// A job state as a small number for the counts: 1 = IN_QUEUE, 2 = IN_PROGRESS (or RUNNING),
/// 3 = COMPLETED, 4 = FAILED, 5 = CANCELLED, 6 = TIMED_OUT, 7 = a state this version does
/// not know.
fn state_code(status: &JobStatus) -> u8 {
    match status {
        JobStatus::InQueue => 1,
        JobStatus::InProgress | JobStatus::Running => 2,
        JobStatus::Completed => 3,
        JobStatus::Failed => 4,
        JobStatus::Cancelled => 5,
        JobStatus::TimedOut => 6,
        _ => 7,
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    delay_ms: Option<i64>,
    execution_ms: Option<i64>,
}

/// One webhook attempt.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WebhookAttempt {
    #[serde(skip)]
    job_id: String,
    url: String,
    at_ms: u64,
    status: Option<u16>,
    error: Option<String>,
}

impl Console {
    /// Records that `job` changed (queued, taken, ended, requeued, a progress update or a
    /// stream chunk): its endpoint's counts follow its state, and when it ended, its timings
    /// are sampled.
    pub(super) fn job(&mut self, endpoint: &str, job: &mut Job, now: Instant) {
        let code = state_code(&job.status);
        let counted = job.trace.counted();
        let listening = self.listeners > 0;
        if code == counted && !listening {
            return;
        }
        let stats = self.endpoints.entry_ref(endpoint);
        if code != counted {
            if counted != 0 {
                let slot = &mut stats.counts[usize::from(counted)];
                *slot = slot.saturating_sub(1);
            }
            stats.counts[usize::from(code)] += 1;
            job.trace.set_counted(code);
            if job.status.is_terminal() {
                let (delay_ms, execution_ms) = job.timings();
                let ends = &mut stats.samples.ends;
                if ends.len() == SAMPLES_MAX {
                    ends.pop_front();
                }
                ends.push_back(Sample {
                    at: now,
                    delay_ms,
                    execution_ms,
                });
            }
        }
        if !listening {
            return;
        }
        let change = JobChange {
            id: job.id.to_string(),
            endpoint: Arc::clone(&stats.name),
            state: Some(job.status.clone()),
            worker: job.worker_id.clone(),
            at_ms: self.clock.epoch_ms(now),
        };
        self.push(change);
    }

    /// Records that `job` left the store.
    pub(super) fn gone(&mut self, endpoint: &str, job: &Job, now: Instant) {
        let counted = usize::from(job.trace.counted());
        if counted != 0
            && let Some(stats) = self.endpoints.get_mut(endpoint)
        {
            stats.counts[counted] = stats.counts[counted].saturating_sub(1);
        }
        if self.listeners == 0 {
            return;
        }
        let change = JobChange {
            id: job.id.to_string(),
            endpoint: Arc::clone(&self.endpoints.entry_ref(endpoint).name),
            state: None,
            worker: None,
            at_ms: self.clock.epoch_ms(now),
        };
        self.push(change);
    }

    fn push(&mut self, change: JobChange) {
        if self.pending.len() >= PENDING_MAX {
            self.pending.clear();
            self.overflowed = true;
        }
        self.pending.push(change);
    }

    /// A new job's trace, stamped with its creation time.
    pub(super) fn trace(&mut self, now: Instant) -> Trace {
        let created_us = self.clock.micros(now).max(self.last_created_us + 1) & STAMP_MASK;
        self.last_created_us = created_us;
        Trace {
            stamp: created_us,
            progress: None,
        }
    }

    /// What reports webhook attempts into the log (outside the store's lock).
    pub(super) fn webhook_observer(&self) -> Option<AttemptObserver> {
        let log = Arc::clone(&self.webhooks);
        let clock = self.clock;
        Some(Arc::new(move |job_id: &str, url: &str, result| {
            let (status, error) = match result {
                Ok(status) => (Some(status), None),
                Err(error) => (None, Some(error)),
            };
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            if log.len() == WEBHOOK_LOG_MAX {
                log.pop_front();
            }
            log.push_back(WebhookAttempt {
                job_id: job_id.to_owned(),
                url: url.to_owned(),
                at_ms: clock.epoch_ms(Instant::now()),
                status,
                error,
            });
        }))
    }
}

/// `HashMap::entry` without allocating a key when it is present.
trait EntryRef {
    fn entry_ref(&mut self, key: &str) -> &mut EndpointStats;
}

impl EntryRef for HashMap<String, EndpointStats> {
    fn entry_ref(&mut self, key: &str) -> &mut EndpointStats {
        if !self.contains_key(key) {
            let stats = EndpointStats {
                name: Arc::from(key),
                counts: [0; STATES],
                samples: Samples::default(),
            };
            self.insert(key.to_owned(), stats);
        }
        self.get_mut(key)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }
}

impl Trace {
    fn created_us(&self) -> u64 {
        self.stamp & STAMP_MASK
    }

    fn counted(&self) -> u8 {
        u8::try_from(self.stamp >> STATE_BITS).unwrap_or(0)
    }

    fn set_counted(&mut self, code: u8) {
        self.stamp = (u64::from(code) << STATE_BITS) | self.created_us();
    }

    /// Records a progress update, keeping the newest [`PROGRESS_MAX`].
    pub(super) fn progress(&mut self, console: &Console, now: Instant, output: Option<&Value>) {
        let list = self.progress.get_or_insert_with(Box::default);
        if list.len() == PROGRESS_MAX {
            list.pop_front();
        }
        list.push_back((
            console.clock.epoch_ms(now),
            output.cloned().unwrap_or(Value::Null),
        ));
    }
}

/// The endpoint part of `GET /_local/v1/overview`, as far as the store knows it.
#[derive(Debug, Serialize)]
pub(crate) struct EndpointView {
    pub(crate) id: String,
    pub(crate) queue: QueueCounts,
    pub(crate) jobs_per_second: f64,
    pub(crate) delay_ms: Percentiles,
    pub(crate) execution_ms: Percentiles,
    pub(crate) workers: Vec<WorkerView>,
    pub(crate) batches: Vec<BatchView>,
}

#[derive(Debug, Default, Serialize)]
#[allow(non_snake_case, reason = "the job states as the wire spells them")]
pub(crate) struct QueueCounts {
    IN_QUEUE: u64,
    IN_PROGRESS: u64,
    COMPLETED: u64,
    FAILED: u64,
    CANCELLED: u64,
    TIMED_OUT: u64,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Percentiles {
    p50: Option<i64>,
    p99: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct WorkerView {
    pub(crate) id: String,
    /// `queue` (pulls jobs) or `lb` (load-balancing).
    pub(crate) kind: &'static str,
    pub(crate) last_seen_ms_ago: Option<u64>,
    pub(crate) jobs: Vec<String>,
    pub(crate) health: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct BatchView {
    pub(crate) id: String,
    pub(crate) state: String,
    pub(crate) total: i64,
    pub(crate) completed: i64,
    pub(crate) failed: i64,
}

/// A filter and page of `GET /_local/v1/jobs`.
#[derive(Debug, Default)]
pub(crate) struct JobQuery {
    pub(crate) endpoint: Option<String>,
    /// Any of these states (empty: all).
    pub(crate) states: Vec<String>,
    pub(crate) worker: Option<String>,
    /// A substring of the id.
    pub(crate) id_contains: Option<String>,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct JobPage {
    pub(crate) total: usize,
    pub(crate) offset: usize,
    pub(crate) jobs: Vec<JobSummary>,
}

#[derive(Debug, Serialize)]
pub(crate) struct JobSummary {
    id: String,
    endpoint: String,
    state: String,
    worker: Option<String>,
    created_ms: u64,
    delay_ms: Option<i64>,
    execution_ms: Option<i64>,
    retries: i64,
}

/// `GET /_local/v1/jobs/{endpoint}/{job}`.
#[derive(Debug, Serialize)]
pub(crate) struct JobDetail {
    #[serde(flatten)]
    summary: JobSummary,
    input: Value,
    output: Option<Value>,
    error: Option<Value>,
    progress: Vec<Progress>,
    stream: Vec<Value>,
    webhook: Vec<WebhookAttempt>,
}

#[derive(Debug, Serialize)]
struct Progress {
    at_ms: u64,
    output: Value,
}

impl Store {
    /// The shutdown signal, which ends the console's live feeds (they would otherwise hold a
    /// graceful shutdown open).
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// One more (`true`) or one fewer live feed listening.
    pub(crate) fn console_listen(&self, joined: bool) {
        let mut state = self.lock();
        let console = &mut state.console;
        if joined {
            console.listeners += 1;
        } else {
            console.listeners = console.listeners.saturating_sub(1);
            if console.listeners == 0 {
                console.pending = Vec::new();
                console.overflowed = false;
            }
        }
    }

    /// The changes recorded since the last call. `spare` (emptied) takes their place, so
    /// that a busy feed reuses two buffers instead of growing a new one every flush.
    pub(crate) fn console_drain(&self, mut spare: Vec<JobChange>) -> Drained {
        spare.clear();
        let mut state = self.lock();
        let console = &mut state.console;
        Drained {
            changes: std::mem::replace(&mut console.pending, spare),
            overflowed: std::mem::take(&mut console.overflowed),
        }
    }

    /// Every endpoint with jobs or workers: counts by state, rate and timings, queue workers.
    pub(crate) fn console_endpoints(&self) -> Vec<EndpointView> {
        let now = Instant::now();
        let mut views: Vec<EndpointView> = {
            let state = self.lock();
            state
                .endpoints
                .iter()
                .map(|(id, ep)| {
                    let stats = state.console.endpoints.get(id);
                    let counts = stats.map(|s| s.counts).unwrap_or_default();
                    let queue = QueueCounts {
                        IN_QUEUE: counts[1],
                        IN_PROGRESS: counts[2],
                        COMPLETED: counts[3],
                        FAILED: counts[4],
                        CANCELLED: counts[5],
                        TIMED_OUT: counts[6],
                    };
                    let (jobs_per_second, delay_ms, execution_ms) =
                        stats.map(|s| s.samples.summary(now)).unwrap_or_default();
                    let mut workers: Vec<WorkerView> = ep
                        .workers
                        .iter()
                        .map(|(id, w)| worker_view(id, w, now))
                        .collect();
                    workers.sort_by(|a, b| a.id.cmp(&b.id));
                    EndpointView {
                        id: id.clone(),
                        queue,
                        jobs_per_second,
                        delay_ms,
                        execution_ms,
                        workers,
                        batches: Vec::new(),
                    }
                })
                .collect()
        };
        for view in &mut views {
            view.batches = self
                .batch_list(&view.id)
                .into_iter()
                .map(|b| BatchView {
                    id: b.id,
                    state: b.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    total: b.request_total.unwrap_or(0),
                    completed: b.request_completed.unwrap_or(0),
                    failed: b.request_failed.unwrap_or(0),
                })
                .collect();
        }
        views.sort_by(|a, b| a.id.cmp(&b.id));
        views
    }

    /// A page of jobs, newest first. One pass over the jobs, keeping only the newest
    /// `offset + limit` matches in a heap, so a page costs no sort of (or copy of) the rest.
    pub(crate) fn console_jobs(&self, query: &JobQuery) -> JobPage {
        let state = self.lock();
        let worker = query.worker.as_deref();
        let needle = query.id_contains.as_deref().filter(|q| !q.is_empty());
        let keep = query.offset.saturating_add(query.limit);
        let mut newest: BinaryHeap<Reverse<Newest<'_>>> = BinaryHeap::new();
        let mut total = 0;
        for (endpoint, ep) in &state.endpoints {
            if query.endpoint.as_deref().is_some_and(|e| e != endpoint) {
                continue;
            }
            for job in ep.jobs.values() {
                let matches = (query.states.is_empty()
                    || query.states.iter().any(|s| s == job.status.as_str()))
                    && (worker.is_none() || job.worker_id.as_deref() == worker)
                    && needle.is_none_or(|q| job.id.contains(q));
                if !matches {
                    continue;
                }
                total += 1;
                let candidate = Newest {
                    created_us: job.trace.created_us(),
                    endpoint,
                    job,
                };
                if newest.len() < keep {
                    newest.push(Reverse(candidate));
                } else if let Some(mut oldest) = newest.peek_mut()
                    && oldest.0.created_us < candidate.created_us
                {
                    *oldest = Reverse(candidate);
                }
            }
        }
        let clock = state.console.clock;
        // Ascending by `Reverse`, so newest first.
        let jobs = newest
            .into_sorted_vec()
            .into_iter()
            .skip(query.offset)
            .map(|Reverse(n)| summary(n.endpoint, n.job, clock))
            .collect();
        JobPage {
            total,
            offset: query.offset,
            jobs,
        }
    }

    /// One job with everything the console shows of it.
    pub(crate) fn console_job(&self, endpoint: &str, job_id: &str) -> Option<JobDetail> {
        let (detail, log) = {
            let state = self.lock();
            let job = state.endpoints.get(endpoint)?.jobs.get(job_id)?;
            let clock = state.console.clock;
            let progress = job
                .trace
                .progress
                .iter()
                .flat_map(|list| list.iter())
                .map(|(at_ms, output)| Progress {
                    at_ms: *at_ms,
                    output: output.clone(),
                })
                .collect();
            let detail = JobDetail {
                summary: summary(endpoint, job, clock),
                input: job.input(),
                output: job.output(),
                error: job.error().map(readable_error),
                progress,
                stream: job
                    .chunks()
                    .iter()
                    .map(|chunk| chunk.output.clone().unwrap_or(Value::Null))
                    .collect(),
                webhook: Vec::new(),
            };
            (detail, Arc::clone(&state.console.webhooks))
        };
        let mut detail = detail;
        let log = log.lock().unwrap_or_else(PoisonError::into_inner);
        detail.webhook = log
            .iter()
            .filter(|attempt| attempt.job_id == job_id)
            .cloned()
            .collect();
        Some(detail)
    }
}

/// A job in the running for a page, ordered by creation (stamps are unique per store).
struct Newest<'a> {
    created_us: u64,
    endpoint: &'a str,
    job: &'a Job,
}

impl PartialEq for Newest<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.created_us == other.created_us
    }
}

impl Eq for Newest<'_> {}

impl PartialOrd for Newest<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Newest<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.created_us.cmp(&other.created_us)
    }
}

fn worker_view(id: &str, worker: &Worker, now: Instant) -> WorkerView {
    let ago = now.saturating_duration_since(worker.last_seen);
    WorkerView {
        id: id.to_owned(),
        kind: "queue",
        // A worker in a long poll is there now.
        last_seen_ms_ago: Some(if worker.open_polls > 0 {
            0
        } else {
            u64::try_from(ago.as_millis()).unwrap_or(u64::MAX)
        }),
        jobs: worker
            .held
            .in_take_order()
            .iter()
            .map(|id| id.to_string())
            .collect(),
        health: worker.unhealthy.then_some("unhealthy"),
    }
}

fn summary(endpoint: &str, job: &Job, clock: WallClock) -> JobSummary {
    let (delay_ms, execution_ms) = job.timings();
    JobSummary {
        id: job.id.to_string(),
        endpoint: endpoint.to_owned(),
        state: job.status.as_str().to_owned(),
        worker: job.worker_id.clone(),
        created_ms: clock.anchor_ms + job.trace.created_us() / 1_000,
        delay_ms,
        execution_ms,
        retries: job.retries,
    }
}

/// The worker's error as JSON: the Python worker sends a JSON document
/// (`{"error_type", "error_message", "error_traceback", …}`) inside the error string; anything
/// else is kept as it is.
fn readable_error(error: &Value) -> Value {
    if let Value::String(text) = error
        && text.trim_start().starts_with('{')
        && let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(text)
    {
        return parsed;
    }
    error.clone()
}

impl Samples {
    /// Jobs ended per second over the last [`RATE_WINDOW`], and delay and execution
    /// percentiles over the kept samples.
    fn summary(&self, now: Instant) -> (f64, Percentiles, Percentiles) {
        let since = now.checked_sub(RATE_WINDOW);
        let recent: Vec<&Sample> = self
            .ends
            .iter()
            .filter(|s| since.is_none_or(|since| s.at >= since))
            .collect();
        let rate = match recent.first() {
            // The ring may hold less than the window: measure over what it holds.
            Some(oldest) if recent.len() == SAMPLES_MAX => {
                let span = now.saturating_duration_since(oldest.at).as_secs_f64();
                if span > 0.0 {
                    recent.len() as f64 / span
                } else {
                    0.0
                }
            }
            _ => recent.len() as f64 / RATE_WINDOW.as_secs_f64(),
        };
        let percentiles = |pick: fn(&Sample) -> Option<i64>| {
            let mut values: Vec<i64> = self.ends.iter().filter_map(pick).collect();
            values.sort_unstable();
            let at = |q: f64| {
                let last = values.len().checked_sub(1)?;
                values.get(((last as f64) * q).round() as usize).copied()
            };
            Percentiles {
                p50: at(0.50),
                p99: at(0.99),
            }
        };
        (
            rate,
            percentiles(|s| s.delay_ms),
            percentiles(|s| s.execution_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use runpod_types::serverless::{JobRequest, JobResult};
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::Config;
    use crate::limits::Charge;

    fn store() -> Arc<Store> {
        Arc::new(Store::new(
            Arc::new(Config::default()),
            CancellationToken::new(),
        ))
    }

    fn submit(store: &Arc<Store>) -> String {
        let request = JobRequest {
            input: json!({}),
            ..Default::default()
        };
        store
            .submit("ep", request, Charge::default(), false)
            .unwrap()
            .id
    }

    #[tokio::test]
    async fn changes_are_kept_only_while_a_feed_listens_but_timings_always() {
        let store = store();
        let quiet = submit(&store);
        assert!(store.console_drain(Vec::new()).changes.is_empty());
        store.console_listen(true);
        let heard = submit(&store);
        store.with_state(|state, now| state.take_jobs("ep", "w", 2, now, &Config::default()));
        let body = JobResult {
            output: Some(json!(1)),
            ..Default::default()
        };
        store
            .report("ep", "w", &quiet, body, Charge::default())
            .unwrap();
        let drained = store.console_drain(Vec::new());
        assert!(!drained.overflowed);
        let seen: Vec<(&str, Option<&str>)> = drained
            .changes
            .iter()
            .map(|c| (c.id.as_str(), c.state.as_ref().map(JobStatus::as_str)))
            .collect();
        assert_eq!(
            seen,
            [
                (heard.as_str(), Some("IN_QUEUE")),
                (quiet.as_str(), Some("IN_PROGRESS")),
                (heard.as_str(), Some("IN_PROGRESS")),
                (quiet.as_str(), Some("COMPLETED")),
            ]
        );
        assert!(
            store.console_drain(Vec::new()).changes.is_empty(),
            "drained once"
        );
        store.console_listen(false);
        store.cancel("ep", &heard);
        assert!(store.console_drain(Vec::new()).changes.is_empty());
        // Both ends were sampled (one while nobody listened).
        let state = store.lock();
        assert_eq!(state.console.endpoints["ep"].samples.ends.len(), 2);
    }

    /// The counts kept as jobs change, against a walk over every job.
    fn assert_counts_match(store: &Store) {
        let state = store.lock();
        for (id, ep) in &state.endpoints {
            let mut walked = [0u64; STATES];
            for job in ep.jobs.values() {
                walked[usize::from(state_code(&job.status))] += 1;
            }
            let kept = state.console.endpoints.get(id).map(|s| s.counts);
            assert_eq!(kept.unwrap_or_default()[1..], walked[1..], "endpoint {id}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn kept_counts_follow_every_path_a_job_takes() {
        let config = Arc::new(Config {
            result_retention: std::time::Duration::from_millis(1),
            ..Config::default()
        });
        let store = Arc::new(Store::new(config.clone(), CancellationToken::new()));
        let ids: Vec<String> = (0..8).map(|_| submit(&store)).collect();
        assert_counts_match(&store);
        store.with_state(|state, now| state.take_jobs("ep", "w", 5, now, &config));
        assert_counts_match(&store);
        let done = |id: &str, body: JobResult| {
            store
                .report("ep", "w", id, body, Charge::default())
                .unwrap();
        };
        done(
            &ids[0],
            JobResult {
                output: Some(json!(1)),
                ..Default::default()
            },
        );
        done(
            &ids[1],
            JobResult {
                error: Some(json!("boom")),
                ..Default::default()
            },
        );
        done(
            &ids[2],
            JobResult {
                status: Some(JobStatus::InProgress),
                output: Some(json!("half")),
                ..Default::default()
            },
        );
        store.cancel("ep", &ids[3]);
        store.cancel("ep", &ids[5]);
        store.cancel("ep", &ids[5]);
        assert_counts_match(&store);
        store.retry("ep", &ids[1]).unwrap();
        assert_counts_match(&store);
        // The worker's heartbeat leaves out a job it was handed long enough ago: requeued.
        store.ping("ep", "w", &[ids[2].as_str()], false);
        assert_eq!(store.purge("ep"), 3);
        assert_counts_match(&store);
        // An hour on: results expire, the silent worker is lost (its jobs requeued), and the
        // requeued jobs' ttl is still far.
        tokio::spawn(store.clone().run_reaper());
        tokio::time::sleep(std::time::Duration::from_secs(3_600)).await;
        assert_counts_match(&store);
        store.with_state(|state, now| state.take_jobs("ep", "w2", 8, now, &config));
        // Past the execution timeout of the jobs just taken.
        tokio::time::sleep(std::time::Duration::from_secs(3_600)).await;
        assert_counts_match(&store);
    }

    #[tokio::test]
    async fn too_many_pending_changes_turn_into_a_resync() {
        let store = store();
        store.console_listen(true);
        {
            let mut state = store.lock();
            let now = Instant::now();
            for i in 0..=PENDING_MAX {
                let at_ms = state.console.clock.epoch_ms(now);
                state.console.push(JobChange {
                    id: i.to_string(),
                    endpoint: Arc::from("ep"),
                    state: None,
                    worker: None,
                    at_ms,
                });
            }
        }
        let drained = store.console_drain(Vec::new());
        assert!(drained.overflowed);
        assert_eq!(drained.changes.len(), 1);
        assert!(!store.console_drain(Vec::new()).overflowed);
    }

    #[tokio::test]
    async fn creation_stamps_are_unique_and_increasing() {
        let mut console = Console::default();
        let now = Instant::now();
        let stamps: Vec<u64> = (0..5).map(|_| console.trace(now).created_us()).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    }

    #[test]
    fn rates_and_percentiles_come_from_the_samples() {
        let now = Instant::now();
        let mut samples = Samples::default();
        for i in 0..100 {
            samples.ends.push_back(Sample {
                at: now,
                delay_ms: Some(i),
                execution_ms: (i % 2 == 0).then_some(i * 10),
            });
        }
        let (rate, delay, execution) = samples.summary(now);
        assert!(
            (rate - 10.0).abs() < 1e-9,
            "100 ends in a 10 s window: {rate}"
        );
        assert_eq!((delay.p50, delay.p99), (Some(50), Some(98)));
        assert_eq!((execution.p50, execution.p99), (Some(500), Some(980)));
        let (rate, delay, _) = Samples::default().summary(now);
        assert_eq!(rate, 0.0);
        assert_eq!((delay.p50, delay.p99), (None, None));
    }

    #[test]
    fn python_error_documents_are_parsed_and_other_errors_kept() {
        let document = json!({ "error_type": "ValueError", "error_message": "x" });
        assert_eq!(
            readable_error(&Value::String(document.to_string())),
            document
        );
        assert_eq!(readable_error(&json!("plain")), json!("plain"));
        assert_eq!(readable_error(&json!("{not json")), json!("{not json"));
        assert_eq!(readable_error(&json!({ "a": 1 })), json!({ "a": 1 }));
    }
}
