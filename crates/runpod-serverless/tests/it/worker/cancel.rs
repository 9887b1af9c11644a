//! job-stop and execution timeouts.

use std::time::Duration;

use runpod_serverless::worker::Worker;
use serde_json::json;

use super::platform::{Gates, Queue, Running, queue_platform, scripted};

#[tokio::test]
async fn job_stop_cancels_the_job_and_posts_no_result() {
    let queue =
        Queue::new([json!({"id": "long", "input": {"progress": 1, "until_cancelled": true}})]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    // The progress update proves the handler is running (so the worker holds the job).
    platform
        .wait_until("handler running", |log| {
            log.iter().any(|r| r.is("job-done"))
        })
        .await;
    queue.stop("long");
    // With concurrency 1 the next job can only start once the stopped one is gone.
    queue.push(json!({"id": "next", "input": {"echo": 1}}));
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].job_id(), "next");
    assert!(
        platform
            .matching(|r| r.job_id() == "long" && r.is_final())
            .is_empty()
    );
    let stops = platform.matching(|r| r.is("job-stop"));
    assert_eq!(stops[0].uri, "/v2/ep/job-stop/w1?gpu=TEST");
}

#[tokio::test]
async fn a_stopped_handler_that_ignores_cancellation_is_dropped_after_the_grace() {
    let queue = Queue::new([
        json!({"id": "stubborn", "input": {"progress": 1, "until_cancelled": true, "ignore_cancel": true}}),
    ]);
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(platform.env())
            .with_cancel_grace(Duration::from_millis(100)),
    );
    // The progress update proves the handler is running (so the worker holds the job).
    platform
        .wait_until("handler running", |log| {
            log.iter().any(|r| r.is("job-done"))
        })
        .await;
    queue.stop("stubborn");
    queue.push(json!({"id": "next", "input": {"echo": 1}}));
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(finals[0].job_id(), "next");
}

#[tokio::test]
async fn execution_timeout_fails_the_job() {
    let queue = Queue::new([
        json!({"id": "slow", "input": {"sleep_ms": 30_000}, "policy": {"executionTimeout": 300}}),
    ]);
    let platform = queue_platform(&queue).await;
    let started = tokio::time::Instant::now();
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(platform.env())
            .with_cancel_grace(Duration::from_millis(50)),
    );
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let doc = finals[0].error_doc();
    assert_eq!(doc["error_type"], "ExecutionTimeout");
    assert_eq!(
        doc["error_message"],
        "the job ran longer than its execution timeout of 300 ms"
    );
}

#[tokio::test]
async fn execution_timeout_fires_the_handlers_token() {
    let queue = Queue::new([
        json!({"id": "t", "input": {"until_cancelled": true}, "policy": {"executionTimeout": 200}}),
    ]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(1).await;
    // The handler returned by itself (well within the 5 s grace): the token reached it.
    assert!(finals[0].at - platform.requests()[0].at < Duration::from_secs(3));
    worker.shutdown().await.unwrap();
    assert_eq!(finals[0].error_doc()["error_type"], "ExecutionTimeout");
}

/// After an answer that stopped a job, the worker asks job-stop again at once: a second cancel
/// must not wait out the 1 s spacing meant for answers that change nothing.
#[tokio::test]
async fn job_stop_is_asked_again_at_once_after_a_stop() {
    let queue =
        Queue::new([json!({"id": "long", "input": {"progress": 1, "until_cancelled": true}})]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    platform
        .wait_until("handler running", |log| {
            log.iter().any(|r| r.is("job-done"))
        })
        .await;
    let stopped_at = tokio::time::Instant::now();
    queue.stop("long");
    // The first job-stop request decided after `stop` carries the id (the fake platform picks
    // its answer on arrival); the one after it shows how long the worker waited.
    let log = platform
        .wait_until("two job-stop requests after the stop", |log| {
            log.iter()
                .filter(|r| r.is("job-stop") && r.at > stopped_at)
                .count()
                >= 2
        })
        .await;
    worker.shutdown().await.unwrap();
    let after: Vec<_> = log
        .iter()
        .filter(|r| r.is("job-stop") && r.at > stopped_at)
        .collect();
    let gap = after[1].at - after[0].at;
    assert!(
        gap < Duration::from_millis(500),
        "the worker waited {gap:?} before asking job-stop again after a stop"
    );
}
