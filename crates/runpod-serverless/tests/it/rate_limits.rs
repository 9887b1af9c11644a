//! The client-side limiter in front of real requests.

use std::future::IntoFuture as _;
use std::time::Duration;

use httpmock::MockServer;
use runpod_serverless::{Config, RateLimits, Route, RouteLimit, ServerlessClient, WaitStrategy};

use crate::support::{EP, config, fast_poll, job, status_answers};

#[tokio::test]
async fn limits_space_requests_across_clones_of_the_client() {
    let server = MockServer::start_async().await;
    let status = status_answers(&server, "j", job("j", "IN_QUEUE")).await;
    let window = Duration::from_millis(300);
    let client = ServerlessClient::builder()
        .with_config(config(&server))
        .with_poll_policy(fast_poll())
        .with_rate_limits(
            RateLimits::disabled().with_limit(Route::Status, Some(RouteLimit::new(2, window))),
        )
        .build()
        .unwrap();
    assert!(client.is_rate_limited());
    let a = client.endpoint(EP).job("j");
    let b = client.clone().endpoint(EP).job("j");

    let started = tokio::time::Instant::now();
    a.status().await.unwrap();
    b.status().await.unwrap();
    // The third request in the window waits for the first to leave it.
    a.status().await.unwrap();
    assert!(started.elapsed() >= window, "{:?}", started.elapsed());
    status.assert_calls_async(3).await;
}

#[tokio::test]
async fn waits_go_through_the_limiter_too() {
    let server = MockServer::start_async().await;
    let status = status_answers(&server, "j", job("j", "IN_QUEUE")).await;
    let window = Duration::from_millis(400);
    // A client (and limiter) of its own for each wait: a cancelled wait's reserved slot stays
    // taken in its window.
    let job = || {
        ServerlessClient::builder()
            .with_config(config(&server))
            // Polling: long polls through the limiter are checked in `long_polls`.
            .with_poll_policy(fast_poll().with_wait_strategy(WaitStrategy::Poll))
            .with_rate_limits(
                RateLimits::disabled().with_limit(Route::Status, Some(RouteLimit::new(2, window))),
            )
            .build()
            .unwrap()
            .endpoint(EP)
            .job("j")
    };
    // Unlimited, the fast poll would ask dozens of times in 300 ms; the limiter lets two
    // through per window, for `wait()` and `handle.await` alike.
    let waited = job().wait_with_timeout(Duration::from_millis(300)).await;
    assert!(waited.unwrap_err().is_timeout());
    status.assert_calls_async(2).await;
    let awaited = tokio::time::timeout(Duration::from_millis(300), job().into_future()).await;
    assert!(awaited.is_err());
    status.assert_calls_async(4).await;
}

#[test]
fn documented_limits_apply_by_default_only_to_runpods_host() {
    let make = |url: &str| {
        let config = Config::builder()
            .with_api_key("k")
            .with_serverless_base_url(url)
            .build()
            .unwrap();
        ServerlessClient::from_config(config).unwrap()
    };
    assert!(make("https://api.runpod.ai/v2").is_rate_limited());
    assert!(!make("http://127.0.0.1:8000/v2").is_rate_limited());
    assert!(!make("https://runpod.example.com/v2").is_rate_limited());
    let forced = ServerlessClient::builder()
        .with_config(
            Config::builder()
                .with_api_key("k")
                .with_serverless_base_url("http://127.0.0.1:1/v2")
                .build()
                .unwrap(),
        )
        .with_rate_limits(RateLimits::runpod())
        .build()
        .unwrap();
    assert!(forced.is_rate_limited());
}
