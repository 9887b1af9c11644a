//! The queue: every endpoint's jobs and workers behind one mutex.
//!
//! Critical sections only touch in-memory maps; nothing awaits while the lock is held. Waiting
//! (long polls, `/runsync`) uses [`Notify`]: a waiter registers before it checks the state, so a
//! change between the check and the wait still wakes it.

pub(crate) mod batch;
mod client;
#[cfg(feature = "console")]
pub(crate) mod console;
#[cfg(not(feature = "console"))]
#[path = "console_off.rs"]
mod console;
mod job;
mod reaper;
mod timers;
mod webhooks;
mod worker;

use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use self::timers::Timers;
use crate::config::Config;
use crate::limits::Ledger;
use crate::webhook::Delivery;

/// Shared server state.
#[derive(Debug)]
pub(crate) struct Store {
    state: Mutex<State>,
    config: Arc<Config>,
    reaper_wake: Notify,
    shutdown: CancellationToken,
    first_job_hook: Option<FirstJobHook>,
    /// Bytes of stored inputs, results and chunks (`Limits::stored_bytes`).
    ledger: Arc<Ledger>,
}

/// Run, outside the lock, when an endpoint gets its first job. The server starts in-process
/// handlers this way, so the store does not depend on them (they depend on the store).
pub(crate) struct FirstJobHook(Box<FirstJobFn>);

/// The hook's signature: the store and the endpoint id.
type FirstJobFn = dyn Fn(&Arc<Store>, &str) + Send + Sync;

impl std::fmt::Debug for FirstJobHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FirstJobHook")
    }
}

#[derive(Debug, Default)]
struct State {
    endpoints: HashMap<String, Endpoint>,
    timers: Timers,
    /// Webhooks to send once the lock is released.
    outbox: Vec<Delivery>,
    /// The console's live feed and job history (`console.rs`).
    console: console::Console,
}

/// One endpoint id: its own queue, jobs and workers, created on first use.
#[derive(Debug, Default)]
struct Endpoint {
    /// Ids in take order. Cancelled or expired jobs leave stale ids here; takers skip them.
    queue: VecDeque<Arc<str>>,
    jobs: job::Jobs,
    workers: HashMap<String, Worker>,
    work_available: Arc<Notify>,
    /// A job was queued here before (the first-job hook has run).
    had_jobs: bool,
    /// Batch Jobs (beta), oldest first; see `batch.rs`.
    batches: Vec<batch::Batch>,
}

impl Endpoint {
    /// Jobs waiting in the queue. The queue may hold stale ids (cancelled or expired jobs,
    /// skipped by takers); they are dropped here first, which costs a pass over the queue only
    /// when it looks full.
    fn queued(&mut self) -> usize {
        let jobs = &self.jobs;
        self.queue.retain(|id| {
            jobs.get(id)
                .is_some_and(|job| job.status == runpod_types::serverless::JobStatus::InQueue)
        });
        self.queue.len()
    }
}

#[derive(Debug)]
struct Worker {
    last_seen: Instant,
    /// Open job-take / job-stop long polls; a worker waiting on one is alive.
    open_polls: u32,
    /// Jobs this worker runs; see [`Held`].
    held: Held,
    /// Jobs this worker must stop, not yet handed out through job-stop.
    pending_stops: Vec<String>,
    stop_notify: Arc<Notify>,
    heartbeat_armed: bool,
    /// The worker has listed its jobs in a heartbeat (`?job_id=`), so a heartbeat that leaves
    /// a job out means the worker no longer has it.
    reports_jobs: bool,
    /// The worker's last heartbeat reported a failed fitness check or start-up
    /// (`status=unhealthy`); counted as unhealthy in `/health` until a plain heartbeat.
    unhealthy: bool,
}

/// The jobs a worker runs, each with its place in take order. A map, not a list: a worker may
/// hold thousands (an in-process handler, a high-concurrency worker), and each job-done removes
/// one, which a list would search for.
#[derive(Debug, Default)]
struct Held {
    jobs: HashMap<Arc<str>, u64>,
    /// The next job's place.
    next: u64,
}

impl Held {
    fn insert(&mut self, id: Arc<str>) {
        self.jobs.insert(id, self.next);
        self.next += 1;
    }

    fn remove(&mut self, id: &str) {
        self.jobs.remove(id);
    }

    fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The ids, first taken first.
    fn in_take_order(&self) -> Vec<Arc<str>> {
        let mut held: Vec<_> = self.jobs.iter().collect();
        held.sort_unstable_by_key(|(_, place)| **place);
        held.into_iter().map(|(id, _)| Arc::clone(id)).collect()
    }

    /// Keeps the jobs `keep` says to; the others are handed back, first taken first.
    fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> Vec<Arc<str>> {
        let mut dropped = Vec::new();
        self.jobs.retain(|id, place| {
            let kept = keep(id);
            if !kept {
                dropped.push((*place, Arc::clone(id)));
            }
            kept
        });
        dropped.sort_unstable_by_key(|(place, _)| *place);
        dropped.into_iter().map(|(_, id)| id).collect()
    }
}

impl Worker {
    fn new(now: Instant) -> Self {
        Self {
            last_seen: now,
            reports_jobs: false,
            open_polls: 0,
            held: Held::default(),
            pending_stops: Vec::new(),
            stop_notify: Arc::new(Notify::new()),
            heartbeat_armed: false,
            unhealthy: false,
        }
    }
}

impl Store {
    pub(crate) fn new(config: Arc<Config>, shutdown: CancellationToken) -> Self {
        Self {
            state: Mutex::new(State::default()),
            ledger: Ledger::new(config.limits.stored_bytes),
            config,
            reaper_wake: Notify::new(),
            shutdown,
            first_job_hook: None,
        }
    }

    /// Runs `hook` with the endpoint id when an endpoint gets its first job.
    pub(crate) fn with_first_job_hook(
        mut self,
        hook: impl Fn(&Arc<Store>, &str) + Send + Sync + 'static,
    ) -> Self {
        self.first_job_hook = Some(FirstJobHook(Box::new(hook)));
        self
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
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
        let (result, outbox, wake, observer) = {
            let mut state = self.lock();
            let result = f(&mut state, now);
            let outbox = std::mem::take(&mut state.outbox);
            let observer = if outbox.is_empty() {
                None
            } else {
                state.console.webhook_observer()
            };
            (result, outbox, state.timers.take_earlier(), observer)
        };
        if wake {
            self.reaper_wake.notify_one();
        }
        webhooks::send(outbox, &self.shutdown, observer.as_ref());
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
}

/// Tells `worker` (through job-stop) to stop `job_id`, which it no longer holds.
fn signal_stop(workers: &mut HashMap<String, Worker>, worker: &str, job_id: &str) {
    if let Some(w) = workers.get_mut(worker) {
        w.held.remove(job_id);
        w.pending_stops.push(job_id.to_owned());
        w.stop_notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_jobs_come_back_in_take_order_whatever_was_removed() {
        let mut held = Held::default();
        let ids: Vec<Arc<str>> = (0..50).map(|i| Arc::from(format!("job-{i}"))).collect();
        for id in &ids {
            held.insert(Arc::clone(id));
        }
        for i in (0..50).step_by(3) {
            held.remove(&ids[i]);
        }
        let kept: Vec<Arc<str>> = (0..50)
            .filter(|i| i % 3 != 0)
            .map(|i| Arc::clone(&ids[i]))
            .collect();
        assert_eq!(held.in_take_order(), kept);
        // Dropping every job whose number is even hands them back first taken first.
        let dropped =
            held.retain(|id| id.trim_start_matches("job-").parse::<u32>().unwrap() % 2 == 1);
        let even: Vec<Arc<str>> = kept
            .iter()
            .filter(|id| id.trim_start_matches("job-").parse::<u32>().unwrap() % 2 == 0)
            .cloned()
            .collect();
        assert_eq!(dropped, even);
        assert!(held.in_take_order().iter().all(|id| !even.contains(id)));
        assert!(!held.is_empty());
    }
}
