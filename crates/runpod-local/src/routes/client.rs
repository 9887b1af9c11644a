//! Client routes: `/v2/{endpoint_id}/run`, `/runsync`, `/status`, `/stream`, … (Bearer auth).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use serde_json::Value;

use super::{Params, read_json_object};
use crate::config::{RUN_BODY_LIMIT, RUNSYNC_BODY_LIMIT};
use crate::error::ApiError;
use crate::store::Store;
use crate::wire::{HealthResponse, JobRequest, JobState, PurgeQueueResponse};

type Reply<T> = Result<Json<T>, ApiError>;

pub(super) async fn run(
    State(store): State<Arc<Store>>,
    Path(endpoint): Path<String>,
    body: Body,
) -> Reply<JobState> {
    let request = job_request(body, RUN_BODY_LIMIT).await?;
    Ok(Json(store.submit(&endpoint, request, false)))
}

pub(super) async fn run_sync(
    State(store): State<Arc<Store>>,
    Path(endpoint): Path<String>,
    params: Params,
    body: Body,
) -> Reply<JobState> {
    let wait = params.sync_wait()?;
    let request = job_request(body, RUNSYNC_BODY_LIMIT).await?;
    let queued = store.submit(&endpoint, request, true);
    store
        .wait_terminal(&endpoint, &queued.id, wait)
        .await
        .map(Json)
        .ok_or_else(|| ApiError::job_not_found(&queued.id))
}

pub(super) async fn status(
    State(store): State<Arc<Store>>,
    Path((endpoint, job_id)): Path<(String, String)>,
) -> Reply<JobState> {
    store
        .status(&endpoint, &job_id)
        .map(Json)
        .ok_or_else(|| ApiError::job_not_found(&job_id))
}

pub(super) async fn status_sync(
    State(store): State<Arc<Store>>,
    Path((endpoint, job_id)): Path<(String, String)>,
    params: Params,
) -> Reply<JobState> {
    let wait = params.sync_wait()?;
    store
        .wait_terminal(&endpoint, &job_id, wait)
        .await
        .map(Json)
        .ok_or_else(|| ApiError::job_not_found(&job_id))
}

pub(super) async fn stream(
    State(store): State<Arc<Store>>,
    Path((endpoint, job_id)): Path<(String, String)>,
    params: Params,
) -> Reply<Value> {
    let wait = params.optional_wait()?;
    store
        .read_stream(&endpoint, &job_id, wait)
        .await
        .map(Json)
        .ok_or_else(|| ApiError::job_not_found(&job_id))
}

pub(super) async fn cancel(
    State(store): State<Arc<Store>>,
    Path((endpoint, job_id)): Path<(String, String)>,
) -> Reply<JobState> {
    store
        .cancel(&endpoint, &job_id)
        .map(Json)
        .ok_or_else(|| ApiError::job_not_found(&job_id))
}

pub(super) async fn retry(
    State(store): State<Arc<Store>>,
    Path((endpoint, job_id)): Path<(String, String)>,
) -> Reply<JobState> {
    store.retry(&endpoint, &job_id).map(Json)
}

pub(super) async fn health(
    State(store): State<Arc<Store>>,
    Path(endpoint): Path<String>,
) -> Json<HealthResponse> {
    Json(store.health(&endpoint))
}

pub(super) async fn purge_queue(
    State(store): State<Arc<Store>>,
    Path(endpoint): Path<String>,
) -> Json<PurgeQueueResponse> {
    let removed = store.purge(&endpoint);
    Json(PurgeQueueResponse {
        removed: Some(i64::try_from(removed).unwrap_or(i64::MAX)),
        status: Some("completed".to_owned()),
    })
}

/// A `/run` or `/runsync` body: a JSON object with an `input`, and a sane policy.
async fn job_request(body: Body, limit: usize) -> Result<JobRequest, ApiError> {
    parse_job_request(read_json_object(body, limit).await?)
}

/// A job request from a JSON object (a `/run` body or one request of a batch).
pub(super) fn parse_job_request(
    map: serde_json::Map<String, Value>,
) -> Result<JobRequest, ApiError> {
    if !map.contains_key("input") {
        return Err(ApiError::bad_request("job request has no `input` field"));
    }
    let request: JobRequest = serde_json::from_value(Value::Object(map))
        .map_err(|error| ApiError::bad_request(format!("invalid job request: {error}")))?;
    if let Some(policy) = &request.policy {
        for (name, value) in [
            ("executionTimeout", policy.execution_timeout),
            ("ttl", policy.ttl),
        ] {
            if value.is_some_and(|ms| ms <= 0) {
                return Err(ApiError::bad_request(format!(
                    "policy.{name} must be a positive number of milliseconds"
                )));
            }
        }
    }
    Ok(request)
}
