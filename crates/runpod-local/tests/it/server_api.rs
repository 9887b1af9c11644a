//! The library API others embed: addresses, worker environment, shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::Server;
use serde_json::json;
use tokio::time::Instant;

use crate::support::{EP, Harness};

#[tokio::test]
async fn urls_and_worker_environment_point_at_the_server() {
    let h = Harness::start().await;
    let addr = h.server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let base = format!("http://{addr}");
    assert_eq!(h.server.base_url(), base);
    assert_eq!(h.server.serverless_base_url(), format!("{base}/v2"));
    let env = h.server.worker_env("my-ep", "pod-7");
    let expected: Vec<(String, String)> = [
        (
            "RUNPOD_WEBHOOK_GET_JOB",
            format!("{base}/v2/my-ep/job-take/$ID?gpu=LOCAL"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_OUTPUT",
            format!("{base}/v2/my-ep/job-done/$RUNPOD_POD_ID/$ID?gpu=LOCAL"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_STREAM",
            format!("{base}/v2/my-ep/job-stream/$RUNPOD_POD_ID/$ID?gpu=LOCAL"),
        ),
        (
            "RUNPOD_WEBHOOK_PING",
            format!("{base}/v2/my-ep/ping/$RUNPOD_POD_ID?gpu=LOCAL"),
        ),
        ("RUNPOD_POD_ID", "pod-7".to_owned()),
        ("RUNPOD_AI_API_KEY", "local".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(env, expected);
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_open_long_polls_and_waits_for_them() {
    let h = Harness::with(Server::builder().hold_time(Duration::from_secs(60))).await;
    let take = tokio::spawn({
        let http = h.http.clone();
        let url = h.url(&format!("/v2/{EP}/job-take/w?gpu=LOCAL"));
        async move { http.get(url).send().await.map(|r| r.status()) }
    });
    // With time paused, this only elapses once the take is parked in its long poll.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let Harness { server, http } = h;
    let base = server.base_url();
    server.shutdown().await;
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no waiting for the 60 s hold"
    );
    assert_eq!(take.await.unwrap().unwrap(), StatusCode::NO_CONTENT);
    assert!(
        http.get(format!("{base}/v2/{EP}/health"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_shutdown_signal_stops_the_server() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = Server::builder()
        .shutdown_on(async {
            let _ = rx.await;
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let base = server.base_url();
    let http = reqwest::Client::new();
    assert!(
        http.get(format!("{base}/v2/{EP}/health"))
            .send()
            .await
            .is_ok()
    );
    tx.send(()).unwrap();
    server.stopped().await;
    assert!(
        http.get(format!("{base}/v2/{EP}/health"))
            .send()
            .await
            .is_err()
    );
}

/// The Python SDK's documented flow on one server: create a template, create an endpoint on
/// it, then run a job at the endpoint's `requestUrls.run` and complete it as its worker.
#[tokio::test]
async fn the_server_serves_rest_v2_and_created_endpoints_have_live_queues() {
    let h = Harness::with(
        Server::builder()
            .api_key("k")
            .hold_time(Duration::from_millis(200)),
    )
    .await;
    let bearer = |r: reqwest::RequestBuilder| r.header("authorization", "Bearer k");
    let (status, template) = h
        .send(
            bearer(h.http.post(h.url("/v2/templates")))
                .json(&json!({"name": "worker", "image": "me/worker:1", "serverless": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let (status, endpoint) = h
        .send(bearer(h.http.post(h.url("/v2/serverless"))).json(&json!({
            "name": "ep", "type": "QUEUE", "templateId": template["id"],
            "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
            "gpu": {"pools": ["AMPERE_16"], "count": 1},
            "workers": {"min": 0, "max": 1, "idleTimeout": 5}
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let run_url = endpoint["requestUrls"]["run"].as_str().unwrap().to_owned();
    assert_eq!(run_url, h.url(&format!("/v2/{id}/run")));

    let (status, queued) = h
        .send(bearer(h.http.post(&run_url)).json(&json!({"input": {"x": 1}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    let (status, job) = h
        .send(
            h.http
                .get(h.url(&format!("/v2/{id}/job-take/w1?job_in_progress=0")))
                .header("authorization", "k"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["id"], queued["id"]);
    assert_eq!(job["input"], json!({"x": 1}));

    // Without the key the REST routes refuse, as the queue routes do.
    let (status, _) = h.get("/v2/templates").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
