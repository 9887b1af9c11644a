//! Client operations: `/run`, `/runsync`, `/status`, `/stream`, `/cancel`, `/retry`,
//! `/purge-queue` and `/health`.

use std::sync::Arc;
use std::time::Duration;

use runpod_types::serverless::{
    HealthJobs, HealthResponse, HealthWorkers, JobRequest, JobState, JobStatus, StreamResponse,
};
use tokio::time::Instant;

use super::job::Job;
use super::timers::TimerKind;
use super::webhooks::settle;
use super::{Store, signal_stop};
use crate::error::ApiError;
use crate::limits::Charge;

impl Store {
    /// Queues a job (`/run`, or `/runsync` when `sync`), holding `charge` for its input. An
    /// endpoint's first job runs the first-job hook (the server starts in-process handlers with
    /// it). A full queue answers 429.
    pub(crate) fn submit(
        self: &Arc<Self>,
        endpoint: &str,
        request: JobRequest,
        charge: Charge,
        sync: bool,
    ) -> Result<JobState, ApiError> {
        let config = &self.config;
        let (reply, first_job) = self.with_state(|state, now| {
            let limit = config.limits.queued_jobs_per_endpoint;
            if let Some(ep) = state.endpoints.get_mut(endpoint)
                && ep.queue.len() >= limit
            {
                crate::limits::check_queue(ep.queued(), limit)?;
            }
            let policy = request.policy.as_ref();
            let execution_timeout = policy
                .and_then(|p| p.execution_timeout)
                .map_or(config.default_execution_timeout, millis_to_duration);
            let ttl = policy
                .and_then(|p| p.ttl)
                .map_or(config.default_ttl, millis_to_duration);
            let id = new_job_id(sync);
            let mut job = Job::new(
                id.clone(),
                request,
                charge,
                sync,
                execution_timeout,
                ttl,
                now,
            );
            job.trace = state.console.trace(now);
            state.console.job(endpoint, &job, now);
            state
                .timers
                .push(job.ttl_deadline, endpoint, &id, TimerKind::Ttl);
            let reply = job.state();
            let ep = state.endpoints.entry(endpoint.to_owned()).or_default();
            ep.jobs.insert(id.clone(), job);
            ep.queue.push_back(id);
            ep.work_available.notify_waiters();
            let first_job = !std::mem::replace(&mut ep.had_jobs, true);
            tracing::debug!(endpoint, job = %reply.id, "job queued");
            Ok((reply, first_job))
        })?;
        if first_job && let Some(hook) = &self.first_job_hook {
            (hook.0)(self, endpoint);
        }
        Ok(reply)
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
    ) -> Option<StreamResponse> {
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
        Some(StreamResponse {
            id: Some(job.id.clone()),
            status: Some(job.status.clone()),
            // Chunks keep an `"output": null` (the Python client indexes it) and unknown keys.
            stream: Some(chunks),
            output: if terminal { job.output.clone() } else { None },
            error: job.error.clone(),
            ..Default::default()
        })
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
                state.console.job(endpoint, job, now);
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
            state.console.job(endpoint, job, now);
            ep.queue.push_back(job_id.to_owned());
            ep.work_available.notify_waiters();
            Ok(job.state())
        })
    }

    /// Removes every queued job; returns how many.
    pub(crate) fn purge(&self, endpoint: &str) -> usize {
        self.with_state(|state, now| {
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
                    state.console.gone(endpoint, &id, now);
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
        let (mut idle, mut running, mut unhealthy) = (0, 0, 0);
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
                if worker.unhealthy {
                    unhealthy += 1;
                } else if worker.held.is_empty() {
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
                // Shown once a worker reported itself unhealthy (runpod-local's earlier answers
                // had only idle and running).
                unhealthy: (unhealthy > 0).then_some(unhealthy),
                ..Default::default()
            }),
        }
    }
}

pub(super) fn millis_to_duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Runpod-shaped ids: a uuid with a `-u1` suffix, `sync-` in front for `/runsync`.
pub(super) fn new_job_id(sync: bool) -> String {
    let uuid = uuid::Uuid::new_v4();
    if sync {
        format!("sync-{uuid}-u1")
    } else {
        format!("{uuid}-u1")
    }
}
