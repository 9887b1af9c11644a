//! Against a real serverless endpoint whose worker behaves like the `echo_worker` example
//! (`{"echo": x}` → x, `{"stream": n}` → n chunks, `{"sleep_ms": n}`, `{"fail": "msg"}`):
//!
//! ```text
//! RUNPOD_API_KEY=… RUNPOD_ENDPOINT_ID=… cargo test -p runpod-serverless -- --ignored live
//! ```
//!
//! They pass against `runpod-local --api-key K` with the `echo_worker` example serving it
//! (`RUNPOD_ENDPOINT_BASE_URL` from its output, `RUNPOD_ENDPOINT_ID=local`), which is how they
//! were checked here, with no network.

use std::time::Duration;

use futures_util::StreamExt;
use runpod_serverless::{Endpoint, JobStatus, ServerlessClient};
use serde_json::{Value, json};

fn endpoint() -> Endpoint {
    let id = std::env::var("RUNPOD_ENDPOINT_ID").expect("live tests need RUNPOD_ENDPOINT_ID");
    assert!(
        std::env::var_os("RUNPOD_API_KEY").is_some(),
        "live tests need RUNPOD_API_KEY"
    );
    ServerlessClient::from_env().unwrap().endpoint(id)
}

const LIVE: Duration = Duration::from_secs(600);

#[tokio::test]
#[ignore = "talks to a live Runpod endpoint; needs RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID"]
async fn live_run_sync_and_run_then_wait() {
    let ep = endpoint();
    let out: Value = ep
        .run_sync(json!({"echo": "live runsync"}))
        .timeout(LIVE)
        .output()
        .await
        .unwrap();
    assert_eq!(out, "live runsync");

    let job = ep.run(json!({"echo": {"n": 1}})).send().await.unwrap();
    let out: Value = job.output_with_timeout(LIVE).await.unwrap();
    assert_eq!(out, json!({"n": 1}));
}

#[tokio::test]
#[ignore = "talks to a live Runpod endpoint; needs RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID"]
async fn live_stream_failure_cancel_and_health() {
    let ep = endpoint();
    let job = ep.run(json!({"stream": 3})).send().await.unwrap();
    let chunks: Vec<Value> = job
        .chunks()
        .map(|c| c.unwrap().output.unwrap_or(Value::Null))
        .collect()
        .await;
    assert_eq!(chunks, [json!({"i": 0}), json!({"i": 1}), json!({"i": 2})]);

    let failed = ep.run(json!({"fail": "live boom"})).send().await.unwrap();
    let err = failed.wait_with_timeout(LIVE).await.unwrap_err();
    assert!(err.is_job_failed(), "{err:?}");

    let long = ep.run(json!({"sleep_ms": 120_000})).send().await.unwrap();
    let state = long.cancel().await.unwrap();
    assert_eq!(state.status, Some(JobStatus::Cancelled));

    let health = ep.health().await.unwrap();
    assert!(
        health.jobs.is_some() && health.workers.is_some(),
        "{health:?}"
    );
}

#[tokio::test]
#[ignore = "talks to a live Runpod endpoint; needs RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID"]
async fn live_hundreds_of_waits_at_once_over_negotiated_http2() {
    // Over TLS the client negotiates HTTP/2, and 250 waits hold 250 long polls at once: more
    // than one connection's 100 streams (the client's assumption of Runpod's cap), so they
    // spread over lanes. Every wait must end with its output, and a request sent while they are
    // held must not queue behind them.
    let id = std::env::var("RUNPOD_ENDPOINT_ID").expect("live tests need RUNPOD_ENDPOINT_ID");
    let client = ServerlessClient::from_env().unwrap();
    let ep = client.endpoint(id);
    let mut waits = tokio::task::JoinSet::new();
    for i in 0..250 {
        let ep = ep.clone();
        waits.spawn(async move {
            let job = ep.run(json!({"echo": i, "sleep_ms": 5_000})).send().await?;
            job.output_with_timeout::<Value>(LIVE).await
        });
    }
    // Meanwhile, a request of its own answers promptly.
    let health = tokio::time::timeout(Duration::from_secs(30), ep.health()).await;
    assert!(matches!(health, Ok(Ok(_))), "{health:?}");
    let mut outputs = Vec::new();
    while let Some(joined) = waits.join_next().await {
        outputs.push(joined.unwrap().unwrap());
    }
    outputs.sort_by_key(Value::as_i64);
    assert_eq!(outputs, (0..250).map(Value::from).collect::<Vec<_>>());
}
