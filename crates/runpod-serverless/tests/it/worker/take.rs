//! job-take: exact slot counts (httpmock), backoff, rate limits, broken responses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use httpmock::{Mock, MockServer};
use runpod_serverless::worker::{Worker, WorkerEnv};
use serde_json::json;

use super::platform::{Gates, Platform, Queue, Reply, Running, queue_platform, scripted};

async fn hits_at_least(mock: &Mock<'_>, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while mock.calls_async().await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "mock not hit {n} times in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Concurrency 3 with gated jobs: the worker asks for 3, then for exactly the slots each
/// finished job frees (1, then 2, then 3 again), with `job_in_progress` telling the truth.
#[tokio::test]
async fn batch_take_asks_for_exactly_the_free_slots() {
    let server = MockServer::start_async().await;
    let stage = Arc::new(AtomicUsize::new(0));
    let take = "/v2/ep/job-take/w1";
    let batch = "/v2/ep/job-take-batch/w1";

    let s = stage.clone();
    let first = server
        .mock_async(|when, then| {
            when.method("GET")
                .path(batch)
                .query_param("gpu", "TEST")
                .query_param("batch_size", "3")
                .query_param("job_in_progress", "0")
                .is_true(move |_| s.load(Ordering::SeqCst) == 0);
            then.status(200).json_body(json!([
                {"id": "g1", "input": {"gate": "g1", "echo": 1}},
                {"id": "g2", "input": {"gate": "g2", "echo": 2}},
                {"id": "g3", "input": {"gate": "g3", "echo": 3}},
            ]));
        })
        .await;
    let one = server
        .mock_async(|when, then| {
            when.method("GET")
                .path(take)
                .query_param("gpu", "TEST")
                .query_param("job_in_progress", "1")
                .query_param_missing("batch_size");
            then.status(204).delay(Duration::from_millis(50));
        })
        .await;
    let two = server
        .mock_async(|when, then| {
            when.method("GET")
                .path(batch)
                .query_param("gpu", "TEST")
                .query_param("batch_size", "2")
                .query_param("job_in_progress", "1");
            then.status(204).delay(Duration::from_millis(50));
        })
        .await;
    let s = stage.clone();
    let three_again = server
        .mock_async(|when, then| {
            when.method("GET")
                .path(batch)
                .query_param("gpu", "TEST")
                .query_param("batch_size", "3")
                .query_param("job_in_progress", "0")
                .is_true(move |_| s.load(Ordering::SeqCst) == 1);
            then.status(204).delay(Duration::from_millis(50));
        })
        .await;
    let done = server
        .mock_async(|when, then| {
            when.method("POST").path_includes("/job-done/w1/");
            then.status(200);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method("GET").path_includes("/job-stop/");
            then.status(204).delay(Duration::from_millis(200));
        })
        .await;
    // Registered last: any other take URL (wrong size, wrong job_in_progress) lands here.
    let unexpected = server
        .mock_async(|when, then| {
            when.path_includes("/job-take");
            then.status(500).body("unexpected take URL");
        })
        .await;

    let env = WorkerEnv::from_vars([
        (
            "RUNPOD_WEBHOOK_GET_JOB",
            server.url("/v2/ep/job-take/$ID?gpu=TEST"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_OUTPUT",
            server.url("/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=TEST"),
        ),
        ("RUNPOD_POD_ID", "w1".to_owned()),
    ]);
    let gates = Gates::default();
    let worker = Running::spawn(
        Worker::builder(scripted(gates.clone()))
            .with_env(env)
            .with_concurrency(3),
    );

    hits_at_least(&first, 1).await;
    stage.store(1, Ordering::SeqCst);
    gates.open("g1");
    hits_at_least(&one, 1).await;
    assert_eq!(two.calls_async().await, 0, "two slots were never free yet");
    gates.open("g2");
    hits_at_least(&two, 1).await;
    gates.open("g3");
    hits_at_least(&three_again, 1).await;
    worker.shutdown().await.unwrap();

    first.assert_calls_async(1).await;
    done.assert_calls_async(3).await;
    unexpected.assert_calls_async(0).await;
}

#[tokio::test]
async fn take_errors_back_off_instead_of_hot_looping() {
    let platform = Platform::start(|req| {
        if req.is("job-take") {
            Reply::raw(500, "down")
        } else {
            Reply::status(204).delay(Duration::from_millis(200))
        }
    })
    .await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    platform
        .wait_until("two takes", |log| {
            log.iter().filter(|r| r.is("job-take")).count() >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Stops promptly even while backing off.
    let started = tokio::time::Instant::now();
    worker.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));

    let takes = platform.matching(|r| r.is("job-take"));
    // 0.5 s, 1 s, 2 s (each jittered to 50–100 %): at most 4 attempts in the window, where the
    // Python worker sent 30 requests in 15 ms.
    assert!(takes.len() <= 4, "{} takes", takes.len());
    let gap = takes[1].at - takes[0].at;
    assert!(
        gap >= Duration::from_millis(240),
        "first retry after {gap:?}"
    );
}

#[tokio::test]
async fn take_400_means_no_job_but_pauses() {
    let platform = Platform::start(|req| {
        if req.is("job-take") {
            Reply::status(400)
        } else {
            Reply::status(204).delay(Duration::from_millis(200))
        }
    })
    .await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let log = platform
        .wait_until("two takes", |log| {
            log.iter().filter(|r| r.is("job-take")).count() >= 2
        })
        .await;
    worker.shutdown().await.unwrap();
    let takes: Vec<_> = log.iter().filter(|r| r.is("job-take")).collect();
    assert!(takes[1].at - takes[0].at >= Duration::from_millis(950));
}

#[tokio::test]
async fn take_429_honours_retry_after() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let queue = Queue::new([json!({"id": "j1", "input": {"echo": 1}})]);
    let q = queue.clone();
    let platform = Platform::start(move |req| {
        if req.is("job-take") && h.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::status(429).header("retry-after", "1");
        }
        q.respond(req)
    })
    .await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    let takes = platform.matching(|r| r.is("job-take"));
    let gap = takes[1].at - takes[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn a_job_without_input_is_failed_by_id_not_lost() {
    let queue = Queue::new([
        json!({"id": "no-input"}),
        json!({"id": "fine", "input": {"echo": true}}),
    ]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(2).await;
    worker.shutdown().await.unwrap();

    let bad = finals.iter().find(|r| r.job_id() == "no-input").unwrap();
    assert_eq!(bad.header("x-request-id"), Some("no-input"));
    let doc = bad.error_doc();
    assert_eq!(doc["error_type"], "InvalidJob");
    assert_eq!(doc["error_message"], "the job has no `input` field");
    assert_eq!(
        finals.iter().find(|r| r.job_id() == "fine").unwrap().json(),
        json!({"output": true})
    );
}

#[tokio::test]
async fn a_non_json_take_response_does_not_stop_the_worker() {
    let sent_garbage = Arc::new(AtomicUsize::new(0));
    let g = sent_garbage.clone();
    let queue = Queue::new([json!({"id": "after", "input": {"echo": 2}})]);
    let q = queue.clone();
    let platform = Platform::start(move |req| {
        if req.is("job-take") && g.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::raw(200, "<html>bad gateway</html>");
        }
        q.respond(req)
    })
    .await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(finals[0].job_id(), "after");
}

#[tokio::test]
async fn concurrency_modifier_changes_the_batch_size() {
    let queue =
        Queue::new((0..5).map(|i| json!({"id": format!("m{i}"), "input": {"sleep_ms": 50}})));
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(platform.env())
            .with_concurrency_modifier(|current| (current + 1).min(3)),
    );
    platform.wait_finals(5).await;
    worker.shutdown().await.unwrap();
    // 1 → 2: a batch of two; then 2 → 3 with two held: exactly one more.
    let takes = platform.matching(|r| r.is("job-take") || r.is("job-take-batch"));
    assert_eq!(
        takes[0].uri,
        "/v2/ep/job-take-batch/w1?gpu=TEST&batch_size=2&job_in_progress=0"
    );
    assert_eq!(
        takes[1].uri,
        "/v2/ep/job-take/w1?gpu=TEST&job_in_progress=1"
    );
    let sizes: Vec<usize> = takes
        .iter()
        .filter_map(|r| r.query("batch_size")?.parse().ok())
        .collect();
    assert!(sizes.iter().all(|n| *n <= 3), "{sizes:?}");
}
