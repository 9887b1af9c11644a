//! Result posts are never lost silently: retries on 5xx, 429 and refused connections; 4xx is
//! final; a deadline bounds it all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use runpod_serverless::worker::{Worker, WorkerEnv};
use serde_json::json;

use super::platform::{Gates, Platform, Queue, Reply, Running, queue_platform, scripted};

/// Answers job-done posts with `statuses` in turn, then 200.
fn failing_then_ok(queue: &Queue, statuses: Vec<Reply>) {
    let n = AtomicUsize::new(0);
    queue.on_post(move |req| {
        if !req.is("job-done") {
            return Reply::status(200);
        }
        let i = n.fetch_add(1, Ordering::SeqCst);
        statuses
            .get(i)
            .cloned()
            .unwrap_or_else(|| Reply::status(200))
    });
}

#[tokio::test]
async fn result_post_retries_5xx_until_accepted_exactly_once() {
    let queue = Queue::new([json!({"id": "x500", "input": {"echo": {"ok": true}}})]);
    failing_then_ok(&queue, vec![Reply::raw(500, "oops"), Reply::status(502)]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(3).await;
    worker.shutdown().await.unwrap();

    assert_eq!(finals.len(), 3, "two failures, one success, nothing more");
    for r in &finals {
        assert_eq!(r.json(), json!({"output": {"ok": true}}));
        assert_eq!(r.header("x-request-id"), Some("x500"));
    }
}

#[tokio::test]
async fn result_post_retries_429_honouring_retry_after() {
    let queue = Queue::new([json!({"id": "x429", "input": {"echo": 1}})]);
    failing_then_ok(&queue, vec![Reply::status(429).header("retry-after", "1")]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(2).await;
    worker.shutdown().await.unwrap();
    assert_eq!(finals.len(), 2);
    assert!(finals[1].at - finals[0].at >= Duration::from_millis(950));
}

#[tokio::test]
async fn result_post_survives_a_refused_connection() {
    // job-done points at a port where nothing listens yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let queue = Queue::new([json!({"id": "late", "input": {"echo": "kept"}})]);
    let platform = queue_platform(&queue).await;
    let mut vars = platform.env_vars();
    for (k, v) in &mut vars {
        if k == "RUNPOD_WEBHOOK_POST_OUTPUT" {
            *v = format!("http://{port}/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=TEST");
        }
    }
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default())).with_env(WorkerEnv::from_vars(vars)),
    );
    platform
        .wait_until("the job taken", |log| log.iter().any(|r| r.is("job-take")))
        .await;
    // Let the first attempts be refused, then bring the result endpoint up on that port.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let late = Platform::start_on(port, |_| Reply::status(200)).await;
    let finals = late.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].json(), json!({"output": "kept"}));
}

#[tokio::test]
async fn a_4xx_answer_is_not_retried_and_the_worker_goes_on() {
    let queue = Queue::new([
        json!({"id": "x404", "input": {"echo": 1}}),
        json!({"id": "next", "input": {"echo": 2}}),
    ]);
    queue.on_post(|req| {
        if req.job_id() == "x404" {
            Reply::raw(404, "unknown job")
        } else {
            Reply::status(200)
        }
    });
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform
        .wait_until("next", |log| {
            log.iter().any(|r| r.is_final() && r.job_id() == "next")
        })
        .await;
    worker.shutdown().await.unwrap();
    let for_404 = finals
        .iter()
        .filter(|r| r.is_final() && r.job_id() == "x404")
        .count();
    assert_eq!(for_404, 1);
}

#[tokio::test]
async fn result_retries_stop_at_the_deadline() {
    let queue = Queue::new([
        json!({"id": "doomed", "input": {"echo": 1}}),
        json!({"id": "next", "input": {"echo": 2}}),
    ]);
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    queue.on_post(move |req| {
        if req.job_id() == "doomed" {
            a.fetch_add(1, Ordering::SeqCst);
            Reply::status(503)
        } else {
            Reply::status(200)
        }
    });
    let platform = queue_platform(&queue).await;
    let started = tokio::time::Instant::now();
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(platform.env())
            .with_result_deadline(Duration::from_millis(1500)),
    );
    platform
        .wait_until("next", |log| {
            log.iter().any(|r| r.is_final() && r.job_id() == "next")
        })
        .await;
    worker.shutdown().await.unwrap();
    let n = attempts.load(Ordering::SeqCst);
    assert!((2..=5).contains(&n), "{n} attempts");
    assert!(started.elapsed() < Duration::from_secs(5));
}
