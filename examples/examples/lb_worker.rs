//! A worker for a load-balancing endpoint: a small JSON API with one slow route and one
//! server-sent-events route, behind the health route Runpod polls.
//!
//! ```sh
//! PORT=8080 INIT_MS=2000 cargo run -p runpod-examples --example lb_worker
//! # in another shell: the local gateway in front of it
//! runpod-local --port 8000 --lb my-lb=http://127.0.0.1:8080
//! curl -s http://127.0.0.1:8000/lb/my-lb/v1/square -d '{"n": 12}' -H 'content-type: application/json'
//! ```
//!
//! Routes: `POST /v1/square` (`{"n": 12}` → `{"square": 144}`), `GET /v1/slow?ms=N` (answers
//! after N ms), `GET /v1/events?n=N` (N server-sent events, 50 ms apart). `INIT_MS` makes the
//! initializer take that long (the health route answers 204 meanwhile), `INIT_WAIT_FILE=PATH`
//! makes it also wait until PATH exists (tests decide when the worker is ready); `INIT_FAIL=1`
//! makes it fail (the health route answers 503).

use std::convert::Infallible;
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt as _};
use runpod::worker::lb::LbServer;
use runpod::worker::lb::axum::extract::Query;
use runpod::worker::lb::axum::response::sse::{Event, Sse};
use runpod::worker::lb::axum::routing::{get, post};
use runpod::worker::lb::axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Square {
    n: i64,
}

#[derive(Deserialize)]
struct Slow {
    ms: Option<u64>,
}

#[derive(Deserialize)]
struct Events {
    n: Option<u32>,
}

fn app() -> Router {
    Router::new()
        .route(
            "/v1/square",
            post(|Json(body): Json<Square>| async move {
                Json(json!({ "square": body.n.saturating_mul(body.n) }))
            }),
        )
        .route(
            "/v1/slow",
            get(|Query(q): Query<Slow>| async move {
                let ms = q.ms.unwrap_or(1_000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Json(json!({ "slept_ms": ms }))
            }),
        )
        .route(
            "/v1/events",
            get(|Query(q): Query<Events>| async move { events(q.n.unwrap_or(3)) }),
        )
}

fn events(n: u32) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ticks = stream::iter(0..n).then(move |i| async move {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let data: Value = json!({ "i": i, "of": n });
        Ok(Event::default().event("tick").data(data.to_string()))
    });
    Sse::new(ticks)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let init_ms: u64 = std::env::var("INIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fail = std::env::var("INIT_FAIL").is_ok_and(|v| v == "1");
    let wait_file = std::env::var_os("INIT_WAIT_FILE");
    LbServer::new(app())
        .init(move || async move {
            // Stands in for loading a model.
            tokio::time::sleep(Duration::from_millis(init_ms)).await;
            if let Some(path) = wait_file {
                while !std::path::Path::new(&path).exists() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            if fail { Err("INIT_FAIL=1") } else { Ok(()) }
        })
        .serve()
        .await
}
