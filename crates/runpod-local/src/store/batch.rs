//! Batch Jobs (beta): DRAFT batches that collect requests, then queue them as ordinary jobs.
//!
//! A batch lives inside its endpoint, next to the jobs. While it is a DRAFT its requests are
//! kept here; `finalize` turns each into a job with the same id and `batchId` set, queued like a
//! `/run` job, so any worker takes them. From then on the summary counts are read from the jobs,
//! so they follow every job rule (timeouts, requeues, `/cancel`, ttl) without a second copy of
//! the life cycle.
//!
//! Retention follows the job rules too: a DRAFT lives as long as a queued job would (the default
//! ttl); a batch whose requests became jobs is removed once none of its jobs remains (each job's
//! result retention or ttl); a batch without jobs (cancelled as a DRAFT, or finalized empty) is
//! kept for the result retention. Expired batches are dropped when the endpoint's batches are
//! next touched.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::client::{millis_to_duration, new_job_id};
use super::job::Job;
use super::timers::TimerKind;
use super::webhooks::settle;
use super::{Endpoint, Store};
use crate::config::Config;
use crate::error::ApiError;
use crate::limits::Charge;
use crate::rest_v2::clock::{rfc3339, system};
use runpod_types::serverless::{
    Batch as BatchSummary, BatchRequest, BatchRequestStatus, BatchRequestsPage, BatchStatus,
    JobRequest, JobStatus,
};

/// Active (DRAFT, or FINALIZED and not done) batches one endpoint may have (documented).
pub(crate) const MAX_ACTIVE_BATCHES: usize = 10;
/// Requests one batch may hold (documented).
pub(crate) const MAX_BATCH_REQUESTS: usize = 5_000;
/// Jobs waiting in one endpoint's queue that a finalize may bring it up to (documented).
pub(crate) const MAX_QUEUED_PER_ENDPOINT: usize = 50_000;

/// One batch.
#[derive(Debug)]
pub(super) struct Batch {
    id: String,
    name: Option<String>,
    /// Attributes set through PUT that this server does not know, echoed back.
    attributes: Map<String, Value>,
    status: BatchStatus,
    created_at: String,
    finalized_at: Option<String>,
    requests: Vec<Request>,
    /// For a DRAFT or a batch without jobs: when it is dropped. A batch with jobs lives as long
    /// as one of them does.
    expires_at: Option<Instant>,
}

#[derive(Debug)]
struct Request {
    id: String,
    /// The request until the batch is finalized (then it lives in its job).
    draft: Option<JobRequest>,
    /// The last terminal status read from the job, kept for when the job expires before the
    /// batch does.
    ended: Option<JobStatus>,
}

/// The counts of a batch, read from its jobs.
#[derive(Debug, Default)]
struct Counts {
    completed: i64,
    failed: i64,
    in_queue: i64,
    in_progress: i64,
    /// Jobs that still exist.
    alive: usize,
}

impl Batch {
    fn counts(&mut self, jobs: &HashMap<String, Job>) -> Counts {
        let mut counts = Counts::default();
        if self.finalized_at.is_none() {
            return counts;
        }
        for request in &mut self.requests {
            let status = match jobs.get(&request.id) {
                Some(job) => {
                    counts.alive += 1;
                    if job.status.is_terminal() {
                        request.ended = Some(job.status.clone());
                    }
                    job.status.clone()
                }
                // Expired (ttl or retention) before the batch: its last terminal status, or
                // failed when it never ended.
                None => request.ended.clone().unwrap_or(JobStatus::Failed),
            };
            match status {
                JobStatus::Completed => counts.completed += 1,
                JobStatus::InQueue => counts.in_queue += 1,
                JobStatus::InProgress | JobStatus::Running => counts.in_progress += 1,
                _ if status.is_terminal() => counts.failed += 1,
                _ => {}
            }
        }
        counts
    }

    fn is_done(&self, counts: &Counts) -> bool {
        match self.status {
            BatchStatus::Draft => false,
            BatchStatus::Finalized => {
                counts.completed + counts.failed >= count(self.requests.len())
            }
            _ => true,
        }
    }

    /// The summary, settling a FINALIZED batch whose every request failed as FAILED.
    fn summary(&mut self, jobs: &HashMap<String, Job>) -> BatchSummary {
        let counts = self.counts(jobs);
        let total = count(self.requests.len());
        if self.status == BatchStatus::Finalized
            && total > 0
            && counts.failed == total
            && counts.completed == 0
        {
            self.status = BatchStatus::Failed;
        }
        BatchSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            status: Some(self.status.clone()),
            created_at: Some(self.created_at.clone()),
            finalized_at: self.finalized_at.clone(),
            request_total: Some(total),
            request_completed: Some(counts.completed),
            request_failed: Some(counts.failed),
            request_in_queue: Some(counts.in_queue),
            request_in_progress: Some(counts.in_progress),
            request_ids: None,
            extra: self.attributes.clone(),
        }
    }

    fn is_active(&mut self, jobs: &HashMap<String, Job>) -> bool {
        let counts = self.counts(jobs);
        !self.is_done(&counts)
    }

    fn is_expired(&self, jobs: &HashMap<String, Job>, now: Instant) -> bool {
        match self.expires_at {
            Some(at) => at <= now,
            None => !self.requests.iter().any(|r| jobs.contains_key(&r.id)),
        }
    }

    fn require_draft(&self, action: &str) -> Result<(), ApiError> {
        if self.status == BatchStatus::Draft {
            return Ok(());
        }
        Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "batch {} is {}; only a DRAFT batch can {action}",
                self.id, self.status
            ),
        ))
    }

    /// Adds requests after checking the per-batch limit; all or nothing. Returns their ids.
    fn add(&mut self, requests: Vec<JobRequest>) -> Result<Vec<String>, ApiError> {
        let after = self.requests.len() + requests.len();
        if after > MAX_BATCH_REQUESTS {
            return Err(ApiError::bad_request(format!(
                "batch {} would hold {after} requests; a batch holds at most {MAX_BATCH_REQUESTS} \
                 (nothing was added)",
                self.id
            )));
        }
        let mut ids = Vec::with_capacity(requests.len());
        for request in requests {
            let id = new_job_id(false);
            ids.push(id.clone());
            self.requests.push(Request {
                id,
                draft: Some(request),
                ended: None,
            });
        }
        Ok(ids)
    }
}

/// `createdAt` and `finalizedAt`, through the same clock seam as the REST v2 timestamps.
fn wall_clock_now() -> String {
    rfc3339(system()())
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn batch_not_found(batch_id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!("batch {batch_id} not found"),
    )
}

fn find<'a>(batches: &'a mut [Batch], batch_id: &str) -> Result<&'a mut Batch, ApiError> {
    batches
        .iter_mut()
        .find(|b| b.id == batch_id)
        .ok_or_else(|| batch_not_found(batch_id))
}

fn too_many(message: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, message)
}

impl Endpoint {
    fn drop_expired_batches(&mut self, now: Instant) {
        let jobs = &self.jobs;
        self.batches.retain(|b| !b.is_expired(jobs, now));
    }
}

/// A page of `GET /batch/{id}/requests`: default size and the most one page holds (assumed).
pub(crate) const PAGE_DEFAULT: usize = 100;
pub(crate) const PAGE_MAX: usize = 1_000;

impl Store {
    /// `POST /batch`: a new DRAFT holding `requests`.
    pub(crate) fn batch_create(
        &self,
        endpoint: &str,
        requests: Vec<JobRequest>,
    ) -> Result<BatchSummary, ApiError> {
        let config = &self.config;
        self.with_state(|state, now| {
            let ep = state.endpoints.entry(endpoint.to_owned()).or_default();
            ep.drop_expired_batches(now);
            let jobs = &ep.jobs;
            let active = ep
                .batches
                .iter_mut()
                .map(|b| b.is_active(jobs))
                .filter(|active| *active)
                .count();
            if active >= MAX_ACTIVE_BATCHES {
                return Err(too_many(format!(
                    "endpoint {endpoint} already has {active} active batches; at most \
                     {MAX_ACTIVE_BATCHES} may be open or running at once"
                )));
            }
            let mut batch = Batch {
                id: uuid::Uuid::new_v4().to_string(),
                name: None,
                attributes: Map::new(),
                status: BatchStatus::Draft,
                created_at: wall_clock_now(),
                finalized_at: None,
                requests: Vec::new(),
                expires_at: Some(now + config.default_ttl),
            };
            let ids = batch.add(requests)?;
            let mut summary = batch.summary(&ep.jobs);
            summary.request_ids = Some(ids);
            tracing::debug!(endpoint, batch = %batch.id, "batch created");
            ep.batches.push(batch);
            Ok(summary)
        })
    }

    /// `POST /batch/{id}/requests`.
    pub(crate) fn batch_append(
        &self,
        endpoint: &str,
        batch_id: &str,
        requests: Vec<JobRequest>,
    ) -> Result<BatchSummary, ApiError> {
        self.with_batch(endpoint, batch_id, |ep, batch, _| {
            batch.require_draft("accept requests")?;
            let ids = batch.add(requests)?;
            let mut summary = batch.summary(ep.jobs);
            summary.request_ids = Some(ids);
            Ok(summary)
        })
    }

    /// `PUT /batch/{id}`: `name`, and any other attribute kept as sent.
    pub(crate) fn batch_update(
        &self,
        endpoint: &str,
        batch_id: &str,
        name: Option<String>,
        attributes: Map<String, Value>,
    ) -> Result<BatchSummary, ApiError> {
        self.with_batch(endpoint, batch_id, |ep, batch, _| {
            if name.is_some() {
                batch.name = name;
            }
            batch.attributes.extend(attributes);
            Ok(batch.summary(ep.jobs))
        })
    }

    /// `DELETE /batch/{id}/requests/{request_id}`.
    pub(crate) fn batch_remove_request(
        &self,
        endpoint: &str,
        batch_id: &str,
        request_id: &str,
    ) -> Result<BatchSummary, ApiError> {
        self.with_batch(endpoint, batch_id, |ep, batch, _| {
            batch.require_draft("lose requests")?;
            let before = batch.requests.len();
            batch.requests.retain(|r| r.id != request_id);
            if batch.requests.len() == before {
                return Err(ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    format!("batch {batch_id} has no request {request_id}"),
                ));
            }
            Ok(batch.summary(ep.jobs))
        })
    }

    /// `POST /batch/{id}/finalize`: every request becomes a queued job carrying `batchId`.
    pub(crate) fn batch_finalize(
        self: &Arc<Self>,
        endpoint: &str,
        batch_id: &str,
    ) -> Result<BatchSummary, ApiError> {
        let config = &self.config;
        let (summary, first_job) = self.with_state(|state, now| {
            let ep = state
                .endpoints
                .get_mut(endpoint)
                .ok_or_else(|| batch_not_found(batch_id))?;
            ep.drop_expired_batches(now);
            let Endpoint {
                batches,
                jobs,
                queue,
                work_available,
                had_jobs,
                ..
            } = ep;
            let queued = jobs
                .values()
                .filter(|job| job.status == JobStatus::InQueue)
                .count();
            let batch = find(batches, batch_id)?;
            batch.require_draft("be finalized")?;
            let after = queued + batch.requests.len();
            if after > MAX_QUEUED_PER_ENDPOINT {
                return Err(too_many(format!(
                    "finalizing batch {batch_id} would bring endpoint {endpoint}'s queue to \
                     {after} jobs; at most {MAX_QUEUED_PER_ENDPOINT} may wait (the batch stays \
                     a DRAFT)"
                )));
            }
            batch.status = BatchStatus::Finalized;
            batch.finalized_at = Some(wall_clock_now());
            batch.expires_at = batch
                .requests
                .is_empty()
                .then(|| now + config.result_retention);
            for request in &mut batch.requests {
                let Some(draft) = request.draft.take() else {
                    continue;
                };
                let mut job = new_job(request.id.clone(), draft, config, now);
                job.batch_id = Some(batch_id.to_owned());
                job.trace = state.console.trace(now);
                state.console.job(endpoint, &job, now);
                state
                    .timers
                    .push(job.ttl_deadline, endpoint, &job.id, TimerKind::Ttl);
                queue.push_back(job.id.clone());
                jobs.insert(job.id.clone(), job);
            }
            work_available.notify_waiters();
            let summary = batch.summary(jobs);
            let first_job = !std::mem::replace(had_jobs, true);
            tracing::debug!(endpoint, batch = batch_id, "batch finalized");
            Ok::<_, ApiError>((summary, first_job))
        })?;
        if first_job && let Some(hook) = &self.first_job_hook {
            (hook.0)(self, endpoint);
        }
        Ok(summary)
    }

    /// `POST /batch/{id}/cancel`: queued requests are cancelled; running ones finish. A batch
    /// that already ended is answered as it is.
    pub(crate) fn batch_cancel(
        &self,
        endpoint: &str,
        batch_id: &str,
    ) -> Result<BatchSummary, ApiError> {
        let config = &self.config;
        self.with_state(|state, now| {
            let ep = state
                .endpoints
                .get_mut(endpoint)
                .ok_or_else(|| batch_not_found(batch_id))?;
            ep.drop_expired_batches(now);
            let Endpoint { batches, jobs, .. } = ep;
            let batch = find(batches, batch_id)?;
            let counts = batch.counts(jobs);
            if batch.is_done(&counts) {
                return Ok(batch.summary(jobs));
            }
            if batch.status == BatchStatus::Draft {
                batch.expires_at = Some(now + config.result_retention);
            }
            batch.status = BatchStatus::Cancelled;
            let mut cancelled = 0;
            for request in &batch.requests {
                if let Some(job) = jobs.get_mut(&request.id)
                    && job.status == JobStatus::InQueue
                {
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
                    cancelled += 1;
                }
            }
            tracing::debug!(endpoint, batch = batch_id, cancelled, "batch cancelled");
            Ok(batch.summary(jobs))
        })
    }

    /// `GET /batch/{id}`.
    pub(crate) fn batch_get(
        &self,
        endpoint: &str,
        batch_id: &str,
    ) -> Result<BatchSummary, ApiError> {
        self.with_batch(
            endpoint,
            batch_id,
            |ep, batch, _| Ok(batch.summary(ep.jobs)),
        )
    }

    /// `GET /batch`: newest first.
    pub(crate) fn batch_list(&self, endpoint: &str) -> Vec<BatchSummary> {
        self.with_state(|state, now| {
            let Some(ep) = state.endpoints.get_mut(endpoint) else {
                return Vec::new();
            };
            ep.drop_expired_batches(now);
            let jobs = &ep.jobs;
            ep.batches
                .iter_mut()
                .rev()
                .map(|b| b.summary(jobs))
                .collect()
        })
    }

    /// `GET /batch/{id}/requests`: requests in the order they were added.
    pub(crate) fn batch_requests(
        &self,
        endpoint: &str,
        batch_id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<BatchRequestsPage, ApiError> {
        self.with_batch(endpoint, batch_id, |ep, batch, _| {
            batch.counts(ep.jobs);
            let total = batch.requests.len();
            let page = batch
                .requests
                .iter()
                .skip(offset)
                .take(limit)
                .map(|request| request_view(request, batch, ep.jobs))
                .collect::<Vec<_>>();
            let has_more = offset.saturating_add(page.len()) < total;
            Ok(BatchRequestsPage {
                requests: Some(page),
                offset: Some(count(offset)),
                total: Some(count(total)),
                has_more: Some(has_more),
                ..Default::default()
            })
        })
    }

    /// Runs `f` on one batch of the endpoint, after dropping expired batches.
    fn with_batch<R>(
        &self,
        endpoint: &str,
        batch_id: &str,
        f: impl FnOnce(&EndpointView<'_>, &mut Batch, Instant) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        self.with_state(|state, now| {
            let ep = state
                .endpoints
                .get_mut(endpoint)
                .ok_or_else(|| batch_not_found(batch_id))?;
            ep.drop_expired_batches(now);
            let Endpoint { batches, jobs, .. } = ep;
            let batch = find(batches, batch_id)?;
            f(&EndpointView { jobs }, batch, now)
        })
    }
}

/// What a batch operation may read of its endpoint besides the batch itself.
struct EndpointView<'a> {
    jobs: &'a HashMap<String, Job>,
}

fn request_view(request: &Request, batch: &Batch, jobs: &HashMap<String, Job>) -> BatchRequest {
    if let Some(draft) = &request.draft {
        let status = if batch.status == BatchStatus::Draft {
            BatchRequestStatus::Pending
        } else {
            BatchRequestStatus::Cancelled
        };
        return BatchRequest {
            id: request.id.clone(),
            status: Some(status),
            input: Some(draft.input.clone()),
            ..Default::default()
        };
    }
    match jobs.get(&request.id) {
        Some(job) => {
            let state = job.state();
            BatchRequest {
                id: request.id.clone(),
                status: Some(BatchRequestStatus::from(job.status.as_str())),
                output: state.output,
                error: state.error,
                ..Default::default()
            }
        }
        None => BatchRequest {
            id: request.id.clone(),
            status: Some(
                request
                    .ended
                    .as_ref()
                    .map_or(BatchRequestStatus::Failed, |s| {
                        BatchRequestStatus::from(s.as_str())
                    }),
            ),
            error: Some(Value::String(
                "the job's result expired (ttl or result retention)".to_owned(),
            )),
            ..Default::default()
        },
    }
}

/// A batch request as a queued job, with the same policy defaults as `/run`.
fn new_job(id: String, request: JobRequest, config: &Config, now: Instant) -> Job {
    let policy = request.policy.as_ref();
    let execution_timeout: Duration = policy
        .and_then(|p| p.execution_timeout)
        .map_or(config.default_execution_timeout, millis_to_duration);
    let ttl = policy
        .and_then(|p| p.ttl)
        .map_or(config.default_ttl, millis_to_duration);
    // Batch inputs are not charged against the stored-bytes limit: a batch is bounded by its
    // own limits (5 000 requests, 10 MiB per append).
    Job::new(
        id,
        request,
        Charge::default(),
        false,
        execution_timeout,
        ttl,
        now,
    )
}
