//! What REST v2 lacks, through GraphQL: balance and spend, GPU prices with `lowestPrice`.

use httpmock::MockServer;
use serde_json::json;

use crate::support::{Recorder, client};

async fn graphql(data: serde_json::Value) -> (MockServer, Recorder) {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path("/graphql")
                .is_true(recorder.matcher());
            then.status(200)
                .header("content-type", "application/json")
                .json_body(data);
        })
        .await;
    (server, recorder)
}

#[tokio::test]
async fn balance_reads_myself() {
    let (server, recorder) = graphql(json!({"data": {"myself": {
        "id": "user_1", "email": "me@example.com", "clientBalance": 12.5,
        "currentSpendPerHr": 0.44, "spendLimit": 80
    }}}))
    .await;
    let balance = client(&server).account().balance().send().await.unwrap();
    assert_eq!(balance.client_balance, Some(12.5));
    assert_eq!(balance.current_spend_per_hr, Some(0.44));
    assert_eq!(balance.spend_limit, Some(80));
    let request = recorder.take().remove(0);
    let body = request.body.unwrap();
    assert_eq!(body["operationName"], "Myself");
    insta::assert_json_snapshot!(
        "graphql_myself_request",
        json!({
            "headers": request.headers, "operationName": body["operationName"], "variables": body["variables"]
        })
    );
}

#[tokio::test]
async fn spend_reads_the_details() {
    let (server, _) = graphql(json!({"data": {"myself": {
        "id": "user_1", "clientBalance": 3.0, "clientLifetimeSpend": 1234.5, "underBalance": false,
        "spendDetails": {"gpuComputePerHour": 0.88, "localStoragePerHour": 0.01, "networkStoragePerHour": 0.02}
    }}}))
    .await;
    let spend = client(&server).account().spend().send().await.unwrap();
    assert_eq!(spend.client_lifetime_spend, Some(1234.5));
    assert_eq!(
        spend.spend_details.unwrap().gpu_compute_per_hour,
        Some(0.88)
    );
}

#[tokio::test]
async fn gpu_pricing_sends_the_id_and_count_as_variables() {
    let (server, recorder) = graphql(json!({"data": {"gpuTypes": [{
        "id": "NVIDIA A40", "displayName": "A40", "memoryInGb": 48, "secureCloud": true,
        "communityCloud": true, "securePrice": 0.4, "communityPrice": 0.35, "maxGpuCount": 8,
        "lowestPrice": {"minimumBidPrice": 0.2, "uninterruptablePrice": 0.35}
    }]}}))
    .await;
    let gpu = client(&server)
        .catalog()
        .gpu_pricing("NVIDIA A40\" injected")
        .gpu_count(2)
        .send()
        .await
        .unwrap()
        .unwrap();
    let lowest = gpu.lowest_price.unwrap();
    assert_eq!(lowest.uninterruptable_price, Some(0.35));
    assert_eq!(lowest.minimum_bid_price, Some(0.2));
    let body = recorder.take().remove(0).body.unwrap();
    // Values travel as variables, never spliced into the query text (Python's bug).
    assert_eq!(
        body["variables"],
        json!({"id": "NVIDIA A40\" injected", "gpuCount": 2})
    );
    assert!(!body["query"].as_str().unwrap().contains("injected"));
    assert_eq!(body["operationName"], "GpuType");
}

#[tokio::test]
async fn an_unknown_gpu_is_none() {
    let (server, _) = graphql(json!({"data": {"gpuTypes": []}})).await;
    assert!(client(&server).get_gpu("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn graphql_errors_are_errors() {
    let (server, _) =
        graphql(json!({"data": null, "errors": [{"message": "Something went wrong"}]})).await;
    let err = client(&server)
        .account()
        .balance()
        .send()
        .await
        .unwrap_err();
    assert!(err.is_graphql());
    assert_eq!(
        err.api_error().unwrap().errors[0].message,
        "Something went wrong"
    );
}

#[tokio::test]
async fn no_account_is_a_decode_error() {
    let (server, _) = graphql(json!({"data": {"myself": null}})).await;
    let err = client(&server).get_user().await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");
}
