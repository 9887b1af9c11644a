//! The HTTP surface: client routes, worker routes, auth, and request parsing shared by both.

mod client;
mod openai;
mod worker;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::store::Store;

pub(crate) fn router(store: Arc<Store>) -> Router {
    let client_routes = Router::new()
        .route("/v2/{endpoint_id}/run", post(client::run))
        .route("/v2/{endpoint_id}/runsync", post(client::run_sync))
        .route(
            "/v2/{endpoint_id}/status/{job_id}",
            get(client::status).post(client::status),
        )
        .route(
            "/v2/{endpoint_id}/status-sync/{job_id}",
            get(client::status_sync).post(client::status_sync),
        )
        .route(
            "/v2/{endpoint_id}/stream/{job_id}",
            get(client::stream).post(client::stream),
        )
        .route("/v2/{endpoint_id}/cancel/{job_id}", post(client::cancel))
        .route("/v2/{endpoint_id}/retry/{job_id}", post(client::retry))
        .route("/v2/{endpoint_id}/health", get(client::health))
        .route("/v2/{endpoint_id}/purge-queue", post(client::purge_queue))
        .route("/v2/{endpoint_id}/openai/{*route}", any(openai::forward))
        .route_layer(middleware::from_fn_with_state(
            store.clone(),
            require_client_key,
        ));
    let worker_routes = Router::new()
        .route(
            "/v2/{endpoint_id}/job-take/{worker_id}",
            get(worker::job_take),
        )
        .route(
            "/v2/{endpoint_id}/job-take-batch/{worker_id}",
            get(worker::job_take_batch),
        )
        .route(
            "/v2/{endpoint_id}/job-done/{worker_id}/{job_id}",
            post(worker::job_done),
        )
        .route(
            "/v2/{endpoint_id}/job-stream/{worker_id}/{job_id}",
            post(worker::job_stream),
        )
        .route("/v2/{endpoint_id}/ping/{worker_id}", get(worker::ping))
        .route(
            "/v2/{endpoint_id}/job-stop/{worker_id}",
            get(worker::job_stop),
        )
        .route_layer(middleware::from_fn_with_state(
            store.clone(),
            require_worker_key,
        ));
    client_routes
        .merge(worker_routes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(store)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

/// Clients authenticate like on api.runpod.ai: `Authorization: Bearer <key>`.
async fn require_client_key(
    State(store): State<Arc<Store>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = &store.config().api_key {
        let sent = authorization(request.headers()).and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
        if sent != Some(key.as_str()) {
            return ApiError::unauthorized(
                "missing or wrong API key (send `Authorization: Bearer <key>`)",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Workers send the raw key, as the official Python worker does with `RUNPOD_AI_API_KEY`.
async fn require_worker_key(
    State(store): State<Arc<Store>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = &store.config().api_key
        && authorization(request.headers()).map(str::trim) != Some(key.as_str())
    {
        return ApiError::unauthorized("missing or wrong worker key (send `Authorization: <key>`)")
            .into_response();
    }
    next.run(request).await
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION)?.to_str().ok()
}

/// Query parameters as a map; unknown ones (a template's `gpu=…`) are simply ignored.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `?wait=` in milliseconds, clamped to Runpod's 1 000 – 300 000 ms, default 90 000 ms.
    fn sync_wait(&self) -> Result<Duration, ApiError> {
        use crate::config::{WAIT_DEFAULT_MS, WAIT_MAX_MS, WAIT_MIN_MS};
        let ms = match self.get("wait") {
            None => WAIT_DEFAULT_MS,
            Some(raw) => parse_millis(raw)?.clamp(WAIT_MIN_MS, WAIT_MAX_MS),
        };
        Ok(Duration::from_millis(ms))
    }

    /// An optional `?wait=` (no minimum; absent means answer at once).
    fn optional_wait(&self) -> Result<Duration, ApiError> {
        let ms = match self.get("wait") {
            None => 0,
            Some(raw) => parse_millis(raw)?.min(crate::config::WAIT_MAX_MS),
        };
        Ok(Duration::from_millis(ms))
    }
}

fn parse_millis(raw: &str) -> Result<u64, ApiError> {
    raw.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`wait` must be a number of milliseconds, got `{raw}`"
        ))
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| Params(map))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// Reads the whole body, whatever its content type says (the Python worker labels JSON as
/// `application/x-www-form-urlencoded`), refusing more than `limit` bytes with 413.
async fn read_body(mut body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| ApiError::bad_request("could not read the request body"))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(ApiError::payload_too_large(limit));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// The body as a JSON object.
async fn read_json_object(body: Body, limit: usize) -> Result<Map<String, Value>, ApiError> {
    let bytes = read_body(body, limit).await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("request body must be a JSON object")),
        Err(error) if bytes.is_empty() => Err(ApiError::bad_request(format!(
            "request body is empty; expected a JSON object ({error})"
        ))),
        Err(error) => Err(ApiError::bad_request(format!(
            "request body is not valid JSON: {error}"
        ))),
    }
}
