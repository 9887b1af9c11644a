//! End to end against `runpod-local`, with a worker played over raw HTTP in the test.

use std::collections::HashSet;
use std::time::Duration;

use runpod_serverless::{Config, Endpoint, JobHandle, JobStatus, PollPolicy, ServerlessClient};
use runpod_transport::{ApiKey, Auth, Error, HttpClient, Method};
use runpod_types::serverless::WorkerJob;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const KEY: &str = "local-key";

async fn local_server(execution_timeout: Option<Duration>) -> runpod_local::RunningServer {
    let mut builder = runpod_local::Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_millis(200));
    if let Some(timeout) = execution_timeout {
        builder = builder.default_execution_timeout(timeout);
    }
    builder.bind("127.0.0.1:0").await.unwrap()
}

/// The error that ends the job's chunk stream (the stream must end with one).
async fn last_chunk_error(job: &JobHandle) -> Error {
    let mut items = crate::support::collect_ending(job.chunks()).await;
    items
        .pop()
        .expect("no item")
        .expect_err("the stream ended without an error")
}

fn client_for(server: &runpod_local::RunningServer) -> ServerlessClient {
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(server.serverless_base_url())
        .build()
        .unwrap();
    ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(
            PollPolicy::builder()
                .with_max_delay(Duration::from_millis(100))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// A worker speaking the protocol directly: job-take long poll, job-stream, job-done, with the
/// raw worker key. What it does is chosen by `input.op`.
fn spawn_worker(server: &runpod_local::RunningServer, endpoint_id: &str) -> JoinHandle<()> {
    let env: std::collections::HashMap<String, String> =
        server.worker_env(endpoint_id, "w-1").into_iter().collect();
    let worker_id = env["RUNPOD_POD_ID"].clone();
    let key = env["RUNPOD_AI_API_KEY"].clone();
    let take_url = env["RUNPOD_WEBHOOK_GET_JOB"].replace("$ID", &worker_id);
    let done_url = env["RUNPOD_WEBHOOK_POST_OUTPUT"].replace("$RUNPOD_POD_ID", &worker_id);
    let stream_url = env["RUNPOD_WEBHOOK_POST_STREAM"].replace("$RUNPOD_POD_ID", &worker_id);
    let http = HttpClient::new(
        Config::builder()
            .with_serverless_base_url(server.serverless_base_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    let auth = move || Auth::Raw(ApiKey::new(key.clone()));
    tokio::spawn(async move {
        let mut failed_once = HashSet::new();
        loop {
            let Ok(response) = http
                .request(Method::GET, &take_url)
                .auth(auth())
                .query("job_in_progress", 0)
                .send()
                .await
            else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            if response.status().as_u16() != 200 {
                continue;
            }
            let job: WorkerJob = response.json().unwrap();
            let input = &job.input;
            let post = |url: &str, body: Value| {
                http.request(Method::POST, url.replace("$ID", &job.id))
                    .auth(auth())
                    .query("isStream", false)
                    .json(&body)
            };
            let result = match input["op"].as_str().unwrap_or_default() {
                "echo" => json!({"output": input["value"]}),
                "stream" => {
                    let parts = input["parts"].as_array().cloned().unwrap_or_default();
                    for part in &parts {
                        post(&stream_url, json!({"output": part}))
                            .send()
                            .await
                            .unwrap();
                    }
                    json!({"output": parts})
                }
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(input["ms"].as_u64().unwrap())).await;
                    json!({"output": "slow done"})
                }
                "fail_once" if failed_once.insert(job.id.clone()) => {
                    // What the Python worker sends for a raised exception: a JSON document in
                    // a string.
                    let doc = json!({
                        "error_type": "RuntimeError",
                        "error_message": "first attempt fails",
                    });
                    json!({"error": doc.to_string()})
                }
                "fail_once" => json!({"output": "second try"}),
                "fail" => json!({"error": "always fails"}),
                // Takes the job and never reports: the server's execution timeout ends it.
                "hang" => continue,
                other => panic!("unknown op {other:?}"),
            };
            post(&done_url, result).send().await.unwrap();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_operation_against_runpod_local() {
    let server = local_server(None).await;
    let client = client_for(&server);
    assert!(
        !client.is_rate_limited(),
        "local servers get no client-side limits by default"
    );
    let endpoint = client.endpoint("e2e");
    let worker = spawn_worker(&server, "e2e");

    // run → handle → typed output, status, and awaiting the handle.
    let job = endpoint
        .run(json!({"op": "echo", "value": {"n": 1}}))
        .await
        .unwrap();
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct N {
        n: u32,
    }
    assert_eq!(job.output::<N>().await.unwrap(), N { n: 1 });
    let state = job.status().await.unwrap();
    assert_eq!(state.status, Some(JobStatus::Completed));
    assert_eq!(state.id, job.id());
    assert_eq!(job.clone().await.unwrap(), json!({"n": 1}));

    // runsync answering in time, and falling back to /status when the job outlasts `wait`.
    assert_eq!(
        endpoint
            .run_sync(json!({"op": "echo", "value": "hi"}))
            .await
            .unwrap(),
        json!("hi")
    );
    let slow = endpoint
        .run_sync(json!({"op": "slow", "ms": 1500}))
        .hold(Duration::from_secs(1))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.output, Some(json!("slow done")));

    // Streaming: every chunk in order, then the end.
    let job = endpoint
        .run(json!({"op": "stream", "parts": ["a", "b", "c"]}))
        .await
        .unwrap();
    let chunks: Vec<Value> = crate::support::collect_ending(job.chunks())
        .await
        .into_iter()
        .map(|c| c.unwrap().output.unwrap())
        .collect();
    assert_eq!(chunks, [json!("a"), json!("b"), json!("c")]);

    // A failure is a typed outcome with the worker's error; /retry runs it again under the same id.
    let job = endpoint.run(json!({"op": "fail_once"})).await.unwrap();
    let err = job.wait().await.unwrap_err();
    assert!(err.is_job_failed(), "{err:?}");
    assert_eq!(err.job_id(), Some(job.id()));
    assert_eq!(
        err.job_error().unwrap()["error_message"],
        "first attempt fails"
    );
    assert_eq!(job.retry().await.unwrap().id, job.id());
    assert_eq!(job.output::<String>().await.unwrap(), "second try");

    // A failing job ends its stream with the error.
    let job = endpoint.run(json!({"op": "fail"})).await.unwrap();
    let items = crate::support::collect_ending(job.chunks()).await;
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(
        last.is_job_failed() && last.job_error() == Some(&json!("always fails")),
        "{last:?}"
    );

    let health = endpoint.health().await.unwrap();
    let jobs = health.jobs.unwrap();
    assert!(jobs.completed.unwrap() >= 5, "{jobs:?}");
    assert!(jobs.failed.unwrap() >= 1, "{jobs:?}");

    worker.abort();
    queue_operations(&client.endpoint("no-workers")).await;

    // A wrong key is refused.
    let wrong = ServerlessClient::from_config(
        Config::builder()
            .with_api_key("nope")
            .with_serverless_base_url(server.serverless_base_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(
        wrong
            .endpoint("e2e")
            .health()
            .await
            .unwrap_err()
            .is_unauthorized()
    );
    server.shutdown().await;
}

/// Cancel, purge and not-found on an endpoint no worker serves.
async fn queue_operations(idle: &Endpoint) {
    let job = idle.run(json!({"op": "echo"})).await.unwrap();
    assert_eq!(job.status().await.unwrap().status, Some(JobStatus::InQueue));
    assert_eq!(
        job.cancel().await.unwrap().status,
        Some(JobStatus::Cancelled)
    );
    assert!(job.wait().await.unwrap_err().is_job_cancelled());
    assert!(last_chunk_error(&job).await.is_job_cancelled());

    for _ in 0..3 {
        idle.run(json!({})).await.unwrap();
    }
    assert_eq!(idle.purge_queue().await.unwrap().removed, Some(3));
    assert_eq!(idle.health().await.unwrap().jobs.unwrap().in_queue, Some(0));

    let err = idle.job("no-such-job").status().await.unwrap_err();
    assert!(
        err.is_not_found() && err.job_id() == Some("no-such-job"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_execution_timeout_ends_waits_and_streams() {
    let server = local_server(Some(Duration::from_millis(300))).await;
    let endpoint = client_for(&server).endpoint("e2e-timeout");
    let worker = spawn_worker(&server, "e2e-timeout");

    let job = endpoint.run(json!({"op": "hang"})).await.unwrap();
    let err = job
        .wait_with_timeout(Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(err.is_job_timed_out() && !err.is_timeout(), "{err:?}");
    assert!(last_chunk_error(&job).await.is_job_timed_out());

    worker.abort();
    server.shutdown().await;
}

#[cfg(feature = "blocking")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_client_against_runpod_local() {
    let server = local_server(None).await;
    let worker = spawn_worker(&server, "e2e-blocking");
    let client = runpod_serverless::blocking::ServerlessClient::from_async(client_for(&server));
    // The blocking calls run on their own thread, away from this runtime.
    let outputs = tokio::task::spawn_blocking(move || {
        let endpoint = client.endpoint("e2e-blocking");
        let job = endpoint
            .run(json!({"op": "stream", "parts": [1, 2]}))
            .send()
            .unwrap();
        let chunks: Vec<Value> = job.chunks().map(|c| c.unwrap().output.unwrap()).collect();
        let sync: Value = endpoint
            .run_sync(json!({"op": "echo", "value": 3}))
            .output()
            .unwrap();
        (chunks, job.output::<Value>().unwrap(), sync)
    })
    .await
    .unwrap();
    assert_eq!(outputs, (vec![json!(1), json!(2)], json!([1, 2]), json!(3)));
    worker.abort();
    server.shutdown().await;
}
