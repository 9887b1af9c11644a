use graphql_client::GraphQLQuery;
use runpod_types::graphql::{gpus, user};
use serde_json::json;

#[test]
fn gpu_type_sends_values_as_variables() {
    let body = gpus::GpuType::build_query(gpus::gpu_type::Variables {
        id: "NVIDIA GeForce RTX 4090".to_owned(),
        gpu_count: 2,
    });
    let wire = serde_json::to_value(&body).unwrap();
    assert_eq!(wire["operationName"], "GpuType");
    assert_eq!(
        wire["variables"],
        json!({"id": "NVIDIA GeForce RTX 4090", "gpuCount": 2})
    );
    let query = wire["query"].as_str().unwrap();
    assert!(
        !query.contains("4090"),
        "a value was spliced into the query text"
    );
    assert!(
        query.contains("lowestPrice(input: { gpuCount: $gpuCount })"),
        "{query}"
    );
    assert!(query.contains("gpuTypes(input: { id: $id })"), "{query}");
    assert!(!query.contains('#'), "comments are not sent: {query}");
}

#[test]
fn gpu_type_response_decodes() {
    let data: gpus::gpu_type::ResponseData = serde_json::from_value(json!({
        "gpuTypes": [{
            "maxGpuCount": 8, "id": "NVIDIA GeForce RTX 4090", "displayName": "RTX 4090",
            "manufacturer": "Nvidia", "memoryInGb": 24, "cudaCores": 16384,
            "secureCloud": true, "communityCloud": true, "securePrice": 0.69, "communityPrice": 0.34,
            "oneMonthPrice": null, "threeMonthPrice": null, "oneWeekPrice": null,
            "communitySpotPrice": 0.2, "secureSpotPrice": null,
            "lowestPrice": {"minimumBidPrice": 0.2, "uninterruptablePrice": 0.34}
        }]
    }))
    .unwrap();
    let gpu = data.gpu_types.unwrap().remove(0).unwrap();
    assert_eq!(gpu.memory_in_gb, Some(24));
    assert_eq!(gpu.lowest_price.unwrap().uninterruptable_price, Some(0.34));
}

#[test]
fn myself_response_decodes() {
    let body = user::Myself::build_query(user::myself::Variables);
    assert_eq!(body.operation_name, "Myself");
    let data: user::myself::ResponseData = serde_json::from_value(json!({
        "myself": {"id": "u1", "email": "a@b.c", "clientBalance": 12.5, "currentSpendPerHr": 0.44, "spendLimit": 80}
    }))
    .unwrap();
    let me = data.myself.unwrap();
    assert_eq!(me.client_balance, Some(12.5));
    assert_eq!(me.spend_limit, Some(80));
}

#[test]
fn my_spend_response_decodes() {
    let data: user::my_spend::ResponseData = serde_json::from_value(json!({
        "myself": {
            "id": "u1", "clientBalance": 3.0, "currentSpendPerHr": 0.1, "spendLimit": 10,
            "clientLifetimeSpend": 100.0, "underBalance": false, "minBalance": 0.0,
            "creditAlertThreshold": null,
            "spendDetails": {"localStoragePerHour": 0.01, "networkStoragePerHour": 0.02, "gpuComputePerHour": 0.07}
        }
    }))
    .unwrap();
    let me = data.myself.unwrap();
    assert_eq!(me.spend_details.unwrap().gpu_compute_per_hour, Some(0.07));
    assert_eq!(me.credit_alert_threshold, None);
}
