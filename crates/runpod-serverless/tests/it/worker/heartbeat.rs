//! The heartbeat: first ping at start, sub-second intervals, running job ids, and pings that
//! keep coming while a handler blocks its thread.

use runpod_serverless::worker::{Worker, WorkerEnv};
use serde_json::json;

use super::platform::{Gates, KEY, Queue, Running, queue_platform, scripted};

fn fast_ping_env(vars: Vec<(String, String)>) -> WorkerEnv {
    let vars = vars.into_iter().map(|(k, v)| {
        if k == "RUNPOD_PING_INTERVAL" {
            (k, "100".to_owned())
        } else {
            (k, v)
        }
    });
    WorkerEnv::from_vars(vars)
}

/// The handler blocks the test's only runtime thread for 1.2 s; pings still arrive every 100 ms
/// and name the running job.
#[tokio::test]
async fn pings_continue_while_a_handler_blocks_the_runtime() {
    let queue = Queue::new([json!({"id": "blocker", "input": {"block_ms": 1200}})]);
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default())).with_env(fast_ping_env(platform.env_vars())),
    );
    let finals = platform.wait_finals(1).await;
    let done_at = finals[0].at;
    // Once the job is reported, pings stop naming it.
    platform
        .wait_until("a ping after the job", |log| {
            log.iter()
                .any(|r| r.is("ping") && r.at > done_at && r.query("job_id").is_none())
        })
        .await;
    worker.shutdown().await.unwrap();

    let pings = platform.matching(|r| r.is("ping"));
    let first = &pings[0];
    assert!(
        first.uri.starts_with("/v2/ep/ping/w1?gpu=TEST&"),
        "{}",
        first.uri
    );
    assert_eq!(
        first.query("runpod_version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(first.header("authorization"), Some(KEY));
    let during = pings
        .iter()
        .filter(|p| p.query("job_id").as_deref() == Some("blocker") && p.at < done_at)
        .count();
    assert!(
        during >= 6,
        "only {during} pings named the job while it blocked"
    );
}

/// With a multi-threaded runtime, a handler blocking one thread leaves job-take working: a
/// second job completes while the first still blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_take_keeps_working_while_a_handler_blocks_a_thread() {
    let queue = Queue::new([json!({"id": "blocker", "input": {"block_ms": 1500}})]);
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(fast_ping_env(platform.env_vars()))
            .with_concurrency(2),
    );
    platform
        .wait_until("blocker running", |log| {
            log.iter()
                .any(|r| r.query("job_id").as_deref() == Some("blocker"))
        })
        .await;
    queue.push(json!({"id": "quick", "input": {"sleep_ms": 400, "echo": 1}}));
    let finals = platform.wait_finals(2).await;
    worker.shutdown().await.unwrap();
    let ids: Vec<&str> = finals.iter().map(|r| r.job_id()).collect();
    assert_eq!(ids, ["quick", "blocker"]);
    let pings_with_both = platform.matching(|r| {
        r.is("ping")
            && r.query("job_id")
                .is_some_and(|ids| ids.contains("blocker") && ids.contains("quick"))
    });
    assert!(
        !pings_with_both.is_empty(),
        "some ping lists both held jobs"
    );
}
