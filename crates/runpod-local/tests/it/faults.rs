//! Fault injection: seeded 429 / 5xx answers, dropped connections and latency, per route.

use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::{FaultConfig, Route, RouteFaults, Server};
use serde_json::json;
use tokio::time::Instant;

use crate::support::{EP, Harness};

#[tokio::test]
async fn injected_errors_refuse_the_request_before_it_changes_anything() {
    let faults = FaultConfig::new()
        .route(Route::Run, RouteFaults::new().too_many_requests(1.0))
        .route(Route::JobTake, RouteFaults::new().server_error(1.0));
    let h = Harness::with(Server::builder().faults(faults)).await;
    let response = h
        .http
        .post(h.url(&format!("/v2/{EP}/run")))
        .json(&json!({"input": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "injected fault on run"}));

    let (_, queued) = h
        .post(&format!("/v2/{EP}/runsync?wait=1000"), json!({"input": 1}))
        .await;
    let (status, _) = h.get(&format!("/v2/{EP}/job-take/w")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let health = h.health().await;
    assert_eq!(health["jobs"]["inQueue"], 1, "only the runsync job exists");
    assert_eq!(
        health["workers"]["idle"], 0,
        "the faulted take never reached the queue"
    );
    assert_eq!(
        h.job(queued["id"].as_str().unwrap()).await["status"],
        "IN_QUEUE"
    );
}

#[tokio::test]
async fn dropped_connections_get_no_answer() {
    let faults = FaultConfig::new().route(Route::Run, RouteFaults::new().drop_connection(1.0));
    let h = Harness::with(Server::builder().faults(faults)).await;
    let error = h
        .http
        .post(h.url(&format!("/v2/{EP}/run")))
        .json(&json!({"input": 1}))
        .send()
        .await
        .expect_err("the connection is closed without an answer");
    assert!(!error.is_status() && !error.is_timeout(), "{error:?}");
    assert_eq!(h.health().await["jobs"]["inQueue"], 0);
}

#[tokio::test(start_paused = true)]
async fn latency_delays_every_request_of_the_route() {
    let faults = FaultConfig::new()
        .all_routes(RouteFaults::new().latency(Duration::from_millis(250)))
        .route(Route::Health, RouteFaults::new());
    let h = Harness::with(Server::builder().faults(faults)).await;
    let started = Instant::now();
    h.run(json!(1)).await;
    assert_eq!(started.elapsed().as_millis(), 250);
    let started = Instant::now();
    h.health().await;
    assert_eq!(
        started.elapsed().as_millis(),
        0,
        "a route's own entry replaces the default"
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let statuses = |seed: u64| async move {
        let faults = FaultConfig::new()
            .seed(seed)
            .rule("status:429=0.3,5xx=0.3")
            .unwrap();
        let h = Harness::with(Server::builder().faults(faults)).await;
        let mut seen = Vec::new();
        for _ in 0..40 {
            seen.push(h.status("x").await.0.as_u16());
        }
        seen
    };
    let first = statuses(11).await;
    assert_eq!(first, statuses(11).await);
    assert_ne!(first, statuses(12).await);
    for code in [404, 429, 503] {
        assert!(first.contains(&code), "{code} in {first:?}");
    }
}
