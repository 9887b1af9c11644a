//! An offline subset of Runpod REST API v2: templates, serverless endpoints and the GPU/CPU
//! catalog, kept in memory.
//!
//! Same paths, auth (`Authorization: Bearer <key>` when a key is configured), shapes and
//! validation (`422` with `application/problem+json` listing each violation, `400` for
//! cross-field rules, `404` for unknown ids) as the hosted API, so the flow "create a template,
//! create an endpoint on it, list GPUs, run jobs on the endpoint" works on one machine: the
//! endpoint's `requestUrls` point at this server's queue routes.
//!
//! Deliberate differences: the catalog is a fixture (`catalog.json`, shaped after the spec's
//! examples; its prices and stock are illustrative, not live data), catalog filters other than
//! `include` are accepted but not applied, GPU pool ids are not checked against the catalog, and
//! nothing is persisted.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use runpod_local::rest_v2::{RestV2State, router};
//! let app = router(RestV2State::new().api_key("local-key"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod catalog;
pub(crate) mod clock;
mod endpoints;
mod problem;
mod state;
mod templates;
mod validate;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use state::RestV2State;

use problem::Problem;

/// The REST v2 routes (`/v2/templates`, `/v2/serverless`, `/v2/catalog/gpus`,
/// `/v2/catalog/cpus`). Has no fallback, so it merges into a router that has one.
pub fn router(state: RestV2State) -> Router {
    Router::new()
        .route(
            "/v2/templates",
            get(templates::list).post(templates::create),
        )
        .route(
            "/v2/templates/{id}",
            get(templates::get)
                .patch(templates::update)
                .delete(templates::delete),
        )
        .route(
            "/v2/serverless",
            get(endpoints::list).post(endpoints::create),
        )
        .route(
            "/v2/serverless/{id}",
            get(endpoints::get)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route("/v2/catalog/gpus", get(catalog::list_gpus))
        .route("/v2/catalog/gpus/{id}", get(catalog::get_gpu))
        .route("/v2/catalog/cpus", get(catalog::list_cpus))
        .route("/v2/catalog/cpus/{id}", get(catalog::get_cpu))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_bearer,
        ))
        .with_state(state)
}

async fn require_bearer(
    State(state): State<RestV2State>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.key() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Problem::unauthorized("missing bearer token").into_response(),
        Some(key) if key != expected => {
            Problem::unauthorized("invalid bearer token").into_response()
        }
        Some(_) => next.run(request).await,
    }
}
