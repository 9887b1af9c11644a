//! Rate-limit headers exposed on responses.

use std::time::Duration;

use httpmock::MockServer;
use runpod_transport::Method;

use crate::support::{client_with, config};

#[tokio::test]
async fn rest_v2_headers_on_a_success() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/v2/pods");
            then.status(200)
                .header("RateLimit", r#""minute";r=57;t=12, "hour";r=2800;t=1812"#)
                .header(
                    "RateLimit-Policy",
                    r#""minute";q=60;w=60, "hour";q=3000;w=3600"#,
                )
                .body("{}");
        })
        .await;
    let resp = client_with(config())
        .request(Method::GET, server.url("/v2/pods"))
        .send()
        .await
        .unwrap();
    let rl = resp.rate_limit().unwrap();
    assert_eq!(rl.limit, Some(60));
    assert_eq!(rl.remaining, Some(57));
    assert_eq!(rl.reset, Some(Duration::from_secs(12)));
    assert_eq!(rl.windows.len(), 2);
    assert_eq!(rl.windows[1].window, Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn x_ratelimit_headers_and_none() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/x");
            then.status(200)
                .header("X-RateLimit-Limit", "2000")
                .header("X-RateLimit-Remaining", "1500")
                .header("X-RateLimit-Reset", "10");
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/plain");
            then.status(200);
        })
        .await;
    let client = client_with(config());
    let rl = client
        .request(Method::GET, server.url("/x"))
        .send()
        .await
        .unwrap()
        .rate_limit()
        .unwrap();
    assert_eq!(
        (rl.limit, rl.remaining, rl.reset),
        (Some(2000), Some(1500), Some(Duration::from_secs(10)))
    );
    let plain = client
        .request(Method::GET, server.url("/plain"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.rate_limit(), None);
    assert_eq!(plain.retry_after(), None);
}
