//! Worker routes: job-take(-batch), job-done, job-stream, ping, job-stop (raw-key auth).
//!
//! Query parameters the official worker appends (`job_in_progress`, `isStream`,
//! `runpod_version`) and a template's own (`gpu=…`) are accepted; none changes the answer.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use runpod_types::serverless::{JobResult, Route, StopSignals, StreamChunk};
use serde_json::{Value, json};

use super::{Params, on_methods, read_model};
use crate::config::{MAX_BATCH_SIZE, WORKER_BODY_LIMIT};
use crate::error::ApiError;
use crate::store::Store;

/// The handler of a worker route, on the methods the route table lists.
pub(super) fn handler(route: Route) -> Option<MethodRouter<Arc<Store>>> {
    Some(match route {
        Route::JobTake => on_methods(route, job_take),
        Route::JobTakeBatch => on_methods(route, job_take_batch),
        Route::JobDone => on_methods(route, job_done),
        Route::JobStream => on_methods(route, job_stream),
        Route::Ping => on_methods(route, ping),
        Route::JobStop => on_methods(route, job_stop),
        _ => return None,
    })
}

pub(super) async fn job_take(
    State(store): State<Arc<Store>>,
    Path((endpoint, worker)): Path<(String, String)>,
) -> Response {
    match store.take(&endpoint, &worker, 1).await.into_iter().next() {
        Some(job) => Json(job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

pub(super) async fn job_take_batch(
    State(store): State<Arc<Store>>,
    Path((endpoint, worker)): Path<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    let batch_size = match params.get("batch_size") {
        None => 1,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if n > 0 => n.min(MAX_BATCH_SIZE),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "`batch_size` must be a positive integer, got `{raw}`"
                )));
            }
        },
    };
    let jobs = store.take(&endpoint, &worker, batch_size).await;
    Ok(if jobs.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(jobs).into_response()
    })
}

pub(super) async fn job_done(
    State(store): State<Arc<Store>>,
    Path((endpoint, worker, job_id)): Path<(String, String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let timeout = store.config().limits.read_timeout;
    let (result, size): (JobResult, usize) =
        read_model(body, WORKER_BODY_LIMIT, timeout, "job result").await?;
    let charge = store.ledger().charge(size)?;
    store.report(&endpoint, &worker, &job_id, result, charge)?;
    Ok(Json(json!({})))
}

pub(super) async fn job_stream(
    State(store): State<Arc<Store>>,
    Path((endpoint, worker, job_id)): Path<(String, String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let limits = &store.config().limits;
    let (chunk, size): (StreamChunk, usize) = read_model(
        body,
        limits.stream_chunk_bytes,
        limits.read_timeout,
        "stream chunk",
    )
    .await?;
    let charge = store.ledger().charge(size)?;
    store.append_chunk(&endpoint, &worker, &job_id, chunk, charge)?;
    Ok(Json(json!({})))
}

pub(super) async fn ping(
    State(store): State<Arc<Store>>,
    Path((endpoint, worker)): Path<(String, String)>,
    params: Params,
) -> Json<Value> {
    let unhealthy = params.get("status") == Some("unhealthy");
    if unhealthy {
        tracing::warn!(
            endpoint,
            worker,
            check = params.get("check").unwrap_or_default(),
            reason = params.get("reason").unwrap_or_default(),
            "worker reports a failed fitness check"
        );
    }
    let reported: Vec<&str> = params
        .get("job_id")
        .map(|ids| {
            ids.split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .collect()
        })
        .unwrap_or_default();
    store.ping(&endpoint, &worker, &reported, unhealthy);
    Json(json!({"status": "pong"}))
}

pub(super) async fn job_stop(
    State(store): State<Arc<Store>>,
    Path((endpoint, worker)): Path<(String, String)>,
) -> Response {
    let jobs = store.stop_signals(&endpoint, &worker).await;
    if jobs.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(StopSignals {
            jobs_to_stop: Some(jobs),
        })
        .into_response()
    }
}
