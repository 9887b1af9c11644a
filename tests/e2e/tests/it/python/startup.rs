//! A worker whose start-up fails strands no job: the official Python client's queued job stays
//! IN_QUEUE while our worker's initializer fails and reports unhealthy, then a second, healthy
//! worker completes it and the Python client sees the output.

use std::time::Duration;

use runpod::worker::{Job, Shared, Worker};
use serde_json::{Value, json};

use super::{run_client_at, server};
use crate::support::{PATIENCE, WorkerTask, client, worker_env};

const EP: &str = "py-startup";

async fn echo(job: Job<Value>) -> Result<Value, String> {
    Ok(job.input().clone())
}

#[tokio::test]
async fn the_python_client_sees_its_job_done_by_a_healthy_worker_after_a_failed_start_up() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let base = server.serverless_base_url();
    let python =
        tokio::spawn(async move { run_client_at(&base, EP, "run_status_output", &[]).await });
    let ep = client(&server, super::KEY).endpoint(EP);
    let queued = async {
        loop {
            let health = ep.health().await.unwrap();
            if health.jobs.and_then(|j| j.in_queue) == Some(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(PATIENCE, queued)
        .await
        .expect("the Python client queues its job");

    let model = Shared::<String>::new();
    let failed = Worker::builder(echo)
        .with_initializer(&model, || async {
            Err::<String, _>("CUDA out of memory while loading weights")
        })
        .with_env(worker_env(&server, EP, "sick"))
        .run()
        .await
        .unwrap_err();
    assert!(failed.is_unexpected_state(), "{failed}");
    let health = ep.health().await.unwrap();
    assert_eq!(
        health.jobs.and_then(|j| j.in_queue),
        Some(1),
        "the job was not taken"
    );
    assert_eq!(health.workers.and_then(|w| w.unhealthy), Some(1));

    let healthy = WorkerTask::spawn(Worker::builder(echo), worker_env(&server, EP, "well"));
    let result = tokio::time::timeout(Duration::from_secs(120), python)
        .await
        .expect("the Python client finishes")
        .unwrap();
    assert_eq!(result["output"], json!({"prompt": "later"}));
    assert_eq!(result["status"], "COMPLETED");
    healthy.stop().await.unwrap();
    server.shutdown().await;
}
