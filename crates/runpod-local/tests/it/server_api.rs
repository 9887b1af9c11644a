//! The library API others embed: addresses, worker environment, shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::Server;
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
