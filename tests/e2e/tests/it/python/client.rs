//! The official Python client (`runpod.Endpoint`, `runpod.AsyncioEndpoint`) against runpod-local,
//! with a small raw-HTTP worker written here serving the queue (and, once, the official worker).

use std::time::Duration;

use runpod_local::RunningServer;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Driver, KEY, run_client, server, start_worker};

const EP: &str = "py-client";
const WORKER: &str = "rust-worker";

/// A worker speaking the protocol over raw HTTP, as the Python worker does:
/// `{"stream": n}` streams `chunk-0…` then finishes, `{"hold": true}` runs until stopped,
/// `{"fail": msg}` fails, anything else is echoed.
struct RawWorker {
    tasks: Vec<JoinHandle<()>>,
    /// Job ids received through job-stop.
    stopped: mpsc::UnboundedReceiver<String>,
}

impl Drop for RawWorker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn raw_worker(server: &RunningServer) -> RawWorker {
    let http = reqwest::Client::new();
    let base = format!("{}/{EP}", server.serverless_base_url());
    let take = {
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move {
            loop {
                let response = http
                    .get(format!(
                        "{base}/job-take/{WORKER}?gpu=LOCAL&job_in_progress=0"
                    ))
                    .header("Authorization", KEY)
                    .send()
                    .await
                    .unwrap();
                if response.status() == 204 {
                    continue;
                }
                assert_eq!(response.status(), 200);
                let job: Value = response.json().await.unwrap();
                let id = job["id"].as_str().unwrap().to_owned();
                let input = &job["input"];
                let post = |route: &str, body: Value| {
                    http.post(format!(
                        "{base}/{route}/{WORKER}/{id}?gpu=LOCAL&isStream=false"
                    ))
                    .header("Authorization", KEY)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body.to_string())
                    .send()
                };
                let result = if let Some(n) = input["stream"].as_u64() {
                    for i in 0..n {
                        post("job-stream", json!({"output": format!("chunk-{i}")}))
                            .await
                            .unwrap();
                    }
                    json!({"output": []})
                } else if input["hold"] == true {
                    continue;
                } else if let Some(message) = input["fail"].as_str() {
                    json!({"error": message})
                } else {
                    json!({"output": {"echo": input}})
                };
                let answer = post("job-done", result).await.unwrap();
                assert_eq!(answer.status(), 200);
            }
        })
    };
    let (tx, stopped) = mpsc::unbounded_channel();
    let stop = tokio::spawn(async move {
        loop {
            let response = http
                .get(format!("{base}/job-stop/{WORKER}?gpu=LOCAL"))
                .header("Authorization", KEY)
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                let signals: Value = response.json().await.unwrap();
                for id in signals["jobsToStop"].as_array().unwrap() {
                    let _ = tx.send(id.as_str().unwrap().to_owned());
                }
            }
        }
    });
    RawWorker {
        tasks: vec![take, stop],
        stopped,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sync_returns_the_output() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = raw_worker(&server);
    let result = run_client(&server, EP, "run_sync").await;
    assert_eq!(result, json!({"output": {"echo": {"prompt": "hi"}}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_then_status_then_output() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = raw_worker(&server);
    let result = run_client(&server, EP, "run_status_output").await;
    assert_eq!(result["output"], json!({"echo": {"prompt": "later"}}));
    assert_eq!(result["status"], "COMPLETED");
    let id = result["id"].as_str().unwrap();
    let job = Driver::new(&server, EP).job(id).status().await.unwrap();
    assert_eq!(
        (job.output.as_ref(), job.status.as_ref().map(|s| s.as_str())),
        (Some(&result["output"]), Some("COMPLETED")),
        "both sides see the same job"
    );
    assert_eq!(job.worker_id.as_deref(), Some(WORKER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yields_every_chunk_once_in_order() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = raw_worker(&server);
    let result = run_client(&server, EP, "stream").await;
    assert_eq!(
        result["chunks"],
        json!(["chunk-0", "chunk-1", "chunk-2", "chunk-3"])
    );
    assert_eq!(result["status"], "COMPLETED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_a_running_job_reaches_its_worker() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let mut worker = raw_worker(&server);
    let result = run_client(&server, EP, "cancel").await;
    let id = result["id"].as_str().unwrap();
    assert_eq!(result["seen"], "IN_PROGRESS");
    assert_eq!(
        (
            result["cancel"]["id"].as_str(),
            result["cancel"]["status"].as_str()
        ),
        (Some(id), Some("CANCELLED"))
    );
    assert_eq!(result["cancel"]["workerId"], WORKER);
    assert_eq!(result["status"], "CANCELLED");
    let stopped = tokio::time::timeout(Duration::from_secs(30), worker.stopped.recv())
        .await
        .expect("a stop signal")
        .unwrap();
    assert_eq!(stopped, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_jobs_and_workers() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let driver = Driver::new(&server, EP);
    let http = reqwest::Client::new();
    let base = format!("{}/{EP}", server.serverless_base_url());
    let take = |worker: &'static str| {
        http.get(format!(
            "{base}/job-take/{worker}?gpu=LOCAL&job_in_progress=0"
        ))
        .header("Authorization", KEY)
        .send()
    };
    for n in 0..3 {
        driver.run(json!(n)).await;
    }
    take("busy").await.unwrap();
    let job: Value = take("idle").await.unwrap().json().await.unwrap();
    let done = http
        .post(format!(
            "{base}/job-done/idle/{}?isStream=false",
            job["id"].as_str().unwrap()
        ))
        .header("Authorization", KEY)
        .body(r#"{"output": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let result = run_client(&server, EP, "health").await;
    assert_eq!(
        result,
        json!({
            "jobs": {"completed": 1, "failed": 0, "inProgress": 1, "inQueue": 1, "retried": 0},
            "workers": {"idle": 1, "running": 1}
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_queue_removes_the_queued_jobs() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let result = run_client(&server, EP, "purge_queue").await;
    assert_eq!(
        result["purge"],
        json!({"removed": 3, "status": "completed"})
    );
    let idle = Driver::new(&server, &format!("{EP}-idle"));
    let health = idle.endpoint().health().await.unwrap();
    assert_eq!(health.jobs.unwrap().in_queue, Some(0));
    for id in result["ids"].as_array().unwrap() {
        let err = idle.job(id.as_str().unwrap()).status().await.unwrap_err();
        assert!(err.is_not_found(), "{}", runpod::Report(&err));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_reads_as_no_output_in_the_python_client() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = raw_worker(&server);
    let result = run_client(&server, EP, "failed").await;
    // runpod-python drops the error (its bug 4); the server keeps it.
    assert_eq!(
        (result["output"].clone(), result["status"].clone()),
        (Value::Null, json!("FAILED"))
    );
    let job = Driver::new(&server, EP).job(result["id"].as_str().unwrap());
    assert_eq!(job.status().await.unwrap().error, Some(json!("on purpose")));
    let err = job.wait().await.unwrap_err();
    assert!(err.is_job_failed());
    assert_eq!(err.job_error(), Some(&json!("on purpose")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_asyncio_endpoint_covers_the_same_routes() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = raw_worker(&server);
    let result = run_client(&server, EP, "asyncio").await;
    assert_eq!(result["output"], json!({"echo": {"prompt": "async"}}));
    assert_eq!(result["status"], "COMPLETED");
    assert_eq!(result["chunks"], json!(["chunk-0", "chunk-1", "chunk-2"]));
    assert_eq!(
        result["cancel"],
        json!({"id": result["cancelled_id"], "status": "CANCELLED"})
    );
    assert_eq!(
        result["health"]["jobs"],
        json!({"completed": 0, "failed": 0, "inProgress": 0, "inQueue": 1, "retried": 0})
    );
    assert_eq!(
        result["purge"],
        json!({"removed": 1, "status": "completed"})
    );
    let idle = Driver::new(&server, &format!("{EP}-idle"));
    let health = idle.endpoint().health().await.unwrap();
    assert_eq!(health.jobs.unwrap().in_queue, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_and_the_official_worker_talk_through_runpod_local() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-worker", "plain");
    let result = run_client(&server, EP, "run_sync").await;
    let output = &result["output"];
    assert_eq!(output["echo"], json!({"prompt": "hi"}), "{result}");
    assert!(
        output["job_id"].as_str().unwrap().starts_with("sync-"),
        "{result}"
    );
}
