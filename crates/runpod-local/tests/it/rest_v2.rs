//! The offline REST v2 subset (`runpod_local::rest_v2`): auth, shapes and validation as the
//! hosted API, over loopback.

use std::time::{Duration, UNIX_EPOCH};

use reqwest::StatusCode;
use runpod_local::rest_v2::{RestV2State, router};
use serde_json::{Value, json};

struct Api {
    base: String,
    key: Option<&'static str>,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// 2026-06-01T12:00:00Z, so `createdAt` is known.
fn fixed_clock() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_315_200)
}

async fn serve(state: RestV2State, key: Option<&'static str>) -> Api {
    let state = match key {
        Some(k) => state.api_key(k),
        None => state,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router(state.clock(fixed_clock)))
            .await
            .unwrap();
    });
    Api {
        base,
        key,
        http: reqwest::Client::new(),
        task,
    }
}

async fn api() -> Api {
    serve(RestV2State::new(), Some("local-key")).await
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Option<String>, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, content_type, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, b) = self.call(reqwest::Method::GET, path, None).await;
        (s, b)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self.call(reqwest::Method::POST, path, Some(body)).await;
        (s, b)
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self.call(reqwest::Method::PATCH, path, Some(body)).await;
        (s, b)
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, b) = self.call(reqwest::Method::DELETE, path, None).await;
        (s, b)
    }

    async fn serverless_template(&self) -> String {
        let (status, t) = self
            .post("/v2/templates", json!({"name": "worker", "image": "me/worker:1", "serverless": true, "env": {"A": "1", "B": "template"}}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        t["id"].as_str().unwrap().to_owned()
    }
}

fn gpu_endpoint(template_id: &str) -> Value {
    json!({
        "name": "my-endpoint",
        "type": "QUEUE",
        "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
        "templateId": template_id,
        "gpu": {"pools": ["AMPERE_16"], "count": 1},
        "workers": {"min": 0, "max": 3, "idleTimeout": 5},
        "env": {"B": "body"}
    })
}

#[tokio::test]
async fn the_bearer_key_is_required_when_configured() {
    let mut api = api().await;
    let (status, content_type, body) = api.call(reqwest::Method::GET, "/v2/templates", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type.as_deref(), Some("application/json"));

    api.key = None;
    let (status, content_type, body) = api.call(reqwest::Method::GET, "/v2/templates", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(
        body,
        json!({"title": "Unauthorized", "status": 401, "detail": "missing bearer token"})
    );

    api.key = Some("wrong");
    let (status, _, body) = api
        .call(reqwest::Method::GET, "/v2/catalog/gpus", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "invalid bearer token");
}

#[tokio::test]
async fn without_a_key_anyone_may_call() {
    let api = serve(RestV2State::new(), None).await;
    assert_eq!(
        api.get("/v2/serverless").await,
        (StatusCode::OK, json!({"endpoints": []}))
    );
}

#[tokio::test]
async fn templates_have_the_spec_shape_and_defaults() {
    let api = api().await;
    let (status, created) = api
        .post(
            "/v2/templates",
            json!({"name": "My PyTorch Template", "image": "runpod/pytorch:2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 10);
    insta::assert_json_snapshot!("rest_v2_template_created", created, { ".id" => "[id]" });
    // Decodes as the spec's Template.
    serde_json::from_value::<runpod_types::rest::Template>(created.clone()).unwrap();

    assert_eq!(
        api.get(&format!("/v2/templates/{id}")).await,
        (StatusCode::OK, created.clone())
    );
    assert_eq!(
        api.get("/v2/templates").await.1,
        json!({"templates": [created]})
    );

    let (status, renamed) = api
        .patch(
            &format!("/v2/templates/{id}"),
            json!({"name": "Renamed", "ports": ["8888/http"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (renamed["name"].as_str(), renamed["ports"].clone()),
        (Some("Renamed"), json!(["8888/http"]))
    );
    assert_eq!(
        renamed["image"], "runpod/pytorch:2",
        "fields not in the patch stay"
    );

    assert_eq!(
        api.delete(&format!("/v2/templates/{id}")).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    let (status, problem) = api.get(&format!("/v2/templates/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["status"], 404);
    assert_eq!(
        api.delete(&format!("/v2/templates/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn invalid_bodies_are_422_listing_each_violation() {
    let api = api().await;
    let (status, content_type, problem) = api
        .call(
            reqwest::Method::POST,
            "/v2/templates",
            Some(json!({"name": "", "image": " ", "disk": 0, "allowedCudaVersions": ["12"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(
        problem,
        json!({
            "title": "Unprocessable Entity", "status": 422, "detail": "Request validation failed.",
            "errors": [
                "name: must not be empty", "image: must not be empty", "disk: must be at least 1",
                "allowedCudaVersions: \"12\" is not major.minor"
            ]
        })
    );

    // A missing required field, a wrong type, a field the contract does not name.
    let (status, problem) = api.post("/v2/templates", json!({"name": "n"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["errors"][0]
            .as_str()
            .unwrap()
            .contains("missing field `image`"),
        "{problem}"
    );
    assert_eq!(
        api.post(
            "/v2/templates",
            json!({"name": "n", "image": "i", "disk": "big"})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, problem) = api
        .post(
            "/v2/templates",
            json!({"name": "n", "image": "i", "imageName": "i"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"], json!(["imageName: unknown field"]));
    let (status, _, _) = api.call(reqwest::Method::POST, "/v2/templates", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_endpoint_from_a_serverless_template_takes_its_settings() {
    let api = api().await;
    let template = api.serverless_template().await;
    let (status, endpoint) = api.post("/v2/serverless", gpu_endpoint(&template)).await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap().to_owned();
    assert_eq!(endpoint["image"], "me/worker:1");
    assert_eq!(
        endpoint["env"],
        json!({"A": "1", "B": "body"}),
        "env merges per key, the body winning"
    );
    assert_eq!(
        endpoint["requestUrls"]["run"],
        format!("{}/v2/{id}/run", api.base)
    );
    assert_eq!(
        endpoint["requestUrls"]["status"],
        format!("{}/v2/{id}/status/{{job_id}}", api.base)
    );
    let shown: Value = serde_json::from_str(
        &endpoint
            .to_string()
            .replace(&api.base, "http://[server]")
            .replace(&id, "[id]"),
    )
    .unwrap();
    insta::assert_json_snapshot!("rest_v2_endpoint_created", shown);
    serde_json::from_value::<runpod_types::rest::Endpoint>(endpoint.clone()).unwrap();

    assert_eq!(
        api.get("/v2/serverless").await.1["endpoints"][0]["id"],
        id.as_str()
    );
    let (status, scaled) = api
        .patch(
            &format!("/v2/serverless/{id}"),
            json!({"workers": {"max": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        scaled["workers"],
        json!({"min": 0, "max": 5, "idleTimeout": 5})
    );
    let (status, problem) = api
        .patch(
            &format!("/v2/serverless/{id}"),
            json!({"workers": {"min": 9}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "min above max: {problem}");
    assert_eq!(
        api.delete(&format!("/v2/serverless/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get(&format!("/v2/serverless/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn endpoint_rules_follow_the_spec() {
    let api = api().await;
    let template = api.serverless_template().await;
    let (_, pod_template) = api
        .post("/v2/templates", json!({"name": "pod", "image": "i"}))
        .await;

    let mut both = gpu_endpoint(&template);
    both["cpu"] = json!([{"id": "cpu5c", "vcpuCount": 4}]);
    assert_eq!(
        api.post("/v2/serverless", both).await.0,
        StatusCode::BAD_REQUEST,
        "gpu and cpu"
    );
    let mut neither = gpu_endpoint(&template);
    neither.as_object_mut().unwrap().remove("gpu");
    assert_eq!(
        api.post("/v2/serverless", neither).await.0,
        StatusCode::BAD_REQUEST,
        "neither gpu nor cpu"
    );

    let (status, problem) = api
        .post(
            "/v2/serverless",
            gpu_endpoint(pod_template["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a pod template: {problem}"
    );
    assert_eq!(
        api.post("/v2/serverless", gpu_endpoint("nope")).await.0,
        StatusCode::NOT_FOUND
    );

    let mut no_image = gpu_endpoint(&template);
    no_image.as_object_mut().unwrap().remove("templateId");
    let (status, problem) = api.post("/v2/serverless", no_image).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["errors"],
        json!(["image: required unless templateId is set"])
    );

    let mut lb = gpu_endpoint(&template);
    lb["type"] = json!("LOAD_BALANCER");
    assert_eq!(
        api.post("/v2/serverless", lb).await.0,
        StatusCode::BAD_REQUEST,
        "QUEUE_DELAY on a load balancer"
    );
    let mut lb = gpu_endpoint(&template);
    lb["type"] = json!("LOAD_BALANCER");
    lb["scaling"] = json!({"type": "REQUEST_COUNT", "requestCount": 2});
    let (status, created) = api.post("/v2/serverless", lb).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let gateway = format!("{}/lb/{id}", api.base);
    assert_eq!(
        created["requestUrls"],
        json!({"base": gateway, "health": format!("{gateway}/ping")})
    );

    let mut scaler = gpu_endpoint(&template);
    scaler["scaling"] = json!({"type": "GPU_UTILIZATION", "target": 70});
    assert_eq!(
        api.post("/v2/serverless", scaler).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let mut cuda = gpu_endpoint(&template);
    cuda["gpu"] =
        json!({"pools": ["ADA_24"], "allowedCudaVersions": ["12.8"], "minCudaVersion": "12.1"});
    assert_eq!(
        api.post("/v2/serverless", cuda).await.0,
        StatusCode::BAD_REQUEST,
        "a CUDA set and a floor"
    );

    let (status, cpu) = api
        .post(
            "/v2/serverless",
            json!({
                "name": "cpu-inference", "type": "QUEUE", "image": "python:3.11-slim",
                "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
                "cpu": [{"id": "cpu5c", "vcpuCount": 4}, {"id": "cpu5g", "vcpuCount": 8}]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cpu}");
    // Memory comes from the flavor's RAM per vCPU, as in the spec's example.
    assert_eq!(
        cpu["cpu"],
        json!([{"id": "cpu5c", "vcpuCount": 4, "memory": 16}, {"id": "cpu5g", "vcpuCount": 8, "memory": 16}])
    );
    assert_eq!(
        (cpu["timeout"].as_i64(), cpu["flashboot"].as_str()),
        (Some(300_000), Some("OFF"))
    );
}

#[tokio::test]
async fn the_catalog_serves_availability_only_when_asked() {
    let api = api().await;
    let (status, plain) = api.get("/v2/catalog/gpus").await;
    assert_eq!(status, StatusCode::OK);
    let first = &plain["gpus"][0];
    assert_eq!(first["id"], "NVIDIA GeForce RTX 4090");
    assert!(first.get("availability").is_none() && first.get("dataCenters").is_none());
    let pools: Vec<&str> = plain["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["pool"].as_str())
        .collect();
    assert!(
        pools.contains(&"AMPERE_16"),
        "the Python SDK's default pool is listed: {pools:?}"
    );

    let (status, stocked) = api
        .get("/v2/catalog/gpus?include=AVAILABILITY&product=SERVERLESS")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stocked["gpus"][0]["availability"], "HIGH");

    assert_eq!(
        api.get("/v2/catalog/gpus?include=AVAILABILITY").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/v2/catalog/gpus?count=2").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/v2/catalog/gpus?include=EVERYTHING").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, gpu) = api
        .get("/v2/catalog/gpus/NVIDIA%20GeForce%20RTX%204090")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gpu["pool"], "ADA_24");
    assert_eq!(
        api.get("/v2/catalog/gpus/NVIDIA%20Nothing").await.0,
        StatusCode::NOT_FOUND
    );

    let (status, cpus) = api
        .get("/v2/catalog/cpus?include=AVAILABILITY&product=POD&vcpuCount=4")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cpus["cpus"][0]["id"], "cpu3c-2-4");
    assert_eq!(
        api.get("/v2/catalog/cpus/cpu5c").await.1["ramGbPerVcpu"],
        4.0
    );
    serde_json::from_value::<runpod_types::rest::ListGpuTypesResponse>(plain).unwrap();
}

#[tokio::test]
async fn a_catalog_can_be_supplied() {
    let state = RestV2State::new()
        .catalog_json(r#"{"gpus": [], "cpus": []}"#)
        .unwrap();
    let api = serve(state, None).await;
    assert_eq!(api.get("/v2/catalog/gpus").await.1, json!({"gpus": []}));
    assert!(
        RestV2State::new()
            .catalog_json(r#"{"gpus": [{"id": 1}]}"#)
            .is_err()
    );
}

#[tokio::test]
async fn request_urls_use_the_configured_queue_base() {
    let state = RestV2State::new().serverless_base_url("http://127.0.0.1:9/v2/");
    let api = serve(state, None).await;
    let (_, endpoint) = api
        .post("/v2/serverless", json!({
            "name": "e", "type": "QUEUE", "image": "i", "scaling": {"type": "QUEUE_DELAY", "queueDelay": 1},
            "gpu": {"pools": ["ADA_24"]}
        }))
        .await;
    let id = endpoint["id"].as_str().unwrap();
    assert_eq!(
        endpoint["requestUrls"]["health"],
        format!("http://127.0.0.1:9/v2/{id}/health")
    );
}

#[test]
fn the_state_never_prints_its_key() {
    let printed = format!("{:?}", RestV2State::new().api_key("local-secret"));
    assert!(!printed.contains("local-secret"), "{printed}");
}
