//! Client routes: `/v2/{endpoint_id}/run`, `/runsync`, `/status`, `/stream`, … (Bearer auth).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::routing::MethodRouter;
use runpod_types::serverless::{
    HealthResponse, JobRequest, JobState, PurgeQueueResponse, Route, StreamResponse,
};

use super::{Params, on_methods, read_model};
use crate::config::{RUN_BODY_LIMIT, RUNSYNC_BODY_LIMIT};
use crate::error::ApiError;
use crate::limits::Charge;
use crate::store::Store;

type Reply<T> = Result<Json<T>, ApiError>;

/// The handler of a client route, on the methods the route table lists.
pub(super) fn handler(route: Route) -> Option<MethodRouter<Arc<Store>>> {
    Some(match route {
        Route::Run => on_methods(route, run),
        Route::RunSync => on_methods(route, run_sync),
        Route::Status => on_methods(route, status),
        Route::StatusSync => on_methods(route, status_sync),
        Route::Stream => on_methods(route, stream),
        Route::Cancel => on_methods(route, cancel),
        Route::Retry => on_methods(route, retry),
        Route::Health => on_methods(route, health),
        Route::PurgeQueue => on_methods(route, purge_queue),
        _ => return None,
    })
}

pub(super) async fn run(
    State(store): State<Arc<Store>>,
    Path(endpoint): Path<String>,
    body: Body,
) -> Reply<JobState> {
    let (request, charge) = job_request(&store, body, RUN_BODY_LIMIT).await?;
    Ok(Json(store.submit(&endpoint, request, charge, false)?))
}

pub(super) async fn run_sync(
    State(store): State<Arc<Store>>,
    Path(endpoint): Path<String>,
    params: Params,
    body: Body,
) -> Reply<JobState> {
    let wait = params.sync_wait()?;
    let (request, charge) = job_request(&store, body, RUNSYNC_BODY_LIMIT).await?;
    let queued = store.submit(&endpoint, request, charge, true)?;
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
) -> Reply<StreamResponse> {
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

/// A `/run` or `/runsync` body: a JSON object with an `input`, a sane policy and a webhook the
/// server may call; with the bytes it holds, charged against the stored-bytes limit.
async fn job_request(
    store: &Store,
    body: Body,
    limit: usize,
) -> Result<(JobRequest, Charge), ApiError> {
    let config = store.config();
    let (request, size): (JobRequest, usize) =
        read_model(body, limit, config.limits.read_timeout, "job request").await?;
    let request = checked_job_request(request, config)?;
    Ok((request, store.ledger().charge(size)?))
}

/// A job request from a JSON object (one request of a batch), checked as a `/run` body is.
pub(super) fn parse_job_request(
    map: serde_json::Map<String, serde_json::Value>,
    config: &crate::config::Config,
) -> Result<JobRequest, ApiError> {
    if !map.contains_key("input") {
        return Err(ApiError::bad_request("job request has no `input` field"));
    }
    let request: JobRequest = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|error| ApiError::bad_request(format!("invalid job request: {error}")))?;
    checked_job_request(request, config)
}

/// A job request with a webhook the server may call and a sane policy.
fn checked_job_request(
    request: JobRequest,
    config: &crate::config::Config,
) -> Result<JobRequest, ApiError> {
    if let Some(url) = &request.webhook {
        crate::webhook::check(url, &config.webhook_hosts).map_err(ApiError::bad_request)?;
    }
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
