//! OUR Rust worker driven by the OFFICIAL Python client (`runpod.Endpoint`,
//! `runpod.AsyncioEndpoint`): an in-process `runpod::worker::Worker` serving runpod-local, and
//! the `echo_worker` example binary serving its own endpoint with `--rp_serve_api`.
//!
//! Both follow echo_worker's input protocol (`{"echo": x}`, `{"stream": n}`, `{"sleep_ms": n}`,
//! `{"fail": msg}`; in process, streams go to a `streaming` handler on an endpoint of its own),
//! so `client.py`'s tours run unchanged against either.

use crate::support::example_binary;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use runpod::Report;
use runpod::serverless::JobStatus;
use runpod::worker::{Job, Worker, WorkerBuilder, streaming};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Driver, Process, run_client_at, server};
use crate::support::{PATIENCE, WorkerTask, finished, worker_env};

/// Endpoints of the in-process workers: one per official client, and a streaming one.
const SYNC_EP: &str = "rs-sync";
const ASYNC_EP: &str = "rs-async";
const STREAM_EP: &str = "rs-stream";
/// What `client.py` sends for a job that must run until it is cancelled.
const HOLD: &str = r#"{"sleep_ms": 600000}"#;

/// What the in-process handler saw.
#[derive(Debug, PartialEq)]
enum Seen {
    /// A job started, with this raw input.
    Took(Value),
    /// The job's cancellation reached the handler.
    Cancelled(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    echo: Option<Value>,
    #[serde(default)]
    sleep_ms: Option<u64>,
    #[serde(default)]
    fail: Option<String>,
}

/// echo_worker's protocol minus streaming, telling the test what it saw.
fn echo_worker(seen: mpsc::UnboundedSender<Seen>) -> WorkerBuilder {
    Worker::builder(move |job: Job<Input>| {
        let seen = seen.clone();
        async move {
            let id = job.id().to_owned();
            let _ = seen.send(Seen::Took(job.raw().input.clone()));
            if let Some(ms) = job.input().sleep_ms {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                    () = job.cancelled() => {
                        let _ = seen.send(Seen::Cancelled(id));
                        return Err("cancelled while sleeping".to_owned());
                    }
                }
            }
            if let Some(message) = &job.input().fail {
                return Err(message.clone());
            }
            Ok(job.input().echo.clone().unwrap_or(Value::Null))
        }
    })
}

#[derive(Debug, Deserialize)]
struct StreamInput {
    stream: u64,
}

/// A streaming handler: `{"stream": n}` yields `{"i": 0}` … `{"i": n-1}`, all returned at the end.
fn streamer() -> WorkerBuilder {
    Worker::builder(
        streaming(|job: Job<StreamInput>| {
            let n = job.input().stream;
            futures_util::stream::iter((0..n).map(|i| Ok::<_, String>(json!({ "i": i }))))
        })
        .aggregate_output(true),
    )
}

/// Receives what the handler saw until the cancellation of `held` arrives.
async fn seen_until_cancelled(seen: &mut mpsc::UnboundedReceiver<Seen>, held: &str) -> Vec<Value> {
    let mut inputs = Vec::new();
    loop {
        let event = tokio::time::timeout(PATIENCE, seen.recv())
            .await
            .expect("the handler sees the cancellation")
            .unwrap();
        match event {
            Seen::Took(input) => inputs.push(input),
            Seen::Cancelled(id) => {
                assert_eq!(id, held);
                return inputs;
            }
        }
    }
}

fn stream_chunks(n: u64) -> Value {
    (0..n).map(|i| json!({ "i": i })).collect()
}

/// Checks what `client.py tour` saw against a worker `worker_id` that completed `completed` jobs
/// on the tour's endpoint.
fn check_tour(result: &Value, worker_id: &str, completed: u64) {
    assert_eq!(result["run_sync"], json!({"prompt": "hi"}), "{result}");
    assert_eq!(
        (&result["run"]["output"], &result["run"]["status"]),
        (&json!(["later", 1]), &json!("COMPLETED")),
        "{result}"
    );
    let stream = &result["stream"];
    assert_eq!(stream["chunks"], stream_chunks(4), "in order, once each");
    assert_eq!(stream["status"], "COMPLETED");
    assert_eq!(stream["output"], stream_chunks(4));

    // The Python client reads a failed job as no output; the error is the worker's document,
    // as a JSON string.
    let failed = &result["failed"];
    assert_eq!(
        (&failed["output"], &failed["status"]),
        (&Value::Null, &json!("FAILED"))
    );
    let doc: Value = serde_json::from_str(failed["error"].as_str().unwrap()).unwrap();
    assert_eq!(doc["error_message"], "boom", "{doc}");
    assert_eq!(doc["error_type"], "HandlerError");
    assert_eq!(doc["worker_id"], worker_id);

    let cancel = &result["cancel"];
    assert_eq!(cancel["seen"], "IN_PROGRESS");
    assert_eq!(
        (&cancel["cancel"]["id"], &cancel["cancel"]["status"]),
        (&cancel["id"], &json!("CANCELLED"))
    );
    assert_eq!(cancel["status"], "CANCELLED");

    let idle = &result["idle"];
    assert_eq!(idle["health"]["jobs"]["inQueue"], 3);
    assert_eq!(idle["purge"], json!({"removed": 3, "status": "completed"}));
    assert_eq!(idle["health_after"]["jobs"]["inQueue"], 0);
    assert_eq!(
        result["health"]["jobs"],
        json!({"completed": completed, "failed": 1, "inProgress": 0, "inQueue": 0, "retried": 0})
    );
}

/// Our client's view of the tour's jobs matches the Python client's.
async fn cross_check(driver: &Driver, result: &Value, worker_id: &str) {
    let run = driver.job(result["run"]["id"].as_str().unwrap());
    let state = finished(&run).await.unwrap();
    assert_eq!(state.output.as_ref(), Some(&result["run"]["output"]));
    assert_eq!(state.worker_id.as_deref(), Some(worker_id));

    let failed = driver.job(result["failed"]["id"].as_str().unwrap());
    let err = finished(&failed).await.unwrap_err();
    assert!(err.is_job_failed(), "{}", Report(&err));
    let python_saw: Value =
        serde_json::from_str(result["failed"]["error"].as_str().unwrap()).unwrap();
    assert_eq!(err.job_error(), Some(&python_saw));

    let held = driver.job(result["cancel"]["id"].as_str().unwrap());
    assert_eq!(
        held.status().await.unwrap().status,
        Some(JobStatus::Cancelled)
    );
}

/// What `client.py asyncio_tour` saw.
fn check_asyncio_tour(result: &Value) {
    assert_eq!(
        (&result["output"], &result["status"]),
        (&json!({"prompt": "async"}), &json!("COMPLETED")),
        "{result}"
    );
    assert_eq!(result["stream"]["chunks"], stream_chunks(3));
    assert_eq!(result["stream"]["status"], "COMPLETED");
    assert_eq!(
        (&result["failed"]["output"], &result["failed"]["status"]),
        (&Value::Null, &json!("FAILED"))
    );
    let cancel = &result["cancel"];
    assert_eq!(cancel["seen"], "IN_PROGRESS");
    assert_eq!(
        (&cancel["cancel"]["id"], &cancel["cancel"]["status"]),
        (&cancel["id"], &json!("CANCELLED"))
    );
    assert_eq!(cancel["status"], "CANCELLED");
    assert_eq!(result["idle"]["health"]["jobs"]["inQueue"], 2);
    assert_eq!(
        result["idle"]["purge"],
        json!({"removed": 2, "status": "completed"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_endpoint_and_asyncio_endpoint_drive_our_in_process_workers() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let (sync_tx, mut sync_seen) = mpsc::unbounded_channel();
    let (async_tx, mut async_seen) = mpsc::unbounded_channel();
    let _sync_worker = WorkerTask::spawn(
        echo_worker(sync_tx),
        worker_env(&server, SYNC_EP, "rs-sync"),
    );
    let _async_worker = WorkerTask::spawn(
        echo_worker(async_tx),
        worker_env(&server, ASYNC_EP, "rs-async"),
    );
    let _streamer = WorkerTask::spawn(
        streamer().with_concurrency(2),
        worker_env(&server, STREAM_EP, "rs-streamer"),
    );
    let base = server.serverless_base_url();
    let stream_ep = [("TEST_STREAM_ENDPOINT", STREAM_EP.to_owned())];
    // Both clients at once (each on its own endpoints): they spend most of their time in
    // their one-second polling sleeps.
    let (sync, asyncio) = tokio::join!(
        run_client_at(&base, SYNC_EP, "tour", &stream_ep),
        run_client_at(&base, ASYNC_EP, "asyncio_tour", &stream_ep),
    );

    check_tour(&sync, "rs-sync", 2);
    // Our worker got each input as sent, in order, and the cancellation reached its handler.
    let held = sync["cancel"]["id"].as_str().unwrap();
    let inputs = seen_until_cancelled(&mut sync_seen, held).await;
    let hold: Value = serde_json::from_str(HOLD).unwrap();
    assert_eq!(
        inputs,
        [
            json!({"echo": {"prompt": "hi"}}),
            json!({"echo": ["later", 1]}),
            json!({"fail": "boom"}),
            hold.clone(),
        ]
    );
    cross_check(&Driver::new(&server, SYNC_EP), &sync, "rs-sync").await;
    let stream = Driver::new(&server, STREAM_EP).job(sync["stream"]["id"].as_str().unwrap());
    assert_eq!(
        finished(&stream).await.unwrap().worker_id.as_deref(),
        Some("rs-streamer")
    );

    check_asyncio_tour(&asyncio);
    let held = asyncio["cancel"]["id"].as_str().unwrap();
    let inputs = seen_until_cancelled(&mut async_seen, held).await;
    assert_eq!(
        inputs,
        [
            json!({"echo": {"prompt": "async"}}),
            json!({"fail": "boom"}),
            hold,
        ]
    );
    // Our client sees the error document the Python client could not show.
    let failed = Driver::new(&server, ASYNC_EP).job(asyncio["failed"]["id"].as_str().unwrap());
    let err = finished(&failed).await.unwrap_err();
    assert!(err.is_job_failed(), "{}", Report(&err));
    assert_eq!(err.job_error().unwrap()["error_message"], "boom");
    assert_eq!(err.job_error().unwrap()["worker_id"], "rs-async");
}

/// Starts `echo_worker --rp_serve_api` on a free port; returns it and its queue API base URL.
async fn start_echo_worker(args: &[&str]) -> (Process, String) {
    let binary = tokio::task::spawn_blocking(|| example_binary("echo_worker"))
        .await
        .unwrap();
    // A port free a moment ago; if another process takes it first, the binary exits and
    // `wait_for_log` says so.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(binary);
    command
        .args(["--rp_serve_api", "--rp_api_port", &port.to_string()])
        .args(args);
    let mut process = Process::start(
        command,
        "echo_worker".to_owned(),
        vec![("RUNPOD_POD_ID".to_owned(), "echo-bin".to_owned())],
    );
    process.wait_for_log("local endpoint ready").await;
    (process, format!("http://127.0.0.1:{port}/v2"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_endpoint_drives_the_echo_worker_binary_over_rp_serve_api() {
    let (mut worker, base) = start_echo_worker(&["--concurrency", "2"]).await;
    let result = run_client_at(&base, "local", "tour", &[]).await;
    // Streaming shares the `local` endpoint here: three jobs completed on it.
    check_tour(&result, "echo-bin", 3);
    cross_check(&Driver::at(&base, "local"), &result, "echo-bin").await;
    // The binary's side: it ran the failed job, and the cancel reached it as a job-stop.
    logged_outcome(
        &mut worker,
        result["failed"]["id"].as_str().unwrap(),
        "failed",
    )
    .await;
    logged_outcome(
        &mut worker,
        result["cancel"]["id"].as_str().unwrap(),
        "stopped",
    )
    .await;
    assert!(
        worker.exited().is_none(),
        "the worker outlives its jobs:\n{}",
        worker.log()
    );
}

/// Waits until the worker logged the end of job `id` with `outcome`.
async fn logged_outcome(worker: &mut Process, id: &str, outcome: &str) {
    let (job, end) = (format!("job{{id={id}}}"), format!("outcome=\"{outcome}\""));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let log = without_ansi(&worker.log());
        if log.lines().any(|l| l.contains(&job) && l.contains(&end)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline && worker.exited().is_none(),
            "no {end} logged for job {id}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text without its colour codes (the worker colours its log off the platform).
fn without_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // `ESC [ … m`: skip through the final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
