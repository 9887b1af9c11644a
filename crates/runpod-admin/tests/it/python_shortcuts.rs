//! The Python-style one-call functions send what their Python namesakes mean, through REST v2.

use httpmock::MockServer;
use serde_json::json;

use crate::support::{Recorder, client, fixture};

async fn serve(
    method: &str,
    path: &str,
    status: u16,
    body: serde_json::Value,
) -> (MockServer, Recorder) {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    server
        .mock_async(|when, then| {
            when.method(method).path(path).is_true(recorder.matcher());
            then.status(status)
                .header("content-type", "application/json")
                .json_body(body);
        })
        .await;
    (server, recorder)
}

#[tokio::test]
async fn create_endpoint_mirrors_the_python_defaults() {
    let (server, recorder) = serve("POST", "/v2/serverless", 201, fixture("createEndpoint")).await;
    let endpoint = client(&server)
        .create_endpoint("my-inference", "30zmvf89kd", ["AMPERE_16", "ADA_24"], 0, 3)
        .await
        .unwrap();
    assert_eq!(
        endpoint.id,
        fixture("createEndpoint")["id"].as_str().unwrap()
    );
    let body = recorder.take().remove(0).body.unwrap();
    assert_eq!(
        body,
        json!({
            "name": "my-inference",
            "type": "QUEUE",
            "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4.0},
            "templateId": "30zmvf89kd",
            "gpu": {"pools": ["AMPERE_16", "ADA_24"], "count": 1},
            "workers": {"min": 0, "max": 3, "idleTimeout": 5}
        })
    );
}

#[tokio::test]
async fn create_template_sends_name_image_and_serverless() {
    let (server, recorder) = serve("POST", "/v2/templates", 201, fixture("createTemplate")).await;
    client(&server)
        .create_template("worker", "me/worker:1", true)
        .await
        .unwrap();
    let body = recorder.take().remove(0).body.unwrap();
    assert_eq!(
        body,
        json!({"name": "worker", "image": "me/worker:1", "serverless": true})
    );
}

#[tokio::test]
async fn list_shortcuts_unwrap_the_lists() {
    let (server, _) = serve("GET", "/v2/catalog/gpus", 200, fixture("listGpuTypes")).await;
    let gpus = client(&server).get_gpus().await.unwrap();
    assert_eq!(gpus[0].id, "NVIDIA GeForce RTX 4090");
    let (server, _) = serve("GET", "/v2/serverless", 200, fixture("listEndpoints")).await;
    assert_eq!(
        client(&server).get_endpoints().await.unwrap().len(),
        fixture("listEndpoints")["endpoints"]
            .as_array()
            .unwrap()
            .len()
    );
    let (server, _) = serve("GET", "/v2/pods", 200, fixture("listPods")).await;
    assert_eq!(
        client(&server).get_pods().await.unwrap()[0].id,
        "7h9k2m4n6p"
    );
}

#[tokio::test]
async fn stop_resume_and_terminate_are_pod_actions() {
    for (call, action, status) in [
        ("stop", "stop", 200),
        ("resume", "start", 200),
        ("terminate", "terminate", 204),
    ] {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.method("POST")
                    .path("/v2/pods/p1/action")
                    .json_body(json!({ "action": action }));
                let then = then
                    .status(status)
                    .header("content-type", "application/json");
                if status == 200 {
                    then.json_body(fixture("podAction"));
                }
            })
            .await;
        let admin = client(&server);
        match call {
            "stop" => assert!(admin.stop_pod("p1").await.unwrap().is_some()),
            "resume" => assert!(admin.resume_pod("p1").await.unwrap().is_some()),
            _ => admin.terminate_pod("p1").await.unwrap(),
        }
        mock.assert_async().await;
    }
}

#[test]
fn the_client_is_cheap_to_share_and_never_prints_its_key() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<runpod_admin::AdminClient>();
    assert_shareable::<runpod_admin::builders::CreatePod>();
    let config = runpod_transport::Config::builder()
        .with_api_key("rp_secret_key_123")
        .build()
        .unwrap();
    let admin = runpod_admin::AdminClient::new(runpod_transport::HttpClient::new(config).unwrap());
    let request = admin.pods().create("p").env([("TOKEN", "hf_secret")]);
    let registry = admin.registries().create("hub", "me", "registry_pw_456");
    let printed = format!("{admin:?} {request:?} {registry:?}");
    for secret in ["rp_secret_key_123", "hf_secret", "registry_pw_456"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    assert!(
        printed.contains("\"me\""),
        "other fields still print: {printed}"
    );
}
