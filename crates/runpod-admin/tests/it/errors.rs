//! Each error status the spec declares, read through the predicates and `create_advice`.

use httpmock::MockServer;
use runpod_admin::Error;
use runpod_admin::errors::{
    CreateAdvice, create_advice, is_conflict, is_insufficient_balance, is_no_capacity,
    is_validation, may_have_been_applied,
};
use runpod_transport::RetryPolicy;
use serde_json::json;

use crate::support::{SECOND, client, client_with, problem};

/// The error a `POST /v2/pods` answered with `status` and `body` gives.
async fn create_error(status: u16, body: serde_json::Value, headers: &[(&str, &str)]) -> Error {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/pods");
            let mut then = then
                .status(status)
                .header("content-type", "application/problem+json");
            for (k, v) in headers {
                then = then.header(*k, *v);
            }
            then.json_body(body.clone());
        })
        .await;
    let err = client(&server)
        .pods()
        .create("p")
        .image("i")
        .send()
        .await
        .unwrap_err();
    mock.assert_calls_async(1).await;
    err
}

/// [`create_error`] for an RFC 9457 problem with this status, title and detail.
async fn problem_error(status: u16, title: &str, detail: &str) -> Error {
    create_error(status, problem(status, title, detail), &[]).await
}

#[tokio::test]
async fn validation_422_is_never_retried_and_keeps_each_violation() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/pods");
            then.status(422).header("content-type", "application/problem+json").json_body(json!({
                "title": "Unprocessable Entity", "status": 422, "detail": "Request validation failed.",
                "errors": ["name: must not be empty", "gpu.count: must be >= 1"]
            }));
        })
        .await;
    // Even a policy that would retry three times sends a 422 once.
    let retrying = RetryPolicy::builder().with_max_attempts(3).build().unwrap();
    let err = client_with(&server, retrying)
        .pods()
        .create("")
        .image("i")
        .send()
        .await
        .unwrap_err();
    mock.assert_calls_async(1).await;
    assert!(is_validation(&err));
    assert!(!err.is_retryable());
    assert_eq!(create_advice(&err), CreateAdvice::FixRequest);
    let api = err.api_error().unwrap();
    let messages: Vec<&str> = api.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        ["name: must not be empty", "gpu.count: must be >= 1"]
    );
}

#[tokio::test]
async fn bad_request_400_no_capacity_is_classified() {
    let err = problem_error(
        400,
        "Bad Request",
        "There are no longer any instances available with the requested specifications.",
    )
    .await;
    assert!(is_no_capacity(&err));
    assert_eq!(create_advice(&err), CreateAdvice::NextCandidate);
    assert!(!may_have_been_applied(&err));
}

#[tokio::test]
async fn bad_request_400_rule_violation_is_not_no_capacity() {
    let err = problem_error(
        400,
        "Bad Request",
        "allowedCudaVersions and minCudaVersion are mutually exclusive",
    )
    .await;
    assert!(!is_no_capacity(&err));
    // The guidance still says: move on (a rule violation fails on every candidate alike).
    assert_eq!(create_advice(&err), CreateAdvice::NextCandidate);
}

#[tokio::test]
async fn payment_required_402_stops() {
    let err = problem_error(402, "Payment Required", "insufficient balance").await;
    assert!(is_insufficient_balance(&err));
    assert!(!is_no_capacity(&err));
    assert_eq!(create_advice(&err), CreateAdvice::Stop);
}

#[tokio::test]
async fn unauthorized_401() {
    let err = problem_error(401, "Unauthorized", "missing bearer token").await;
    assert!(err.is_unauthorized());
    assert_eq!(create_advice(&err), CreateAdvice::GiveUp);
}

#[tokio::test]
async fn forbidden_403_skips_the_candidate() {
    let err = problem_error(403, "Forbidden", "access denied").await;
    assert!(err.is_forbidden());
    assert_eq!(create_advice(&err), CreateAdvice::NextCandidate);
}

#[tokio::test]
async fn not_found_404() {
    let err = problem_error(404, "Not Found", "template not found").await;
    assert!(err.is_not_found());
    assert_eq!(
        err.api_error().unwrap().detail.as_deref(),
        Some("template not found")
    );
    assert_eq!(create_advice(&err), CreateAdvice::GiveUp);
}

#[tokio::test]
async fn conflict_409() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/pods/p1/action");
            then.status(409)
                .json_body(problem(409, "Conflict", "pod is not running"));
        })
        .await;
    let err = client(&server).pods().stop("p1").send().await.unwrap_err();
    assert!(is_conflict(&err));
    assert_eq!(create_advice(&err), CreateAdvice::GiveUp);
}

#[tokio::test]
async fn too_many_requests_429_carries_retry_after() {
    let err = create_error(
        429,
        problem(429, "Too Many Requests", "slow down"),
        &[("Retry-After", "7")],
    )
    .await;
    assert!(err.is_rate_limited());
    assert_eq!(err.retry_after(), Some(7 * SECOND));
    assert_eq!(
        create_advice(&err),
        CreateAdvice::RetryAfter(Some(7 * SECOND))
    );
}

#[tokio::test]
async fn server_error_5xx_on_a_create_is_sent_once_and_may_have_happened() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/pods");
            then.status(502).body("<html>bad gateway</html>");
        })
        .await;
    let retrying = RetryPolicy::builder()
        .with_max_attempts(3)
        .with_initial_delay(std::time::Duration::from_millis(1))
        .build()
        .unwrap();
    let err = client_with(&server, retrying)
        .pods()
        .create("p")
        .image("i")
        .send()
        .await
        .unwrap_err();
    // POST is not idempotent: a 5xx is not retried by the transport (the pod may exist).
    mock.assert_calls_async(1).await;
    assert!(may_have_been_applied(&err));
    assert_eq!(create_advice(&err), CreateAdvice::RetrySameCandidate);
    assert_eq!(err.body(), Some("<html>bad gateway</html>"));
}

#[tokio::test]
async fn server_error_5xx_on_a_read_is_retried() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("GET").path("/v2/pods/p1");
            then.status(503);
        })
        .await;
    let retrying = RetryPolicy::builder()
        .with_max_attempts(3)
        .with_initial_delay(std::time::Duration::from_millis(1))
        .with_max_delay(std::time::Duration::from_millis(2))
        .build()
        .unwrap();
    let err = client_with(&server, retrying)
        .pods()
        .get("p1")
        .send()
        .await
        .unwrap_err();
    mock.assert_calls_async(3).await;
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
}
