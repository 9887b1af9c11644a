//! Graceful shutdown: no new jobs, in-flight jobs finish (within a deadline) and report.

use std::time::Duration;

use runpod_serverless::worker::Worker;
use serde_json::json;

use super::platform::{Gates, Platform, Queue, Reply, Running, queue_platform, scripted};

#[tokio::test]
async fn shutdown_lets_the_running_job_finish_and_report() {
    let queue = Queue::new([
        json!({"id": "d1", "input": {"progress": 1, "gate": "d1", "echo": "finished"}}),
    ]);
    let platform = queue_platform(&queue).await;
    let gates = Gates::default();
    let worker = Running::spawn(Worker::builder(scripted(gates.clone())).with_env(platform.env()));
    platform
        .wait_until("handler running", |log| {
            log.iter().any(|r| r.is("job-done"))
        })
        .await;
    queue.push(json!({"id": "never", "input": {}}));

    let stopping = tokio::spawn(worker.shutdown());
    // Shutdown must wait for the job: release it only now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "run() returned while a job was in flight"
    );
    gates.open("d1");
    stopping.await.unwrap().unwrap();

    let finals = platform.finals();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].json(), json!({"output": "finished"}));
    assert_eq!(
        platform.matching(|r| r.is("job-take")).len(),
        1,
        "no job taken after the shutdown request"
    );
}

#[tokio::test]
async fn jobs_still_running_at_the_deadline_are_failed_and_reported() {
    let queue = Queue::new([json!({"id": "stuck", "input": {"progress": 1, "sleep_ms": 60_000}})]);
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(platform.env())
            .with_shutdown_timeout(Duration::from_millis(300)),
    );
    platform
        .wait_until("handler running", |log| {
            log.iter().any(|r| r.is("job-done"))
        })
        .await;
    let started = tokio::time::Instant::now();
    worker.shutdown().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let finals = platform.finals();
    assert_eq!(finals.len(), 1);
    let doc = finals[0].error_doc();
    assert_eq!(doc["error_type"], "WorkerShutdown");
    assert!(
        doc["error_message"]
            .as_str()
            .unwrap()
            .starts_with("worker shutting down")
    );
}

#[tokio::test]
async fn shutdown_drops_the_open_long_poll() {
    // A server that holds job-take for a minute.
    let platform = Platform::start(|_| Reply::status(204).delay(Duration::from_secs(60))).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    platform
        .wait_until("long-poll open", |log| log.iter().any(|r| r.is("job-take")))
        .await;
    let started = tokio::time::Instant::now();
    worker.shutdown().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

/// SIGTERM to this very process: `shutdown_on_signal` installs the handler before the worker
/// starts, so the process survives and the worker drains. No other test listens for signals.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_shuts_the_worker_down_gracefully() {
    let queue = Queue::new([
        json!({"id": "s1", "input": {"progress": 1, "sleep_ms": 300, "echo": "drained"}}),
    ]);
    let platform = queue_platform(&queue).await;
    let run = tokio::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(platform.env())
            .shutdown_on_signal()
            .run(),
    );
    platform
        .wait_until("handler running", |log| {
            log.iter().any(|r| r.is("job-done"))
        })
        .await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("worker did not stop on SIGTERM")
        .unwrap()
        .unwrap();
    let finals = platform.finals();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].json(), json!({"output": "drained"}));
}
