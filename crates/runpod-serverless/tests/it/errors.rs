//! HTTP error paths and which requests are retried.

use std::time::Duration;

use httpmock::MockServer;
use runpod_serverless::PollPolicy;
use serde_json::json;

use crate::support::{EP, answers_status, calls_at_least, client, job, path};

#[tokio::test]
async fn unauthorized_is_typed_and_not_retried() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("GET").path(path("health"));
            then.status(401).body("Unauthorized");
        })
        .await;
    let err = client(&server).endpoint(EP).health().await.unwrap_err();
    assert!(err.is_unauthorized() && err.is_status(), "{err:?}");
    assert!(!err.is_retryable());
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn unknown_or_expired_job_is_not_found_with_its_id() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("GET").path(path("status/gone-1"));
            then.status(404)
                .json_body(json!({"error": "request does not exist"}));
        })
        .await;
    let job = client(&server).endpoint(EP).job("gone-1");

    let err = job.status().await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.job_id(), Some("gone-1"));

    // A wait ends at once on a 404 (it is not transient), still naming the job.
    let err = job.wait().await.unwrap_err();
    assert!(err.is_not_found() && !err.is_job_outcome(), "{err:?}");
    assert_eq!(err.job_id(), Some("gone-1"));
    mock.assert_calls_async(2).await;
}

#[tokio::test]
async fn payload_too_large_is_returned_after_one_attempt() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("POST").path(path("run"));
            then.status(413).body("request entity too large");
        })
        .await;
    let err = client(&server)
        .endpoint(EP)
        .run(json!({"blob": "x".repeat(1000)}))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(413));
    assert!(err.is_status() && !err.is_job_outcome());
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn run_answering_5xx_is_never_sent_twice() {
    // An endpoint id of its own: httpmock recycles servers between tests, and a request still
    // in flight from another test must not be counted here.
    const EP: &str = "ep-never-twice";
    let path = |rest: &str| format!("/v2/{EP}/{rest}");
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("POST").path(path("run"));
            then.status(503).body("upstream unavailable");
        })
        .await;
    let err = client(&server)
        .endpoint(EP)
        .run(json!({"n": 1}))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    // The job may have been queued: a second POST could queue it twice.
    mock.assert_calls_async(1).await;

    // Same for /runsync and /retry, which create work too.
    let runsync = server
        .mock_async(|when, then| {
            when.method("POST").path(path("runsync"));
            then.status(502);
        })
        .await;
    let retry = server
        .mock_async(|when, then| {
            when.method("POST").path(path("retry/j"));
            then.status(500);
        })
        .await;
    let endpoint = client(&server).endpoint(EP);
    assert!(endpoint.run_sync(1).await.unwrap_err().is_status());
    assert!(endpoint.job("j").retry().await.unwrap_err().is_status());
    runsync.assert_calls_async(1).await;
    retry.assert_calls_async(1).await;
}

#[tokio::test]
async fn status_answering_5xx_is_retried() {
    let server = MockServer::start_async().await;
    let failing = answers_status(&server, "GET", "status/j", 503).await;
    let err = client(&server)
        .endpoint(EP)
        .job("j")
        .status()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(err.job_id(), Some("j"));
    // The test transport allows 3 attempts.
    failing.assert_calls_async(3).await;
}

#[tokio::test]
async fn a_wait_rides_out_a_short_outage() {
    let server = MockServer::start_async().await;
    let failing = answers_status(&server, "GET", "status/j", 503).await;
    // Generous error budget: the test decides when the outage ends.
    let policy = PollPolicy::fixed(Duration::from_millis(2)).with_max_consecutive_errors(1_000);
    let job = client(&server)
        .endpoint(EP)
        .job("j")
        .with_poll_policy(policy);
    let waiting = tokio::spawn(async move { job.output::<String>().await });

    // More failures than one request's retries: only the poll loop can survive them.
    calls_at_least(&failing, 4).await;
    failing.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("status/j"));
            then.status(200)
                .json_body(json!({"id": "j", "status": "COMPLETED", "output": "done"}));
        })
        .await;
    assert_eq!(waiting.await.unwrap().unwrap(), "done");
}

#[tokio::test]
async fn a_wait_gives_up_after_the_policy_allows() {
    let server = MockServer::start_async().await;
    let failing = answers_status(&server, "GET", "status/j", 500).await;
    let job = client(&server).endpoint(EP).job("j").with_poll_policy(
        PollPolicy::fixed(Duration::from_millis(1)).with_max_consecutive_errors(2),
    );
    let err = job.wait().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(err.job_id(), Some("j"));
    // (1 + 2 tolerated) polls × 3 transport attempts each.
    failing.assert_calls_async(9).await;
}

#[tokio::test]
async fn rate_limited_run_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start_async().await;
    let limited = server
        .mock_async(|when, then| {
            when.method("POST").path(path("run"));
            then.status(429)
                .header("Retry-After", "1")
                .json_body(json!({"error": "rate limited"}));
        })
        .await;
    let endpoint = client(&server).endpoint(EP);
    let started = tokio::time::Instant::now();
    let sending = tokio::spawn(async move { endpoint.run(json!({"n": 1})).await });

    calls_at_least(&limited, 1).await;
    limited.delete_async().await;
    let ok = server
        .mock_async(|when, then| {
            when.method("POST").path(path("run"));
            then.status(200).json_body(job("job-after-429", "IN_QUEUE"));
        })
        .await;
    let handle = sending.await.unwrap().unwrap();
    assert_eq!(handle.id(), "job-after-429");
    ok.assert_calls_async(1).await;
    // A 429 means the job was not accepted, so even /run is retried, after Retry-After.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rate_limited_beyond_the_retries_is_typed_with_retry_after() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("health"));
            then.status(429).header("Retry-After", "0");
        })
        .await;
    let err = client(&server).endpoint(EP).health().await.unwrap_err();
    assert!(err.is_rate_limited() && err.is_retryable(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::ZERO));
}

#[tokio::test]
async fn a_garbled_answer_is_a_decode_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("status/j"));
            then.status(200).json_body(json!({"id": 42}));
        })
        .await;
    let err = client(&server)
        .endpoint(EP)
        .job("j")
        .status()
        .await
        .unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert_eq!(err.job_id(), Some("j"));
}
