//! Batch Jobs (beta) routes under `/v2/{endpoint_id}/batch` (Bearer auth, like the queue API).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::client::parse_job_request;
use super::{Params, read_body, read_model};
use crate::config::BATCH_BODY_LIMIT;
use crate::error::ApiError;
use crate::store::Store;
use crate::store::batch::{PAGE_DEFAULT, PAGE_MAX};
use runpod_types::serverless::{Batch, BatchRequestsPage, JobRequest};

type Reply<T> = Result<Json<T>, ApiError>;

/// `POST /batch`: the body is a JSON array of `{"input": …}`, possibly empty.
pub(super) async fn create(
    State(store): State<Arc<Store>>,
    Path(endpoint): Path<String>,
    body: Body,
) -> Reply<Batch> {
    let bytes = read_body(body, BATCH_BODY_LIMIT, store.config().limits.read_timeout).await?;
    let items = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            return Err(ApiError::bad_request(
                "batch create body must be a JSON array of {\"input\": …} objects",
            ));
        }
        Err(error) => {
            return Err(ApiError::bad_request(format!(
                "batch create body is not valid JSON: {error}"
            )));
        }
    };
    let requests = requests(items, store.config())?;
    store.batch_create(&endpoint, requests).map(Json)
}

/// `POST /batch/{id}/requests` with `{"requests": […]}`.
pub(super) async fn append(
    State(store): State<Arc<Store>>,
    Path((endpoint, batch)): Path<(String, String)>,
    body: Body,
) -> Reply<Batch> {
    let timeout = store.config().limits.read_timeout;
    let (mut map, _): (serde_json::Map<String, Value>, usize) =
        read_model(body, BATCH_BODY_LIMIT, timeout, "batch request").await?;
    let Some(Value::Array(items)) = map.remove("requests") else {
        return Err(ApiError::bad_request(
            "append body must be {\"requests\": [{\"input\": …}, …]}",
        ));
    };
    let requests = requests(items, store.config())?;
    store.batch_append(&endpoint, &batch, requests).map(Json)
}

/// Each item as a job request; the first bad one names its index.
fn requests(
    items: Vec<Value>,
    config: &crate::config::Config,
) -> Result<Vec<JobRequest>, ApiError> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Object(map) => parse_job_request(map, config).map_err(|error| {
                ApiError::bad_request(format!("request {index}: {}", error.message))
            }),
            _ => Err(ApiError::bad_request(format!(
                "request {index} must be an object {{\"input\": …}}"
            ))),
        })
        .collect()
}

/// `PUT /batch/{id}`: `name` must be a string; other attributes are kept as sent.
pub(super) async fn update(
    State(store): State<Arc<Store>>,
    Path((endpoint, batch)): Path<(String, String)>,
    body: Body,
) -> Reply<Batch> {
    let timeout = store.config().limits.read_timeout;
    let (mut map, _): (serde_json::Map<String, Value>, usize) =
        read_model(body, BATCH_BODY_LIMIT, timeout, "batch request").await?;
    let name = match map.remove("name") {
        None => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err(ApiError::bad_request("`name` must be a string")),
    };
    for key in [
        "id",
        "status",
        "requestTotal",
        "requestCompleted",
        "requestFailed",
    ] {
        if map.contains_key(key) {
            return Err(ApiError::bad_request(format!(
                "`{key}` cannot be changed through PUT"
            )));
        }
    }
    store.batch_update(&endpoint, &batch, name, map).map(Json)
}

pub(super) async fn remove_request(
    State(store): State<Arc<Store>>,
    Path((endpoint, batch, request)): Path<(String, String, String)>,
) -> Reply<Batch> {
    store
        .batch_remove_request(&endpoint, &batch, &request)
        .map(Json)
}

pub(super) async fn finalize(
    State(store): State<Arc<Store>>,
    Path((endpoint, batch)): Path<(String, String)>,
) -> Reply<Batch> {
    store.batch_finalize(&endpoint, &batch).map(Json)
}

pub(super) async fn cancel(
    State(store): State<Arc<Store>>,
    Path((endpoint, batch)): Path<(String, String)>,
) -> Reply<Batch> {
    store.batch_cancel(&endpoint, &batch).map(Json)
}

pub(super) async fn get(
    State(store): State<Arc<Store>>,
    Path((endpoint, batch)): Path<(String, String)>,
) -> Reply<Batch> {
    store.batch_get(&endpoint, &batch).map(Json)
}

pub(super) async fn list(
    State(store): State<Arc<Store>>,
    Path(endpoint): Path<String>,
) -> Json<Value> {
    Json(json!({ "batches": store.batch_list(&endpoint) }))
}

/// `GET /batch/{id}/requests?offset=&limit=`.
pub(super) async fn requests_page(
    State(store): State<Arc<Store>>,
    Path((endpoint, batch)): Path<(String, String)>,
    params: Params,
) -> Reply<BatchRequestsPage> {
    let offset = count_param(&params, "offset")?.unwrap_or(0);
    let limit = match count_param(&params, "limit")? {
        None => PAGE_DEFAULT,
        Some(0) => return Err(ApiError::bad_request("`limit` must be at least 1")),
        Some(n) => n.min(PAGE_MAX),
    };
    store
        .batch_requests(&endpoint, &batch, offset, limit)
        .map(Json)
}

fn count_param(params: &Params, name: &str) -> Result<Option<usize>, ApiError> {
    params
        .get(name)
        .map(|raw| {
            raw.trim().parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!(
                    "`{name}` must be a non-negative integer, got `{raw}`"
                ))
            })
        })
        .transpose()
}
