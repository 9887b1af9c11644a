//! Responses the spec's examples do not show: values from a newer API, and partial payloads.

use httpmock::MockServer;
use runpod_admin::rest::{
    AvailabilityLevel, Cloud, EndpointScaling, GpuManufacturer, PodAction, PodStatus,
};
use serde_json::{Value, json};

use crate::support::{client, fixture};

async fn serve(path: &str, body: Value) -> MockServer {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(path);
            then.status(200)
                .header("content-type", "application/json")
                .json_body(body);
        })
        .await;
    server
}

#[tokio::test]
async fn unknown_enum_values_are_kept_and_sent_back_unchanged() {
    let mut pod = fixture("getPod");
    pod["status"] = json!("HIBERNATING");
    pod["cloud"] = json!("ORBITAL");
    pod["actions"] = json!(["start", "snapshot"]);
    let server = serve("/v2/pods/p1", pod.clone()).await;

    let decoded = client(&server).pods().get("p1").send().await.unwrap();
    assert_eq!(decoded.status, PodStatus::Unknown("HIBERNATING".into()));
    assert_eq!(decoded.cloud, Cloud::Unknown("ORBITAL".into()));
    assert_eq!(
        decoded.actions,
        [PodAction::Start, PodAction::Unknown("snapshot".into())]
    );
    assert_eq!(serde_json::to_value(&decoded).unwrap(), pod);
}

#[tokio::test]
async fn an_unknown_scaler_is_kept_whole() {
    let mut endpoint = fixture("getEndpoint");
    endpoint["scaling"] = json!({"type": "GPU_UTILIZATION", "target": 70});
    let server = serve("/v2/serverless/ep1", endpoint.clone()).await;

    let decoded = client(&server).endpoints().get("ep1").send().await.unwrap();
    assert_eq!(
        decoded.scaling,
        EndpointScaling::Unknown(json!({"type": "GPU_UTILIZATION", "target": 70}))
    );
    assert_eq!(
        serde_json::to_value(&decoded).unwrap()["scaling"],
        endpoint["scaling"]
    );
}

#[tokio::test]
async fn partial_payloads_decode() {
    // Only what the spec requires, plus a field this version has never heard of.
    let body = json!({"gpus": [{
        "id": "AMD Instinct MI300X OAM", "name": "MI300X", "pool": null, "manufacturer": "AMD",
        "memory": 192, "secure": true, "community": false,
        "price": {"secure": 2.49, "community": 0.0}, "maxCount": {"secure": 8, "community": 0},
        "introducedIn": "2027"
    }]});
    let server = serve("/v2/catalog/gpus", body).await;

    let list = client(&server).catalog().gpus().send().await.unwrap();
    let gpu = &list.gpus[0];
    assert_eq!(gpu.manufacturer, GpuManufacturer::Amd);
    assert_eq!(gpu.pool, None);
    assert_eq!(gpu.price.serverless, None);
    assert_eq!(gpu.availability, None::<AvailabilityLevel>);
    assert!(gpu.data_centers.is_none() && gpu.cuda_versions.is_none());
}

#[tokio::test]
async fn a_missing_required_field_is_a_decode_error_naming_its_path() {
    let mut pods = fixture("listPods");
    pods["pods"][0].as_object_mut().unwrap().remove("status");
    let server = serve("/v2/pods", pods).await;

    let err = client(&server).pods().list().send().await.unwrap_err();
    assert!(err.is_decode());
    assert_eq!(err.json_path(), Some("pods[0]"));
}

#[test]
fn env_values_never_reach_debug_output() {
    let body: runpod_admin::rest::CreatePodRequest = serde_json::from_value(json!({
        "name": "p", "env": {"HF_TOKEN": "hf_supersecret"}
    }))
    .unwrap();
    let printed = format!("{body:?}");
    assert!(
        printed.contains("HF_TOKEN") && !printed.contains("hf_supersecret"),
        "{printed}"
    );
}
