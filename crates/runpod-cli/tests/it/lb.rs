//! `runpod lb request` against runpod-local's gateway in front of an in-process worker.

use std::convert::Infallible;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use runpod_local::{LbLimits, LbWorker, RunningServer, Server};
use serde_json::{Value, json};

use crate::support::Cli;

async fn gateway() -> RunningServer {
    let app = Router::new()
        .route("/ping", get(|| async { "ok" }))
        .route(
            "/v1/echo",
            post(|headers: HeaderMap, body: String| async move {
                axum::Json(json!({
                    "body": serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
                    "x-test": headers.get("x-test").and_then(|v| v.to_str().ok()),
                }))
            }),
        )
        .route(
            "/v1/events",
            get(|| async {
                let events = ["1", "2"]
                    .map(|n| Ok::<_, Infallible>(Event::default().data(format!("{{\"n\":{n}}}"))));
                Sse::new(futures_util::stream::iter(events))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let server = Server::builder()
        .lb_worker(LbWorker::new("ep", url).id("w-1"))
        .lb_limits(LbLimits::new().health_interval(std::time::Duration::from_millis(20)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    while server.lb_counts()[0].1.healthy == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_request_prints_status_worker_and_body() {
    let server = gateway().await;
    let cli = Cli::with_key().env("RUNPOD_LB_BASE_URL", &server.lb_base_url_template());

    let run = cli
        .run(&[
            "lb",
            "request",
            "ep",
            "post",
            "/v1/echo",
            "--data",
            r#"{"a": 1}"#,
            "--header",
            "X-Test: yes",
            "--worker",
            "w-1",
            "--strict",
        ])
        .await;
    assert_eq!(
        run.ok(),
        "200 from worker w-1\n{\n  \"body\": {\n    \"a\": 1\n  },\n  \"x-test\": \"yes\"\n}\n"
    );

    let run = cli
        .run(&[
            "lb", "request", "ep", "POST", "/v1/echo", "-o", "json", "--data", "[1]",
        ])
        .await;
    run.ok();
    assert_eq!(
        run.json(),
        json!({"status": 200, "worker_id": "w-1", "body": {"body": [1], "x-test": null}})
    );

    // Server-sent events: one JSON line each.
    let run = cli
        .run(&["lb", "request", "ep", "GET", "/v1/events", "-o", "json"])
        .await;
    let lines: Vec<Value> = run
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"event": null, "id": null, "data": {"n": 1}}),
            json!({"event": null, "id": null, "data": {"n": 2}})
        ]
    );

    // Strict to a worker that does not exist: the gateway's 404, with the usual exit code.
    let run = cli
        .run(&[
            "lb",
            "request",
            "ep",
            "GET",
            "/v1/events",
            "--worker",
            "nobody",
            "--strict",
        ])
        .await;
    assert!(
        run.stderr.contains("affinity_worker_gone"),
        "{}",
        run.stderr
    );
    assert_ne!(run.code, 0);
    server.shutdown().await;
}

#[test]
fn a_load_balancer_endpoint_needs_request_count_scaling() {
    let run = Cli::with_key().run_blocking(
        &[
            "endpoints",
            "create",
            "--name",
            "x",
            "--type",
            "load-balancer",
            "--template-id",
            "t",
        ],
        None,
    );
    assert!(run.stderr.contains("--request-count"), "{}", run.stderr);
    assert_ne!(run.code, 0);
    let run = Cli::with_key().run_blocking(
        &[
            "endpoints",
            "create",
            "--name",
            "x",
            "--type",
            "load-balancer",
            "--body",
            r#"{"scaling": {"type": "QUEUE_DELAY", "queueDelay": 4}}"#,
        ],
        None,
    );
    assert!(run.stderr.contains("REQUEST_COUNT"), "{}", run.stderr);
    assert_ne!(run.code, 0);
}
