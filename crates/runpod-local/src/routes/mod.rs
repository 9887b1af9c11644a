//! The HTTP surface: client routes, worker routes, auth, and request parsing shared by both.

mod batch;
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
use axum::handler::Handler;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, any, delete, get, post};
use runpod_types::serverless::{Route, Side};
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::ApiError;
use crate::store::Store;

pub(crate) fn router(store: Arc<Store>) -> Router {
    let mut client_routes = Router::new();
    let mut worker_routes = Router::new();
    for route in Route::ALL {
        let handler = match route.side() {
            Side::Client => client::handler(route),
            Side::Worker => worker::handler(route),
        };
        let Some(handler) = handler else {
            continue;
        };
        let path = axum_path(route);
        match route.side() {
            Side::Client => client_routes = client_routes.route(&path, handler),
            Side::Worker => worker_routes = worker_routes.route(&path, handler),
        }
    }
    // Batch Jobs is one route of the table (its rate-limit and fault class) but several paths.
    let client_routes = client_routes
        .route(
            "/v2/{endpoint_id}/batch",
            post(batch::create).get(batch::list),
        )
        .route(
            "/v2/{endpoint_id}/batch/{batch_id}",
            get(batch::get).put(batch::update),
        )
        .route(
            "/v2/{endpoint_id}/batch/{batch_id}/requests",
            post(batch::append).get(batch::requests_page),
        )
        .route(
            "/v2/{endpoint_id}/batch/{batch_id}/requests/{request_id}",
            delete(batch::remove_request),
        )
        .route(
            "/v2/{endpoint_id}/batch/{batch_id}/finalize",
            post(batch::finalize),
        )
        .route(
            "/v2/{endpoint_id}/batch/{batch_id}/cancel",
            post(batch::cancel),
        )
        .route("/v2/{endpoint_id}/openai/{*route}", any(openai::forward))
        .route_layer(middleware::from_fn_with_state(
            store.clone(),
            require_client_key,
        ))
        .route_layer(middleware::from_fn_with_state(
            store.clone(),
            crate::limits::check_ids,
        ));
    let worker_routes = worker_routes
        .route_layer(middleware::from_fn_with_state(
            store.clone(),
            require_worker_key,
        ))
        .route_layer(middleware::from_fn_with_state(
            store.clone(),
            crate::limits::check_ids,
        ));
    client_routes
        .merge(worker_routes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(store)
}

/// The route's axum path: the table's template below `/v2`.
fn axum_path(route: Route) -> String {
    format!("/v2{}", route.path())
}

/// `handler` on every method the route table lists for `route`.
fn on_methods<H, T>(route: Route, handler: H) -> MethodRouter<Arc<Store>>
where
    H: Handler<T, Arc<Store>>,
    T: 'static,
{
    let mut methods = MethodRouter::new();
    for method in route.methods() {
        let filter = match *method {
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "DELETE" => MethodFilter::DELETE,
            "PATCH" => MethodFilter::PATCH,
            _ => MethodFilter::GET,
        };
        methods = methods.on(filter, handler.clone());
    }
    methods
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
    if let Some(key) = &store.config().api_key
        && bearer_token(request.headers()) != Some(key.as_str())
    {
        return ApiError::unauthorized(
            "missing or wrong API key (send `Authorization: Bearer <key>`)",
        )
        .into_response();
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

/// The token of `Authorization: Bearer <token>` (the load-balancing gateway checks it too).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    authorization(headers).and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    })
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
/// `application/x-www-form-urlencoded`), refusing more than `limit` bytes with 413 and a body
/// not received within `timeout` with 408.
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Vec<u8>, ApiError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(ApiError::payload_too_large(limit));
    }
    tokio::time::timeout(timeout, read_body_frames(body, limit))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body was not received within {} s",
                    timeout.as_secs_f64()
                ),
            ))
        })
}

async fn read_body_frames(mut body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
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

/// The body decoded straight into the protocol model `T` (a JSON object), `what` naming it in
/// the error; with its size in bytes (charged against the stored-bytes limit by the caller).
async fn read_model<T: DeserializeOwned>(
    body: Body,
    limit: usize,
    timeout: Duration,
    what: &str,
) -> Result<(T, usize), ApiError> {
    let bytes = read_body(body, limit, timeout).await?;
    // serde would also read a struct from a JSON array of its fields; the protocol sends objects.
    let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !is_object {
        return Err(match serde_json::from_slice::<IgnoredAny>(&bytes) {
            Ok(_) => ApiError::bad_request("request body must be a JSON object"),
            Err(error) if bytes.is_empty() => ApiError::bad_request(format!(
                "request body is empty; expected a JSON object ({error})"
            )),
            Err(error) => ApiError::bad_request(format!("request body is not valid JSON: {error}")),
        });
    }
    let model = serde_json::from_slice(&bytes).map_err(|error| {
        if error.is_data() {
            ApiError::bad_request(format!("invalid {what}: {error}"))
        } else {
            ApiError::bad_request(format!("request body is not valid JSON: {error}"))
        }
    })?;
    Ok((model, bytes.len()))
}
