//! The local console (feature `console`): a web page served at `/` and the versioned JSON API
//! and live feed it reads under `/_local/v1/` (documented in `CONSOLE-API.md`).
//!
//! The page's assets are compiled into the binary (`include_str!`), so the console works with
//! no network and no build step. Everything the page *does* (submit, cancel, retry, purge)
//! goes through the ordinary client API; this module only reads the store, plus one switch:
//! turning configured fault rules off and on. Job data needs the server's API key when it has
//! one, exactly as the client API does; the page's own files hold no data and are served to
//! anyone.

mod assets;
mod feed;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ApiError;
use crate::faults::FaultInjector;
use crate::lb::{Gateway, Health};
use crate::store::Store;
use crate::store::console::{EndpointView, JobQuery, QueueCounts, WorkerView};

/// The API's version, in its paths (`/_local/v1/`) and in the overview.
const API_VERSION: u32 = 1;
/// The most jobs one `GET /_local/v1/jobs` answers.
const MAX_PAGE: usize = 1_000;
const DEFAULT_PAGE: usize = 100;

/// What the console's handlers read.
#[derive(Clone)]
pub(crate) struct Console {
    store: Arc<Store>,
    gateway: Arc<Gateway>,
    faults: Option<Arc<FaultInjector>>,
    feed: feed::Feed,
}

/// The console's routes, ready to merge into the server's router. Starts the live feed's
/// flusher (on the current runtime), which stops with the server.
pub(crate) fn router(
    store: Arc<Store>,
    gateway: Arc<Gateway>,
    faults: Option<Arc<FaultInjector>>,
) -> Router {
    let feed = feed::Feed::new();
    let console = Console {
        store,
        gateway,
        faults,
        feed,
    };
    tokio::spawn(feed::flush_loop(console.clone()));
    let api = Router::new()
        .route("/_local/v1/overview", get(overview))
        .route("/_local/v1/jobs", get(jobs))
        .route("/_local/v1/jobs/{endpoint_id}/{job_id}", get(job))
        .route("/_local/v1/events", get(feed::events))
        .route("/_local/v1/faults/{index}", post(toggle_fault))
        .route_layer(middleware::from_fn_with_state(console.clone(), require_key));
    Router::new()
        .route("/", get(assets::index))
        .route("/_local/assets/{file}", get(assets::file))
        .merge(api)
        .with_state(console)
}

/// Job data needs the key clients use: `Authorization: Bearer <key>`.
async fn require_key(State(console): State<Console>, request: Request, next: Next) -> Response {
    if let Some(key) = &console.store.config().api_key
        && crate::routes::bearer_token(request.headers()) != Some(key.as_str())
    {
        return ApiError::unauthorized(
            "missing or wrong API key (send `Authorization: Bearer <key>`)",
        )
        .into_response();
    }
    next.run(request).await
}

/// JSON with `Cache-Control: no-store`: the answers change from one moment to the next.
fn fresh_json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            [
                (axum::http::header::CONTENT_TYPE, "application/json"),
                (axum::http::header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(error) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not encode the answer: {error}"),
        )
        .into_response(),
    }
}

#[derive(Debug, Serialize)]
struct Overview {
    version: u32,
    auth_required: bool,
    endpoints: Vec<EndpointView>,
    faults: Vec<FaultView>,
}

#[derive(Debug, Serialize)]
struct FaultView {
    index: usize,
    rule: String,
    enabled: bool,
}

impl Console {
    fn overview(&self) -> Overview {
        let mut endpoints = self.store.console_endpoints();
        // Load-balancing endpoints have no queue; their workers come from the gateway.
        for endpoint_id in self.gateway.endpoint_ids() {
            let slots = self.gateway.workers(endpoint_id).unwrap_or_default();
            let lb_workers = slots.iter().map(|slot| WorkerView {
                id: slot.id.clone(),
                kind: "lb",
                last_seen_ms_ago: None,
                jobs: Vec::new(),
                health: Some(match slot.health() {
                    Health::Unknown | Health::Initializing => "initializing",
                    Health::Healthy => "healthy",
                    Health::Unhealthy => "unhealthy",
                }),
            });
            match endpoints.iter_mut().find(|e| e.id == endpoint_id) {
                Some(view) => view.workers.extend(lb_workers),
                None => endpoints.push(EndpointView {
                    id: endpoint_id.to_owned(),
                    queue: QueueCounts::default(),
                    jobs_per_second: 0.0,
                    delay_ms: Default::default(),
                    execution_ms: Default::default(),
                    workers: lb_workers.collect(),
                    batches: Vec::new(),
                }),
            }
        }
        endpoints.sort_by(|a, b| a.id.cmp(&b.id));
        Overview {
            version: API_VERSION,
            auth_required: self.store.config().api_key.is_some(),
            endpoints,
            faults: self.faults(),
        }
    }

    fn faults(&self) -> Vec<FaultView> {
        self.faults
            .as_ref()
            .map(|faults| faults.rules())
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, (rule, enabled))| FaultView {
                index,
                rule,
                enabled,
            })
            .collect()
    }
}

/// `GET /_local/v1/overview`.
async fn overview(State(console): State<Console>) -> Response {
    fresh_json(&console.overview())
}

/// `GET /_local/v1/jobs?endpoint=&state=&worker=&q=&offset=&limit=`.
async fn jobs(
    State(console): State<Console>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = match job_query(&params) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    fresh_json(&console.store.console_jobs(&query))
}

fn job_query(params: &HashMap<String, String>) -> Result<JobQuery, ApiError> {
    let text = |name: &str| {
        params
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let number = |name: &str, default: usize| match params.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some(raw) => raw.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("`{name}` must be a whole number, got `{raw}`"))
        }),
    };
    let states = text("state")
        .map(|s| {
            s.split(',')
                .map(|state| state.trim().to_ascii_uppercase())
                .filter(|state| !state.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(JobQuery {
        endpoint: text("endpoint"),
        states,
        worker: text("worker"),
        id_contains: text("q"),
        offset: number("offset", 0)?,
        limit: number("limit", DEFAULT_PAGE)?.min(MAX_PAGE),
    })
}

/// `GET /_local/v1/jobs/{endpoint_id}/{job_id}`.
async fn job(
    State(console): State<Console>,
    Path((endpoint_id, job_id)): Path<(String, String)>,
) -> Response {
    match console.store.console_job(&endpoint_id, &job_id) {
        Some(detail) => fresh_json(&detail),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("job {job_id} not found on endpoint {endpoint_id}"),
        )
        .into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultToggle {
    enabled: bool,
}

/// `POST /_local/v1/faults/{index}` with `{"enabled": bool}`.
async fn toggle_fault(
    State(console): State<Console>,
    Path(index): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(index) = index.parse::<usize>() else {
        return ApiError::bad_request(format!("fault index `{index}` is not a whole number"))
            .into_response();
    };
    let toggle: FaultToggle = match serde_json::from_slice(&body) {
        Ok(toggle) => toggle,
        Err(error) => {
            return ApiError::bad_request(format!(
                "expected a JSON body `{{\"enabled\": true|false}}`: {error}"
            ))
            .into_response();
        }
    };
    let found = console
        .faults
        .as_ref()
        .is_some_and(|faults| faults.set_rule(index, toggle.enabled));
    if !found {
        return ApiError::new(StatusCode::NOT_FOUND, format!("no fault rule {index}"))
            .into_response();
    }
    tracing::info!(
        index,
        enabled = toggle.enabled,
        "console: fault rule switched"
    );
    console.feed.overview_changed();
    fresh_json(&json!({ "faults": console.faults() }))
}

/// A JSON value as an SSE `data:` line (compact JSON holds no newline).
fn sse_event(event: &str, data: &impl Serialize) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned());
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn job_queries_read_lists_defaults_and_the_page_limit() {
        let query = job_query(&params(&[
            ("state", "failed, TIMED_OUT"),
            ("q", " abc "),
            ("limit", "5000"),
        ]))
        .unwrap();
        assert_eq!(query.states, ["FAILED", "TIMED_OUT"]);
        assert_eq!(query.id_contains.as_deref(), Some("abc"));
        assert_eq!(query.limit, MAX_PAGE);
        assert_eq!(query.offset, 0);
        assert!(query.endpoint.is_none() && query.worker.is_none());
        let default = job_query(&params(&[("endpoint", "")])).unwrap();
        assert_eq!(default.limit, DEFAULT_PAGE);
        assert!(default.endpoint.is_none());
        let bad = job_query(&params(&[("offset", "-1")])).unwrap_err();
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.message.contains("offset"), "{}", bad.message);
    }

    #[test]
    fn sse_events_are_one_data_line() {
        let event = sse_event("jobs", &json!([{ "id": "a\nb" }]));
        assert_eq!(&event[..], b"event: jobs\ndata: [{\"id\":\"a\\nb\"}]\n\n");
    }
}
