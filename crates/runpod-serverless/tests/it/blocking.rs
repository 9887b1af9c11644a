//! The blocking API: same calls, no async, safe inside a runtime.

use std::time::Duration;

use httpmock::MockServer;
use runpod_serverless::blocking::ServerlessClient;
use runpod_serverless::{JobStatus, RateLimits};
use serde_json::{Value, json};

use crate::support::{EP, config, fast_poll, job, path};

fn blocking_client(server: &MockServer) -> ServerlessClient {
    ServerlessClient::builder()
        .with_config(config(server))
        .with_poll_policy(fast_poll())
        .with_rate_limits(RateLimits::disabled())
        .build()
        .unwrap()
}

fn mock_routes(server: &MockServer) {
    let answers = [
        ("POST", path("run"), job("job-b", "IN_QUEUE")),
        (
            "POST",
            path("runsync"),
            json!({"id": "sync-b", "status": "COMPLETED", "output": [1, 2]}),
        ),
        (
            "GET",
            path("status/job-b"),
            json!({"id": "job-b", "status": "COMPLETED", "output": {"ok": true}}),
        ),
        ("POST", path("cancel/job-b"), job("job-b", "CANCELLED")),
        ("POST", path("retry/job-b"), job("job-b", "IN_QUEUE")),
        (
            "GET",
            path("stream/job-b"),
            json!({"status": "IN_PROGRESS", "stream": [{"output": "a"}, {"output": "b"}]}),
        ),
        (
            "GET",
            path("stream/job-f"),
            json!({"status": "FAILED", "error": "boom"}),
        ),
        ("GET", path("health"), json!({"workers": {"idle": 3}})),
        ("POST", path("purge-queue"), json!({"removed": 4})),
    ];
    for (method, p, body) in answers {
        server.mock(|when, then| {
            when.method(method).path(p);
            then.status(200).json_body(body);
        });
    }
}

#[test]
fn every_operation_works_without_a_runtime() {
    let server = MockServer::start();
    mock_routes(&server);
    let endpoint = blocking_client(&server).endpoint(EP);

    let job = endpoint
        .run(json!({"prompt": "x"}))
        .ttl(Duration::from_secs(60))
        .send()
        .unwrap();
    assert_eq!(job.id(), "job-b");
    assert_eq!(job.status().unwrap().status, Some(JobStatus::Completed));
    assert_eq!(job.output::<Value>().unwrap(), json!({"ok": true}));
    assert_eq!(
        job.wait_with_timeout(Duration::from_secs(5)).unwrap().id,
        "job-b"
    );
    assert_eq!(job.cancel().unwrap().status, Some(JobStatus::Cancelled));
    assert_eq!(job.retry().unwrap().status, Some(JobStatus::InQueue));
    assert_eq!(
        endpoint.run_sync(json!({})).output::<Vec<u32>>().unwrap(),
        [1, 2]
    );
    assert_eq!(endpoint.health().unwrap().workers.unwrap().idle, Some(3));
    assert_eq!(endpoint.purge_queue().unwrap().removed, Some(4));

    // Streams are iterators; taking a few and dropping the rest is fine.
    let chunks: Vec<_> = job
        .chunks()
        .take(3)
        .map(|c| c.unwrap().output.unwrap())
        .collect();
    assert_eq!(chunks, [json!("a"), json!("b"), json!("a")]);
    let ended: Vec<_> = endpoint.job("job-f").chunks().collect();
    assert_eq!(ended.len(), 1);
    assert!(ended[0].as_ref().unwrap_err().is_job_failed());

    // Validation happens before any request, as in the async API.
    let err = endpoint
        .run(1)
        .execution_timeout(Duration::from_secs(1))
        .send()
        .unwrap_err();
    assert!(err.is_invalid_input());
}

#[test]
fn timeouts_keep_the_job_id() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method("GET").path(path("status/slow"));
        then.status(200).json_body(job("slow", "IN_PROGRESS"));
    });
    let job = blocking_client(&server).endpoint(EP).job("slow");
    let err = job
        .output_with_timeout::<Value>(Duration::from_millis(50))
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.job_id(), Some("slow"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_it_inside_a_runtime_does_not_panic() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("health"));
            then.status(200).json_body(json!({"jobs": {"inQueue": 1}}));
        })
        .await;
    let client = blocking_client(&server);
    let health = client.endpoint(EP).health().unwrap();
    assert_eq!(health.jobs.unwrap().in_queue, Some(1));
    // The last handle going away inside the runtime must not panic either.
    drop(client);
}

#[tokio::test(flavor = "current_thread")]
async fn calling_it_on_a_current_thread_runtime_does_not_deadlock() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("status/j"));
            then.status(200)
                .json_body(json!({"id": "j", "status": "COMPLETED", "output": 5}));
        })
        .await;
    // The work runs on the client's own runtime thread, not on this (blocked) one.
    let out: u32 = blocking_client(&server)
        .endpoint(EP)
        .job("j")
        .output()
        .unwrap();
    assert_eq!(out, 5);
}
