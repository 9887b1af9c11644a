//! Worker operations: job-take, job-stop, job-done, job-stream and heartbeats.

use std::collections::HashMap;
use std::time::Duration;

use runpod_types::serverless::{JobResult, JobStatus, StreamChunk, WorkerJob};
use tokio::time::Instant;

use super::job::{Job, Jobs};
use super::timers::{TimerKind, Timers};
use super::webhooks::settle;
use super::{Endpoint, State, Store, Worker};
use crate::config::Config;
use crate::error::ApiError;
use crate::limits::Charge;

/// How long after a take a heartbeat must list the job; see [`Store::ping`].
const UNREPORTED_JOB_GRACE: Duration = Duration::from_secs(5);

impl Store {
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

    /// job-done: a final result, or a progress update when `status` is IN_PROGRESS; `charge`
    /// holds its bytes for as long as the job keeps it.
    pub(crate) fn report(
        &self,
        endpoint: &str,
        worker: &str,
        job_id: &str,
        body: JobResult,
        charge: Charge,
    ) -> Result<(), ApiError> {
        let config = &self.config;
        self.with_state(|state, now| {
            let ep = touch_worker(
                &mut state.endpoints,
                &mut state.timers,
                endpoint,
                worker,
                now,
                config,
            );
            let job = held_job(&mut ep.jobs, worker, job_id)?;
            let status = body.status;
            job.output_charge = charge;
            if status == Some(JobStatus::InProgress) {
                job.trace
                    .progress(&state.console, now, body.output.as_ref());
                job.set_output(body.output);
                state.console.job(endpoint, job, now);
                job.changed.notify_waiters();
                return Ok(());
            }
            job.set_error(body.error.filter(|e| !e.is_null()));
            job.set_output(body.output);
            let end = if job.error().is_some() || status == Some(JobStatus::Failed) {
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
            state.console.job(endpoint, job, now);
            if let Some(w) = ep.workers.get_mut(worker) {
                w.held.remove(job_id);
            }
            if body.stop_pod == Some(true) {
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
        chunk: StreamChunk,
        charge: Charge,
    ) -> Result<(), ApiError> {
        let config = &self.config;
        self.with_state(|state, now| {
            let ep = touch_worker(
                &mut state.endpoints,
                &mut state.timers,
                endpoint,
                worker,
                now,
                config,
            );
            let job = held_job(&mut ep.jobs, worker, job_id)?;
            job.push_chunk(chunk, charge);
            state.console.job(endpoint, job, now);
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
    pub(crate) fn ping(&self, endpoint: &str, worker: &str, reported: &[&str], unhealthy: bool) {
        let config = &self.config;
        self.with_state(|state, now| {
            let ep = touch_worker(
                &mut state.endpoints,
                &mut state.timers,
                endpoint,
                worker,
                now,
                config,
            );
            let Some(w) = ep.workers.get_mut(worker) else {
                return;
            };
            w.unhealthy = unhealthy;
            w.reports_jobs |= !reported.is_empty();
            if w.reports_jobs {
                // A heartbeat sent just before a take can arrive just after it.
                let grace = config.heartbeat_timeout.min(UNREPORTED_JOB_GRACE);
                let cutoff = now.checked_sub(grace).unwrap_or(now);
                let requeued = w.held.retain(|id| {
                    let lost = !reported.contains(&id)
                        && ep
                            .jobs
                            .get(id)
                            .is_some_and(|job| job.is_held_by(worker) && job.started_by(cutoff));
                    !lost
                });
                for id in requeued.iter().rev() {
                    if let Some(job) = ep.jobs.get_mut(id) {
                        job.requeue();
                        state.console.job(endpoint, job, now);
                        ep.queue.push_front(job.id.clone());
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
            let ep = touch_worker(
                &mut state.endpoints,
                &mut state.timers,
                endpoint,
                worker,
                now,
                config,
            );
            if let Some(w) = ep.workers.get_mut(worker) {
                w.open_polls += 1;
            }
        });
        PollGuard {
            store: self,
            endpoint: endpoint.to_owned(),
            worker: worker.to_owned(),
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

/// Records that `worker` is alive, registering it (and its endpoint) on first contact, and hands
/// back the endpoint. A function of the two fields it touches rather than a method of `State`, so
/// that a caller keeps the console, timers and outbox at hand beside the endpoint it got.
fn touch_worker<'a>(
    endpoints: &'a mut HashMap<String, Endpoint>,
    timers: &mut Timers,
    endpoint: &str,
    worker: &str,
    now: Instant,
    config: &Config,
) -> &'a mut Endpoint {
    let ep = endpoints.entry(endpoint.to_owned()).or_default();
    let w = ep
        .workers
        .entry(worker.to_owned())
        .or_insert_with(|| Worker::new(now));
    w.last_seen = now;
    if !w.heartbeat_armed {
        w.heartbeat_armed = true;
        timers.push(
            now + config.heartbeat_timeout,
            endpoint,
            worker.into(),
            TimerKind::Heartbeat,
        );
    }
    ep
}

impl State {
    pub(super) fn take_jobs(
        &mut self,
        endpoint: &str,
        worker: &str,
        max: usize,
        now: Instant,
        config: &Config,
    ) -> Vec<WorkerJob> {
        let ep = touch_worker(
            &mut self.endpoints,
            &mut self.timers,
            endpoint,
            worker,
            now,
            config,
        );
        let mut taken = Vec::new();
        let mut held = Vec::new();
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
            self.console.job(endpoint, job, now);
            self.timers.push(
                now + job.execution_timeout,
                endpoint,
                std::sync::Arc::clone(&id),
                TimerKind::ExecutionTimeout {
                    attempt: job.attempt,
                },
            );
            taken.push(job.worker_job());
            held.push(id);
        }
        if let Some(w) = ep.workers.get_mut(worker) {
            for id in held {
                w.held.insert(id);
            }
        }
        if !taken.is_empty() {
            tracing::debug!(endpoint, worker, count = taken.len(), "jobs taken");
        }
        taken
    }
}

/// The job `worker` runs, or why it may not report on it.
fn held_job<'a>(jobs: &'a mut Jobs, worker: &str, job_id: &str) -> Result<&'a mut Job, ApiError> {
    let job: &mut Job = jobs
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
