//! `FaultConfig::runpod_limits`: 429 beyond Runpod's documented per-endpoint limits.

use reqwest::StatusCode;
use runpod_local::{FaultConfig, Server};

use crate::support::{EP, Harness};

#[tokio::test]
async fn requests_beyond_runpods_limits_get_429_per_endpoint() {
    let faults = FaultConfig::new().rule("runpod-limits").unwrap();
    let h = Harness::with(Server::builder().faults(faults)).await;
    // `/purge-queue`: 2 per 10 s.
    for _ in 0..2 {
        let (status, body) = h.post_empty(&format!("/v2/{EP}/purge-queue")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let refused = h
        .http
        .post(h.url(&format!("/v2/{EP}/purge-queue")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    // Another endpoint has its own budget; unlimited routes are not counted.
    let (status, _) = h.post_empty("/v2/other/purge-queue").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.get(&format!("/v2/{EP}/health")).await;
    assert_eq!(status, StatusCode::OK);
}
