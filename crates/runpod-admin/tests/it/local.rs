//! The Python SDK's documented flow, run offline: `runpod-local` serves REST v2 (templates,
//! endpoints, catalog) and the endpoint's job queue; this client drives it.

use runpod_admin::AdminClient;
use runpod_admin::rest::EndpointRequestUrls;
use runpod_local::rest_v2::{RestV2State, router};
use runpod_transport::{ApiKey, Auth, Config, HttpClient, Method};
use serde_json::{Value, json};

const KEY: &str = "local-key";

#[tokio::test]
async fn create_a_template_and_an_endpoint_list_gpus_and_run_a_job() {
    // The queue (run/status and the worker protocol) and the REST v2 subset, on loopback.
    let queue = runpod_local::Server::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let rest = RestV2State::new()
        .api_key(KEY)
        .serverless_base_url(queue.serverless_base_url());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rest_url = format!("http://{}", listener.local_addr().unwrap());
    let rest_task = tokio::spawn(async move { axum::serve(listener, router(rest)).await.unwrap() });

    let config = Config::builder()
        .with_api_key(KEY)
        .with_rest_base_url(&rest_url)
        .build()
        .unwrap();
    let admin = AdminClient::new(HttpClient::new(config).unwrap());

    // runpod.create_template(name, image_name, is_serverless=True)
    let template = admin
        .create_template("echo-worker", "me/echo:1", true)
        .await
        .unwrap();
    assert!(template.serverless);
    // runpod.create_endpoint(name, template_id, gpu_ids="AMPERE_16", workers_min=0, workers_max=1)
    let endpoint = admin
        .create_endpoint("echo", &template.id, ["AMPERE_16"], 0, 1)
        .await
        .unwrap();
    assert_eq!(endpoint.image.as_deref(), Some("me/echo:1"));
    // runpod.get_gpus(): the pool the endpoint asked for is in the catalog.
    let gpus = admin.get_gpus().await.unwrap();
    assert!(gpus.iter().any(|g| g.pool.as_deref() == Some("AMPERE_16")));
    // runpod.get_endpoints()
    let endpoints = admin.get_endpoints().await.unwrap();
    assert_eq!(
        endpoints.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [endpoint.id.as_str()]
    );

    // runpod.Endpoint(id).run(...): submit where the endpoint says, work it as a worker would.
    let Some(EndpointRequestUrls::QueueBased(urls)) = endpoint.request_urls else {
        panic!("a queue endpoint has queue URLs");
    };
    let http = admin.http();
    let submitted: Value = http
        .request(Method::POST, &urls.run)
        .json(&json!({"input": {"prompt": "hello"}}))
        .send_json()
        .await
        .unwrap();
    let job_id = submitted["id"].as_str().unwrap().to_owned();

    let env: std::collections::HashMap<String, String> =
        queue.worker_env(&endpoint.id, "w1").into_iter().collect();
    let worker_auth = || Auth::Raw(ApiKey::new(env["RUNPOD_AI_API_KEY"].clone()));
    let take = env["RUNPOD_WEBHOOK_GET_JOB"].replace("$ID", "w1");
    let job: Value = http
        .request(Method::GET, &take)
        .auth(worker_auth())
        .send_json()
        .await
        .unwrap();
    assert_eq!(job["id"], job_id.as_str());
    assert_eq!(job["input"], json!({"prompt": "hello"}));
    let done = env["RUNPOD_WEBHOOK_POST_OUTPUT"]
        .replace("$RUNPOD_POD_ID", "w1")
        .replace("$ID", &job_id);
    http.request(Method::POST, &done)
        .auth(worker_auth())
        .json(&json!({"output": {"echo": "hello"}}))
        .send()
        .await
        .unwrap();

    let status: Value = http
        .request(Method::GET, urls.status.replace("{job_id}", &job_id))
        .send_json()
        .await
        .unwrap();
    assert_eq!(status["status"], "COMPLETED");
    assert_eq!(status["output"], json!({"echo": "hello"}));

    rest_task.abort();
    queue.shutdown().await;
}
