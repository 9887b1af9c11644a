//! The reaper: one background task that fires every deadline (execution timeout, ttl, result
//! retention, heartbeat) from the timer heap.

use std::sync::Arc;

use runpod_types::serverless::JobStatus;
use tokio::time::{Instant, sleep_until};

use super::timers::TimerKind;
use super::webhooks::settle;
use super::{State, Store, signal_stop};
use crate::config::Config;

impl Store {
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

impl State {
    /// Fires every due deadline; returns the next one.
    fn fire_due(&mut self, now: Instant, config: &Config) -> Option<Instant> {
        while let Some(timer) = self.timers.pop_due(now) {
            let (endpoint, subject) = (&*timer.endpoint, &*timer.subject);
            match timer.kind {
                TimerKind::Heartbeat => self.check_heartbeat(endpoint, subject, now, config),
                TimerKind::ExecutionTimeout { attempt } => {
                    self.time_out(endpoint, subject, attempt, now, config);
                }
                TimerKind::Ttl => self.expire_ttl(endpoint, subject, now),
                TimerKind::Retention => self.expire_result(endpoint, subject, now),
            }
        }
        if self.timers.needs_compaction() {
            self.compact_timers();
        }
        self.timers.next_deadline()
    }

    /// Drops timers whose subject is gone or has moved on (a job expired or finished long ago
    /// leaves its ttl and execution-timeout entries behind).
    fn compact_timers(&mut self) {
        let endpoints = &self.endpoints;
        let before = self.timers.len();
        self.timers.compact(|timer| {
            let Some(ep) = endpoints.get(&*timer.endpoint) else {
                return false;
            };
            if timer.kind == TimerKind::Heartbeat {
                return ep.workers.contains_key(&*timer.subject);
            }
            let Some(job) = ep.jobs.get(&*timer.subject) else {
                return false;
            };
            match timer.kind {
                TimerKind::ExecutionTimeout { attempt } => {
                    job.status == JobStatus::InProgress && job.attempt == attempt
                }
                TimerKind::Retention => job.expires_at.is_some(),
                TimerKind::Ttl | TimerKind::Heartbeat => true,
            }
        });
        tracing::debug!(before, after = self.timers.len(), "timers compacted");
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
                worker.into(),
                TimerKind::Heartbeat,
            );
            return;
        }
        if due > now {
            self.timers
                .push(due, endpoint, worker.into(), TimerKind::Heartbeat);
            return;
        }
        let Some(gone) = ep.workers.remove(worker) else {
            return;
        };
        let mut requeued = 0;
        // Front of the queue, oldest first: these jobs were submitted before anything queued now.
        for id in gone.held.in_take_order().iter().rev() {
            if let Some(job) = ep.jobs.get_mut(&**id)
                && job.is_held_by(worker)
            {
                job.requeue();
                self.console.job(endpoint, job, now);
                ep.queue.push_front(job.id.clone());
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
        self.console.job(endpoint, job, now);
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
        self.console.gone(endpoint, &job, now);
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
            self.console.gone(endpoint, &job, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use runpod_types::serverless::{JobRequest, JobResult};
    use serde_json::Value;
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    use super::super::Store;
    use crate::config::Config;
    use crate::limits::Charge;

    #[tokio::test]
    async fn timers_of_jobs_that_are_gone_do_not_pile_up() {
        let config = Config {
            result_retention: Duration::from_millis(1),
            ..Config::default()
        };
        let store = Arc::new(Store::new(Arc::new(config), CancellationToken::new()));
        let config = store.config.clone();
        let request = || JobRequest {
            input: Value::from(1),
            ..Default::default()
        };
        for _ in 0..3_000 {
            let job = store
                .submit("ep", request(), Charge::default(), false)
                .unwrap();
            store.with_state(|state, now| state.take_jobs("ep", "w", 1, now, &config));
            let body = JobResult {
                output: Some(Value::from(2)),
                ..Default::default()
            };
            store
                .report("ep", "w", &job.id, body, Charge::default())
                .unwrap();
        }
        let mut state = store.lock();
        // ttl, execution timeout and retention per job, and the worker's heartbeat.
        assert_eq!(state.timers.len(), 9_001);
        state.fire_due(Instant::now() + Duration::from_secs(1), &config);
        assert!(state.endpoints["ep"].jobs.is_empty(), "results expired");
        // The worker's heartbeat entry stays; the jobs' ttl and execution timeouts went.
        assert_eq!(state.timers.len(), 1);
    }
}
