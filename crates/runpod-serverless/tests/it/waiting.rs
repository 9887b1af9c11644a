//! Waiting for jobs: outcomes, timeouts, runsync falling back to polling.

use std::future::IntoFuture as _;
use std::time::Duration;

use httpmock::MockServer;
use runpod_serverless::{JobStatus, PollPolicy};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::{EP, calls_at_least, client, job, path, status_answers};

#[tokio::test]
async fn wait_polls_through_pending_states_until_completed() {
    let server = MockServer::start_async().await;
    let queued = status_answers(&server, "j", job("j", "IN_QUEUE")).await;
    let endpoint = client(&server).endpoint(EP);
    let job_handle = endpoint.job("j");
    let waiting = tokio::spawn(async move { job_handle.wait().await });

    calls_at_least(&queued, 2).await;
    queued.delete_async().await;
    let running = status_answers(&server, "j", job("j", "IN_PROGRESS")).await;
    calls_at_least(&running, 2).await;
    running.delete_async().await;
    status_answers(
        &server,
        "j",
        json!({"id": "j", "status": "COMPLETED", "output": {"n": 1}, "executionTime": 9}),
    )
    .await;

    let done = waiting.await.unwrap().unwrap();
    assert_eq!(done.status, Some(JobStatus::Completed));
    assert_eq!(
        (done.output, done.execution_time),
        (Some(json!({"n": 1})), Some(9))
    );
}

#[tokio::test]
async fn a_failed_job_is_a_typed_error_with_the_workers_error_parsed() {
    let server = MockServer::start_async().await;
    // The Python worker sends its error document as a JSON string.
    let worker_error =
        json!({"error_type": "ValueError", "error_message": "bad prompt", "hostname": "h"})
            .to_string();
    status_answers(
        &server,
        "j",
        json!({"id": "j", "status": "FAILED", "error": worker_error}),
    )
    .await;
    let err = client(&server)
        .endpoint(EP)
        .job("j")
        .output::<Value>()
        .await
        .unwrap_err();
    assert!(err.is_job_failed() && err.is_job_outcome(), "{err:?}");
    assert!(!err.is_status() && !err.is_timeout());
    assert_eq!(err.job_id(), Some("j"));
    assert_eq!(err.job_error().unwrap()["error_message"], "bad prompt");
}

#[tokio::test]
async fn cancelled_and_timed_out_are_their_own_outcomes() {
    let server = MockServer::start_async().await;
    status_answers(&server, "c", job("c", "CANCELLED")).await;
    status_answers(
        &server,
        "t",
        json!({"id": "t", "status": "TIMED_OUT", "error": "worker did not report back"}),
    )
    .await;
    let endpoint = client(&server).endpoint(EP);

    let cancelled = endpoint.job("c").wait().await.unwrap_err();
    assert!(
        cancelled.is_job_cancelled() && !cancelled.is_job_failed(),
        "{cancelled:?}"
    );
    let timed_out = endpoint.job("t").wait().await.unwrap_err();
    assert!(
        timed_out.is_job_timed_out() && !timed_out.is_job_failed(),
        "{timed_out:?}"
    );
    assert_eq!(
        timed_out.job_error(),
        Some(&json!("worker did not report back"))
    );
    // The job's TIMED_OUT is not a client-side timeout.
    assert!(!timed_out.is_timeout());
}

#[tokio::test]
async fn unknown_statuses_are_kept_and_waited_through() {
    let server = MockServer::start_async().await;
    let odd = status_answers(&server, "j", job("j", "PAUSED_FOR_MAINTENANCE")).await;
    let job_handle = client(&server).endpoint(EP).job("j");
    assert_eq!(
        job_handle.status().await.unwrap().status,
        Some(JobStatus::Unknown("PAUSED_FOR_MAINTENANCE".into()))
    );

    let waiting = tokio::spawn(async move { job_handle.output::<u32>().await });
    calls_at_least(&odd, 3).await;
    assert!(!waiting.is_finished(), "an unknown status ended the wait");
    odd.delete_async().await;
    status_answers(
        &server,
        "j",
        json!({"id": "j", "status": "COMPLETED", "output": 7}),
    )
    .await;
    assert_eq!(waiting.await.unwrap().unwrap(), 7);
}

#[tokio::test]
async fn a_status_without_status_is_not_terminal() {
    let server = MockServer::start_async().await;
    let bare = status_answers(&server, "j", json!({"id": "j"})).await;
    let job_handle = client(&server).endpoint(EP).job("j");
    // Long enough for a second poll on a loaded machine: the assertion is that the bare
    // status did not end the wait, which needs at least two answers read.
    let err = job_handle
        .wait_with_timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(bare.calls_async().await >= 2);
}

#[tokio::test]
async fn wait_with_timeout_names_the_job_to_come_back_to() {
    let server = MockServer::start_async().await;
    let running = status_answers(&server, "slow", job("slow", "IN_PROGRESS")).await;
    let job_handle = client(&server).endpoint(EP).job("slow");
    let started = tokio::time::Instant::now();
    let err = job_handle
        .wait_with_timeout(Duration::from_millis(150))
        .await
        .unwrap_err();
    assert!(err.is_timeout() && !err.is_job_outcome(), "{err:?}");
    assert_eq!(err.job_id(), Some("slow"));
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(running.calls_async().await >= 2);

    let err = job_handle
        .output_with_timeout::<Value>(Duration::from_millis(20))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.job_id(), Some("slow"));
}

#[tokio::test]
async fn awaiting_a_handle_yields_its_output() {
    let server = MockServer::start_async().await;
    status_answers(
        &server,
        "j",
        json!({"id": "j", "status": "COMPLETED", "output": ["a", "b"]}),
    )
    .await;
    status_answers(&server, "empty", job("empty", "COMPLETED")).await;
    let endpoint = client(&server).endpoint(EP);
    assert_eq!(endpoint.job("j").await.unwrap(), json!(["a", "b"]));
    // A job without output gives null; `Option` reads it as None.
    assert_eq!(endpoint.job("empty").await.unwrap(), Value::Null);
    assert_eq!(
        endpoint
            .job("empty")
            .output::<Option<String>>()
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn dropping_a_wait_stops_polling() {
    let server = MockServer::start_async().await;
    let busy = status_answers(&server, "j", job("j", "IN_PROGRESS")).await;
    let handle = client(&server)
        .endpoint(EP)
        .job("j")
        .with_poll_policy(PollPolicy::fixed(Duration::from_millis(5)));
    // Both waits are dropped by the timeout while still polling.
    let waited = tokio::time::timeout(Duration::from_millis(100), handle.wait()).await;
    assert!(waited.is_err());
    let awaited = tokio::time::timeout(Duration::from_millis(100), handle.into_future()).await;
    assert!(awaited.is_err());
    let polls = busy.calls_async().await;
    assert!(polls >= 4, "{polls}");
    // Sixty poll intervals of real time: a poller left running would have hit the mock again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(busy.calls_async().await, polls);
}

#[tokio::test]
async fn a_wait_not_polled_sends_nothing() {
    let server = MockServer::start_async().await;
    let busy = status_answers(&server, "j", job("j", "IN_PROGRESS")).await;
    let handle = client(&server).endpoint(EP).job("j");
    let (_wait, _output) = (handle.wait(), handle.clone().into_future());
    let _status = handle.status();
    tokio::time::sleep(Duration::from_millis(100)).await;
    busy.assert_calls_async(0).await;
}

#[tokio::test]
async fn an_output_of_the_wrong_shape_names_the_json_path() {
    let server = MockServer::start_async().await;
    status_answers(
        &server,
        "j",
        json!({"id": "j", "status": "COMPLETED", "output": {"images": ["a", 2]}}),
    )
    .await;
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Images {
        images: Vec<String>,
    }
    let err = client(&server)
        .endpoint(EP)
        .job("j")
        .output::<Images>()
        .await
        .unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert_eq!(err.json_path(), Some("images[1]"));
    assert_eq!(err.job_id(), Some("j"));
}

#[tokio::test]
async fn run_sync_falls_back_to_status_polling_under_the_same_id() {
    let server = MockServer::start_async().await;
    let runsync = server
        .mock_async(|when, then| {
            when.method("POST").path(path("runsync"));
            then.status(200).json_body(job("sync-42", "IN_PROGRESS"));
        })
        .await;
    let status = status_answers(
        &server,
        "sync-42",
        json!({"id": "sync-42", "status": "COMPLETED", "output": "late"}),
    )
    .await;
    let out: String = client(&server)
        .endpoint(EP)
        .run_sync(json!({}))
        .output()
        .await
        .unwrap();
    assert_eq!(out, "late");
    runsync.assert_calls_async(1).await;
    status.assert_calls_async(1).await;
}

#[tokio::test]
async fn run_sync_timeout_keeps_the_job_id() {
    let server = MockServer::start_async().await;
    let runsync = server
        .mock_async(|when, then| {
            // The caller's 2.2 s budget ends the server hold a second before it.
            when.method("POST")
                .path(path("runsync"))
                .query_param("wait", "1200");
            then.status(200).json_body(job("sync-slow", "IN_QUEUE"));
        })
        .await;
    let status = status_answers(&server, "sync-slow", job("sync-slow", "IN_QUEUE")).await;
    let err = client(&server)
        .endpoint(EP)
        .run_sync(json!({}))
        .timeout(Duration::from_millis(2200))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.job_id(), Some("sync-slow"));
    runsync.assert_calls_async(1).await;
    assert!(status.calls_async().await >= 1);
}

#[tokio::test]
async fn run_sync_reports_job_outcomes() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path(path("runsync"));
            then.status(200).json_body(
                json!({"id": "sync-f", "status": "FAILED", "error": "CUDA out of memory"}),
            );
        })
        .await;
    let err = client(&server)
        .endpoint(EP)
        .run_sync(json!({}))
        .await
        .unwrap_err();
    assert!(err.is_job_failed(), "{err:?}");
    assert_eq!(err.job_id(), Some("sync-f"));
    assert_eq!(err.job_error(), Some(&json!("CUDA out of memory")));
}
