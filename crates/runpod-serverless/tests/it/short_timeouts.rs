//! A caller's timeout never loses the job id, however short (on paused time, against
//! runpod-local in the test's own runtime, with no worker: every job outlasts the caller).

use std::time::Duration;

use runpod_serverless::{Config, JobStatus, PollPolicy};
use serde_json::json;
use tokio::time::Instant;

use crate::support::client_with;

const KEY: &str = "local-key";

async fn run_sync_past(timeout: Duration) {
    let server = runpod_local::Server::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(server.serverless_base_url())
        .with_attempt_timeout(None)
        .with_connect_timeout(None)
        .build()
        .unwrap();
    let client = client_with(config, PollPolicy::fixed(Duration::from_millis(100)));
    let endpoint = client.endpoint("ep");

    let started = Instant::now();
    let err = endpoint
        .run_sync(json!({"prompt": "slow"}))
        .timeout(timeout)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{timeout:?}: {err:?}");
    // The caller's deadline holds exactly, and the job it leaves behind is named.
    assert_eq!(started.elapsed(), timeout);
    let id = err
        .job_id()
        .unwrap_or_else(|| panic!("{timeout:?}: the timeout lost the job id: {err:?}"));
    let state = endpoint.job(id).status().await.unwrap();
    assert_eq!(state.status, Some(JobStatus::InQueue));
    // Exactly one job was queued.
    let health = endpoint.health().await.unwrap();
    assert_eq!(health.jobs.and_then(|j| j.in_queue), Some(1), "{timeout:?}");
}

#[tokio::test(start_paused = true)]
async fn a_one_second_timeout_keeps_the_job_id() {
    run_sync_past(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_one_and_a_half_second_timeout_keeps_the_job_id() {
    run_sync_past(Duration::from_millis(1500)).await;
}

#[tokio::test(start_paused = true)]
async fn a_two_second_timeout_keeps_the_job_id() {
    run_sync_past(Duration::from_secs(2)).await;
}

#[tokio::test(start_paused = true)]
async fn a_long_timeout_keeps_the_job_id() {
    run_sync_past(Duration::from_secs(7)).await;
}
