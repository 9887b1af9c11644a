//! Arguments rejected before any request.

use std::time::Duration;

use httpmock::{Mock, MockServer};
use runpod_serverless::ExecutionPolicy;
use serde_json::json;

use crate::support::{EP, client, job, path};

/// Every request is answered as a queued job `j`: a test counts what reached the server.
async fn queues_anything(server: &MockServer) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(job("j", "IN_QUEUE"));
        })
        .await
}

#[tokio::test]
async fn out_of_range_policies_never_reach_the_server() {
    let server = MockServer::start_async().await;
    let any = queues_anything(&server).await;
    let endpoint = client(&server).endpoint(EP);
    let s = Duration::from_secs;
    let day = s(24 * 3600);

    let rejected = [
        endpoint
            .run(1)
            .execution_timeout(Duration::from_millis(4_999))
            .await
            .unwrap_err(),
        endpoint
            .run(1)
            .execution_timeout(7 * day + Duration::from_millis(1))
            .await
            .unwrap_err(),
        endpoint.run(1).ttl(s(9)).await.unwrap_err(),
        endpoint.run(1).ttl(8 * day).await.unwrap_err(),
        endpoint
            .run(1)
            .policy(ExecutionPolicy {
                ttl: Some(-5),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        endpoint
            .run_sync(1)
            .execution_timeout(Duration::ZERO)
            .await
            .unwrap_err(),
        endpoint
            .run_sync(1)
            .ttl(Duration::MAX)
            .send()
            .await
            .unwrap_err(),
    ];
    for err in &rejected {
        assert!(err.is_invalid_input() && !err.is_retryable(), "{err:?}");
    }
    assert_eq!(
        rejected[0].to_string(),
        "invalid input: execution timeout must be between 5 s and 7 days \
         (5000..=604800000 ms), got 4999 ms"
    );
    any.assert_calls_async(0).await;

    // The bounds themselves are accepted.
    endpoint
        .run(1)
        .execution_timeout(s(5))
        .ttl(7 * day)
        .await
        .unwrap();
    endpoint
        .run(1)
        .execution_timeout(7 * day)
        .ttl(s(10))
        .await
        .unwrap();
    any.assert_calls_async(2).await;
}

#[tokio::test]
async fn an_input_that_is_not_json_is_rejected_before_sending() {
    let server = MockServer::start_async().await;
    let any = queues_anything(&server).await;
    let mut not_json = std::collections::HashMap::new();
    not_json.insert(vec![1u8], "byte-vector keys have no JSON form");
    let err = client(&server)
        .endpoint(EP)
        .run(not_json)
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn later_setters_refine_a_whole_policy() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method("POST").path(path("run")).json_body(json!({
                "input": null,
                "policy": {"executionTimeout": 60000, "lowPriority": true, "ttl": 20000}
            }));
            then.status(200).json_body(job("j", "IN_QUEUE"));
        })
        .await;
    client(&server)
        .endpoint(EP)
        .run(())
        .policy(ExecutionPolicy {
            ttl: Some(20_000),
            low_priority: Some(false),
            ..Default::default()
        })
        .low_priority(true)
        .execution_timeout(Duration::from_secs(60))
        .await
        .unwrap();
    m.assert_calls_async(1).await;
}
