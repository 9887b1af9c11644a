//! The queue: every endpoint's jobs and workers behind one mutex.
//!
//! Critical sections only touch in-memory maps; nothing awaits while the lock is held. Waiting
//! (long polls, `/runsync`) uses [`Notify`]: a waiter registers before it checks the state, so a
//! change between the check and the wait still wakes it.

pub(crate) mod batch;
mod job;
mod timers;

use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use self::job::Job;
use self::timers::{TimerKind, Timers};
use crate::config::Config;
use crate::error::ApiError;
use crate::webhook::{self, Delivery};
use crate::wire::{
    HealthJobs, HealthResponse, HealthWorkers, JobRequest, JobState, JobStatus, StreamResponse,
    WorkerJob,
};

/// Shared server state.
#[derive(Debug)]
pub(crate) struct Store {
    state: Mutex<State>,
    config: Arc<Config>,
    reaper_wake: Notify,
    shutdown: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    endpoints: HashMap<String, Endpoint>,
    timers: Timers,
    /// Webhooks to send once the lock is released.
    outbox: Vec<Delivery>,
}

/// One endpoint id: its own queue, jobs and workers, created on first use.
#[derive(Debug, Default)]
struct Endpoint {
    /// Ids in take order. Cancelled or expired jobs leave stale ids here; takers skip them.
    queue: VecDeque<String>,
    jobs: HashMap<String, Job>,
    workers: HashMap<String, Worker>,
    work_available: Arc<Notify>,
    /// The in-process handler's take loop runs for this endpoint.
    inline_worker: bool,
    /// Batch Jobs (beta), oldest first; see `batch.rs`.
    batches: Vec<batch::Batch>,
}

/// How long after a take a heartbeat must list the job; see [`Store::ping`].
const UNREPORTED_JOB_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Worker {
    last_seen: Instant,
    /// Open job-take / job-stop long polls; a worker waiting on one is alive.
    open_polls: u32,
    /// Jobs this worker runs, in take order.
    held: Vec<String>,
    /// Jobs this worker must stop, not yet handed out through job-stop.
    pending_stops: Vec<String>,
    stop_notify: Arc<Notify>,
    heartbeat_armed: bool,
    /// The worker has listed its jobs in a heartbeat (`?job_id=`), so a heartbeat that leaves
    /// a job out means the worker no longer has it.
    reports_jobs: bool,
}

impl Worker {
    fn new(now: Instant) -> Self {
        Self {
            last_seen: now,
            reports_jobs: false,
            open_polls: 0,
            held: Vec::new(),
            pending_stops: Vec::new(),
            stop_notify: Arc::new(Notify::new()),
            heartbeat_armed: false,
        }
    }
}

impl Store {
    pub(crate) fn new(config: Arc<Config>, shutdown: CancellationToken) -> Self {
        Self {
            state: Mutex::new(State::default()),
            config,
            reaper_wake: Notify::new(),
            shutdown,
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside a critical section leaves maps that are still consistent enough to
        // serve; refusing every later request would be worse for a test server.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` under the lock, then sends the webhooks it queued and wakes the reaper if a
    /// deadline moved earlier.
    fn with_state<R>(&self, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let now = Instant::now();
        let (result, outbox, wake) = {
            let mut state = self.lock();
            let result = f(&mut state, now);
            (
                result,
                std::mem::take(&mut state.outbox),
                state.timers.take_earlier(),
            )
        };
        if wake {
            self.reaper_wake.notify_one();
        }
        for delivery in outbox {
            tokio::spawn(webhook::deliver(delivery, self.shutdown.clone()));
        }
        result
    }

    /// Waits until `ready` yields a value, `deadline` passes or the server shuts down.
    async fn wait_for<T>(
        &self,
        notify: &Notify,
        deadline: Instant,
        mut ready: impl FnMut(&mut State, Instant) -> Option<T>,
    ) -> Option<T> {
        loop {
            let mut notified = pin!(notify.notified());
            notified.as_mut().enable();
            if let Some(value) = self.with_state(&mut ready) {
                return Some(value);
            }
            tokio::select! {
                () = &mut notified => {}
                () = sleep_until(deadline) => return None,
                () = self.shutdown.cancelled() => return None,
            }
        }
    }

    fn job_notify(&self, endpoint: &str, job_id: &str) -> Option<Arc<Notify>> {
        let state = self.lock();
        Some(
            state
                .endpoints
                .get(endpoint)?
                .jobs
                .get(job_id)?
                .changed
                .clone(),
        )
    }

    // ---- client side ------------------------------------------------------------------------

    /// Queues a job (`/run`, or `/runsync` when `sync`). With an in-process handler, the
    /// endpoint's first job starts its take loop.
    pub(crate) fn submit(
        self: &Arc<Self>,
        endpoint: &str,
        request: JobRequest,
        sync: bool,
    ) -> JobState {
        let config = &self.config;
        let (reply, start_inline) = self.with_state(|state, now| {
            let policy = request.policy.as_ref();
            let execution_timeout = policy
                .and_then(|p| p.execution_timeout)
                .map_or(config.default_execution_timeout, millis_to_duration);
            let ttl = policy
                .and_then(|p| p.ttl)
                .map_or(config.default_ttl, millis_to_duration);
            let id = new_job_id(sync);
            let job = Job::new(id.clone(), request, sync, execution_timeout, ttl, now);
            state
                .timers
                .push(job.ttl_deadline, endpoint, &id, TimerKind::Ttl);
            let reply = job.state();
            let ep = state.endpoints.entry(endpoint.to_owned()).or_default();
            ep.jobs.insert(id.clone(), job);
            ep.queue.push_back(id);
            ep.work_available.notify_waiters();
            let start_inline =
                config.inline_handler.is_some() && !std::mem::replace(&mut ep.inline_worker, true);
            tracing::debug!(endpoint, job = %reply.id, "job queued");
            (reply, start_inline)
        });
        if let (true, Some(handler)) = (start_inline, &config.inline_handler) {
            crate::inline::serve_endpoint(Arc::clone(self), handler.clone(), endpoint.to_owned());
        }
        reply
    }

    pub(crate) fn status(&self, endpoint: &str, job_id: &str) -> Option<JobState> {
        let state = self.lock();
        Some(state.endpoints.get(endpoint)?.jobs.get(job_id)?.state())
    }

    /// The job once terminal, or as it is when `wait` runs out. `None`: unknown or gone.
    pub(crate) async fn wait_terminal(
        &self,
        endpoint: &str,
        job_id: &str,
        wait: Duration,
    ) -> Option<JobState> {
        let notify = self.job_notify(endpoint, job_id)?;
        let deadline = Instant::now() + wait;
        let found = self
            .wait_for(&notify, deadline, |state, _| {
                match state.endpoints.get(endpoint)?.jobs.get(job_id) {
                    None => Some(None),
                    Some(job) if job.status.is_terminal() => Some(Some(job.state())),
                    Some(_) => None,
                }
            })
            .await;
        match found {
            Some(terminal_or_gone) => terminal_or_gone,
            None => self.status(endpoint, job_id),
        }
    }

    /// `/stream`: the chunks not read before, with the job's status. With a `wait`, holds the
    /// request until there is a chunk or the job ends.
    pub(crate) async fn read_stream(
        &self,
        endpoint: &str,
        job_id: &str,
        wait: Duration,
    ) -> Option<Value> {
        if !wait.is_zero() {
            let notify = self.job_notify(endpoint, job_id)?;
            let deadline = Instant::now() + wait;
            self.wait_for(&notify, deadline, |state, _| {
                let ep = state.endpoints.get(endpoint)?;
                match ep.jobs.get(job_id) {
                    None => Some(()),
                    Some(job) if job.has_unread_chunks() || job.status.is_terminal() => Some(()),
                    Some(_) => None,
                }
            })
            .await;
        }
        let mut state = self.lock();
        let job = state.endpoints.get_mut(endpoint)?.jobs.get_mut(job_id)?;
        let chunks = job.take_unread_chunks();
        let terminal = job.status.is_terminal();
        let reply = StreamResponse {
            id: Some(job.id.clone()),
            status: Some(job.status.clone()),
            output: if terminal { job.output.clone() } else { None },
            error: job.error.clone(),
            ..Default::default()
        };
        // Chunks are copied verbatim: a typed chunk would drop an `"output": null`, which the
        // Python client indexes.
        let mut body = serde_json::to_value(reply).ok()?;
        if let Value::Object(map) = &mut body {
            map.insert("stream".to_owned(), Value::Array(chunks));
        }
        Some(body)
    }

    pub(crate) fn cancel(&self, endpoint: &str, job_id: &str) -> Option<JobState> {
        let config = &self.config;
        self.with_state(|state, now| {
            let ep = state.endpoints.get_mut(endpoint)?;
            let job = ep.jobs.get_mut(job_id)?;
            let holder = job.worker_id.clone();
            let was = job.status.clone();
            if !was.is_terminal() {
                job.end(JobStatus::Cancelled, now);
                settle(
                    job,
                    endpoint,
                    &mut state.timers,
                    &mut state.outbox,
                    now,
                    config,
                );
                if was == JobStatus::InProgress
                    && let Some(worker) = holder
                {
                    signal_stop(&mut ep.workers, &worker, job_id);
                }
                tracing::debug!(endpoint, job = job_id, from = %was, "job cancelled");
            }
            Some(job.state())
        })
    }

    pub(crate) fn retry(&self, endpoint: &str, job_id: &str) -> Result<JobState, ApiError> {
        self.with_state(|state, now| {
            let ep = state
                .endpoints
                .get_mut(endpoint)
                .ok_or_else(|| ApiError::job_not_found(job_id))?;
            let job = ep
                .jobs
                .get_mut(job_id)
                .ok_or_else(|| ApiError::job_not_found(job_id))?;
            if !matches!(job.status, JobStatus::Failed | JobStatus::TimedOut) {
                return Err(ApiError::bad_request(format!(
                    "job {job_id} is {}; only FAILED or TIMED_OUT jobs can be retried",
                    job.status
                )));
            }
            job.retry(now);
            ep.queue.push_back(job_id.to_owned());
            ep.work_available.notify_waiters();
            Ok(job.state())
        })
    }

    /// Removes every queued job; returns how many.
    pub(crate) fn purge(&self, endpoint: &str) -> usize {
        self.with_state(|state, _| {
            let Some(ep) = state.endpoints.get_mut(endpoint) else {
                return 0;
            };
            let mut removed = 0;
            for id in std::mem::take(&mut ep.queue) {
                if ep
                    .jobs
                    .get(&id)
                    .is_some_and(|j| j.status == JobStatus::InQueue)
                    && let Some(job) = ep.jobs.remove(&id)
                {
                    job.changed.notify_waiters();
                    removed += 1;
                }
            }
            removed
        })
    }

    pub(crate) fn health(&self, endpoint: &str) -> HealthResponse {
        let state = self.lock();
        let (mut completed, mut failed, mut in_progress, mut in_queue, mut retried) =
            (0, 0, 0, 0, 0);
        let (mut idle, mut running) = (0, 0);
        if let Some(ep) = state.endpoints.get(endpoint) {
            for job in ep.jobs.values() {
                match job.status {
                    JobStatus::Completed => completed += 1,
                    JobStatus::Failed | JobStatus::TimedOut => failed += 1,
                    JobStatus::InProgress => in_progress += 1,
                    JobStatus::InQueue => in_queue += 1,
                    _ => {}
                }
                if job.retries > 0 {
                    retried += 1;
                }
            }
            for worker in ep.workers.values() {
                if worker.held.is_empty() {
                    idle += 1;
                } else {
                    running += 1;
                }
            }
        }
        HealthResponse {
            jobs: Some(HealthJobs {
                completed: Some(completed),
                failed: Some(failed),
                in_progress: Some(in_progress),
                in_queue: Some(in_queue),
                retried: Some(retried),
            }),
            workers: Some(HealthWorkers {
                idle: Some(idle),
                running: Some(running),
                ..Default::default()
            }),
        }
    }

    // ---- worker side ------------------------------------------------------------------------

    /// job-take: up to `max` jobs, waiting up to the hold time for the first one.
    pub(crate) async fn take(&self, endpoint: &str, worker: &str, max: usize) -> Vec<WorkerJob> {
        let config = &self.config;
        let _poll = self.open_poll(endpoint, worker);
        let notify = self.with_state(|state, _| {
            state
                .endpoints
                .entry(endpoint.to_owned())
                .or_default()
                .work_available
                .clone()
        });
        let deadline = Instant::now() + config.hold_time;
        self.wait_for(&notify, deadline, |state, now| {
            let jobs = state.take_jobs(endpoint, worker, max, now, config);
            (!jobs.is_empty()).then_some(jobs)
        })
        .await
        .unwrap_or_default()
    }

    /// job-stop: the jobs this worker must stop, waiting up to the hold time for one.
    pub(crate) async fn stop_signals(&self, endpoint: &str, worker: &str) -> Vec<String> {
        let _poll = self.open_poll(endpoint, worker);
        let notify = self.with_state(|state, _| {
            let ep = state.endpoints.entry(endpoint.to_owned()).or_default();
            ep.workers.get(worker).map(|w| w.stop_notify.clone())
        });
        let Some(notify) = notify else {
            return Vec::new();
        };
        let deadline = Instant::now() + self.config.hold_time;
        self.wait_for(&notify, deadline, |state, _| {
            let w = state.endpoints.get_mut(endpoint)?.workers.get_mut(worker)?;
            (!w.pending_stops.is_empty()).then(|| std::mem::take(&mut w.pending_stops))
        })
        .await
        .unwrap_or_default()
    }

    /// job-done: a final result, or a progress update when `status` is IN_PROGRESS.
    pub(crate) fn report(
        &self,
        endpoint: &str,
        worker: &str,
        job_id: &str,
        body: Map<String, Value>,
    ) -> Result<(), ApiError> {
        let config = &self.config;
        self.with_state(|state, now| {
            state.touch_worker(endpoint, worker, now, config);
            let ep = state
                .endpoints
                .get_mut(endpoint)
                .ok_or_else(|| ApiError::job_not_found(job_id))?;
            let job = held_job(&mut ep.jobs, worker, job_id)?;
            let status = body
                .get("status")
                .and_then(Value::as_str)
                .map(JobStatus::from);
            if status == Some(JobStatus::InProgress) {
                job.output = body.get("output").cloned();
                job.changed.notify_waiters();
                return Ok(());
            }
            job.error = body.get("error").filter(|e| !e.is_null()).cloned();
            job.output = body.get("output").cloned();
            let end = if job.error.is_some() || status == Some(JobStatus::Failed) {
                JobStatus::Failed
            } else {
                JobStatus::Completed
            };
            job.end(end, now);
            settle(
                job,
                endpoint,
                &mut state.timers,
                &mut state.outbox,
                now,
                config,
            );
            if let Some(w) = ep.workers.get_mut(worker) {
                w.held.retain(|held| held != job_id);
            }
            if body.get("stopPod") == Some(&Value::Bool(true)) {
                tracing::info!(endpoint, worker, "worker asked to be stopped (stopPod)");
            }
            Ok(())
        })
    }

    /// job-stream: one chunk of partial output, kept as sent.
    pub(crate) fn append_chunk(
        &self,
        endpoint: &str,
        worker: &str,
        job_id: &str,
        chunk: Map<String, Value>,
    ) -> Result<(), ApiError> {
        let config = &self.config;
        self.with_state(|state, now| {
            state.touch_worker(endpoint, worker, now, config);
            let ep = state
                .endpoints
                .get_mut(endpoint)
                .ok_or_else(|| ApiError::job_not_found(job_id))?;
            held_job(&mut ep.jobs, worker, job_id)?.push_chunk(Value::Object(chunk));
            Ok(())
        })
    }

    /// A heartbeat; `reported` are the jobs the worker says it runs (`?job_id=a,b`).
    ///
    /// A reported job the worker no longer holds (cancelled, timed out, expired, or given to
    /// another worker) gets its stop signal again: the Python worker drops a signal that arrives
    /// before the job's task has started, and would otherwise run the job to its end.
    ///
    /// A held job the worker leaves out, although it was handed out well before this heartbeat,
    /// is lost on the worker's side (typically a worker restarted under the same id, as a
    /// container restart keeps `RUNPOD_POD_ID`): it is queued again, counted as a retry, exactly
    /// as when a worker's heartbeats stop. Only workers that have listed jobs before are judged
    /// this way, so a worker that never reports its jobs is not misread as holding none.
    pub(crate) fn ping(&self, endpoint: &str, worker: &str, reported: &[&str]) {
        let config = &self.config;
        self.with_state(|state, now| {
            state.touch_worker(endpoint, worker, now, config);
            let Some(ep) = state.endpoints.get_mut(endpoint) else {
                return;
            };
            let Some(w) = ep.workers.get_mut(worker) else {
                return;
            };
            w.reports_jobs |= !reported.is_empty();
            if w.reports_jobs {
                // A heartbeat sent just before a take can arrive just after it.
                let grace = config.heartbeat_timeout.min(UNREPORTED_JOB_GRACE);
                let cutoff = now.checked_sub(grace).unwrap_or(now);
                let mut requeued = Vec::new();
                w.held.retain(|id| {
                    let lost = !reported.contains(&id.as_str())
                        && ep
                            .jobs
                            .get(id)
                            .is_some_and(|job| job.is_held_by(worker) && job.started_by(cutoff));
                    if lost {
                        requeued.push(id.clone());
                    }
                    !lost
                });
                for id in requeued.iter().rev() {
                    if let Some(job) = ep.jobs.get_mut(id) {
                        job.requeue();
                        ep.queue.push_front(id.clone());
                    }
                }
                if !requeued.is_empty() {
                    ep.work_available.notify_waiters();
                    tracing::warn!(
                        endpoint,
                        worker,
                        requeued = requeued.len(),
                        "heartbeat no longer lists jobs the worker held; they are queued again"
                    );
                }
            }
            let mut signalled = false;
            for &id in reported {
                let holds = ep.jobs.get(id).is_some_and(|job| job.is_held_by(worker));
                if !holds && !w.pending_stops.iter().any(|pending| pending == id) {
                    w.pending_stops.push(id.to_owned());
                    signalled = true;
                }
            }
            if signalled {
                w.stop_notify.notify_waiters();
            }
        });
    }

    fn open_poll<'a>(&'a self, endpoint: &str, worker: &str) -> PollGuard<'a> {
        let config = &self.config;
        self.with_state(|state, now| {
            state.touch_worker(endpoint, worker, now, config);
            if let Some(w) = state
                .endpoints
                .get_mut(endpoint)
                .and_then(|ep| ep.workers.get_mut(worker))
            {
                w.open_polls += 1;
            }
        });
        PollGuard {
            store: self,
            endpoint: endpoint.to_owned(),
            worker: worker.to_owned(),
        }
    }

    // ---- deadlines --------------------------------------------------------------------------

    /// Fires due deadlines until the server shuts down.
    pub(crate) async fn run_reaper(self: Arc<Self>) {
        let config = &self.config;
        loop {
            // `notify_one` leaves a permit when nobody waits, so a deadline pushed between the
            // computation below and the wait is not missed.
            let woken = self.reaper_wake.notified();
            let next = self.with_state(|state, now| state.fire_due(now, config));
            let sleep = async {
                match next {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = woken => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }
}

/// Keeps a worker counted as alive while one of its long polls is open.
struct PollGuard<'a> {
    store: &'a Store,
    endpoint: String,
    worker: String,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut state = self.store.lock();
        if let Some(w) = state
            .endpoints
            .get_mut(&self.endpoint)
            .and_then(|ep| ep.workers.get_mut(&self.worker))
        {
            w.open_polls = w.open_polls.saturating_sub(1);
            w.last_seen = now;
        }
    }
}

impl State {
    /// Records that `worker` is alive, registering it on first contact.
    fn touch_worker(&mut self, endpoint: &str, worker: &str, now: Instant, config: &Config) {
        let ep = self.endpoints.entry(endpoint.to_owned()).or_default();
        let w = ep
            .workers
            .entry(worker.to_owned())
            .or_insert_with(|| Worker::new(now));
        w.last_seen = now;
        if !w.heartbeat_armed {
            w.heartbeat_armed = true;
            self.timers.push(
                now + config.heartbeat_timeout,
                endpoint,
                worker,
                TimerKind::Heartbeat,
            );
        }
    }

    fn take_jobs(
        &mut self,
        endpoint: &str,
        worker: &str,
        max: usize,
        now: Instant,
        config: &Config,
    ) -> Vec<WorkerJob> {
        self.touch_worker(endpoint, worker, now, config);
        let Some(ep) = self.endpoints.get_mut(endpoint) else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        while taken.len() < max {
            let Some(id) = ep.queue.pop_front() else {
                break;
            };
            let Some(job) = ep.jobs.get_mut(&id) else {
                continue;
            };
            if job.status != JobStatus::InQueue {
                continue;
            }
            job.start(worker, now);
            self.timers.push(
                now + job.execution_timeout,
                endpoint,
                &id,
                TimerKind::ExecutionTimeout {
                    attempt: job.attempt,
                },
            );
            taken.push(job.worker_job());
        }
        if let Some(w) = ep.workers.get_mut(worker) {
            w.held.extend(taken.iter().map(|job| job.id.clone()));
        }
        if !taken.is_empty() {
            tracing::debug!(endpoint, worker, count = taken.len(), "jobs taken");
        }
        taken
    }

    /// Fires every due deadline; returns the next one.
    fn fire_due(&mut self, now: Instant, config: &Config) -> Option<Instant> {
        while let Some(timer) = self.timers.pop_due(now) {
            let (endpoint, subject) = (timer.endpoint.as_str(), timer.subject.as_str());
            match timer.kind {
                TimerKind::Heartbeat => self.check_heartbeat(endpoint, subject, now, config),
                TimerKind::ExecutionTimeout { attempt } => {
                    self.time_out(endpoint, subject, attempt, now, config);
                }
                TimerKind::Ttl => self.expire_ttl(endpoint, subject, now),
                TimerKind::Retention => self.expire_result(endpoint, subject, now),
            }
        }
        self.timers.next_deadline()
    }

    fn check_heartbeat(&mut self, endpoint: &str, worker: &str, now: Instant, config: &Config) {
        let Some(ep) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        let Some(w) = ep.workers.get_mut(worker) else {
            return;
        };
        let due = w.last_seen + config.heartbeat_timeout;
        if w.open_polls > 0 {
            self.timers.push(
                now + config.heartbeat_timeout,
                endpoint,
                worker,
                TimerKind::Heartbeat,
            );
            return;
        }
        if due > now {
            self.timers
                .push(due, endpoint, worker, TimerKind::Heartbeat);
            return;
        }
        let Some(gone) = ep.workers.remove(worker) else {
            return;
        };
        let mut requeued = 0;
        // Front of the queue, oldest first: these jobs were submitted before anything queued now.
        for id in gone.held.iter().rev() {
            if let Some(job) = ep.jobs.get_mut(id)
                && job.is_held_by(worker)
            {
                job.requeue();
                ep.queue.push_front(id.clone());
                requeued += 1;
            }
        }
        if requeued > 0 {
            ep.work_available.notify_waiters();
        }
        tracing::warn!(
            endpoint,
            worker,
            requeued,
            "worker lost (no heartbeat); its jobs are queued again"
        );
    }

    fn time_out(
        &mut self,
        endpoint: &str,
        job_id: &str,
        attempt: u64,
        now: Instant,
        config: &Config,
    ) {
        let Some(ep) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        let Some(job) = ep.jobs.get_mut(job_id) else {
            return;
        };
        if job.status != JobStatus::InProgress || job.attempt != attempt {
            return;
        }
        let holder = job.worker_id.clone();
        job.end(JobStatus::TimedOut, now);
        settle(
            job,
            endpoint,
            &mut self.timers,
            &mut self.outbox,
            now,
            config,
        );
        if let Some(worker) = holder {
            signal_stop(&mut ep.workers, &worker, job_id);
        }
        tracing::info!(endpoint, job = job_id, "job timed out");
    }

    fn expire_ttl(&mut self, endpoint: &str, job_id: &str, now: Instant) {
        let Some(ep) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        if ep.jobs.get(job_id).is_none_or(|job| job.ttl_deadline > now) {
            return;
        }
        let Some(job) = ep.jobs.remove(job_id) else {
            return;
        };
        if job.status == JobStatus::InProgress
            && let Some(worker) = &job.worker_id
        {
            signal_stop(&mut ep.workers, worker, job_id);
        }
        job.changed.notify_waiters();
        tracing::info!(endpoint, job = job_id, "job expired (ttl)");
    }

    fn expire_result(&mut self, endpoint: &str, job_id: &str, now: Instant) {
        let Some(ep) = self.endpoints.get_mut(endpoint) else {
            return;
        };
        let expired = ep.jobs.get(job_id).is_some_and(|job| {
            job.status.is_terminal() && job.expires_at.is_some_and(|at| at <= now)
        });
        if expired && let Some(job) = ep.jobs.remove(job_id) {
            job.changed.notify_waiters();
        }
    }
}

/// The job `worker` runs, or why it may not report on it.
fn held_job<'a>(
    jobs: &'a mut HashMap<String, Job>,
    worker: &str,
    job_id: &str,
) -> Result<&'a mut Job, ApiError> {
    let job = jobs
        .get_mut(job_id)
        .ok_or_else(|| ApiError::job_not_found(job_id))?;
    if job.is_held_by(worker) {
        return Ok(job);
    }
    let why = match job.status {
        JobStatus::InQueue => "it is waiting in the queue".to_owned(),
        JobStatus::InProgress => "another worker runs it".to_owned(),
        ref status => format!("it is already {status}"),
    };
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        format!("job {job_id} is not held by worker {worker}: {why}"),
    ))
}

/// Bookkeeping once a job reached a terminal state: result retention and the webhook.
fn settle(
    job: &mut Job,
    endpoint: &str,
    timers: &mut Timers,
    outbox: &mut Vec<Delivery>,
    now: Instant,
    config: &Config,
) {
    let retention = if job.sync {
        config.sync_result_retention
    } else {
        config.result_retention
    };
    let at = now + retention;
    job.expires_at = Some(at);
    timers.push(at, endpoint, &job.id, TimerKind::Retention);
    if let Some(url) = &job.webhook {
        outbox.push(Delivery::new(url.clone(), &job.state()));
    }
}

/// Tells `worker` (through job-stop) to stop `job_id`, which it no longer holds.
fn signal_stop(workers: &mut HashMap<String, Worker>, worker: &str, job_id: &str) {
    if let Some(w) = workers.get_mut(worker) {
        w.held.retain(|held| held != job_id);
        w.pending_stops.push(job_id.to_owned());
        w.stop_notify.notify_waiters();
    }
}

fn millis_to_duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Runpod-shaped ids: a uuid with a `-u1` suffix, `sync-` in front for `/runsync`.
fn new_job_id(sync: bool) -> String {
    let uuid = uuid::Uuid::new_v4();
    if sync {
        format!("sync-{uuid}-u1")
    } else {
        format!("{uuid}-u1")
    }
}
