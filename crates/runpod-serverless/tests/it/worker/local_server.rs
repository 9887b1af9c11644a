//! The worker against the real local endpoint (`runpod-local`), driven by our queue client:
//! every handler kind end to end, cancellation through `/cancel` → job-stop, concurrency, and
//! `--rp_serve_api`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use runpod_serverless::worker::{Args, Job, Worker, WorkerEnv, streaming};
use runpod_serverless::{Config, JobStatus, PollPolicy, ServerlessClient};
use serde_json::{Value, json};

use super::platform::{Gates, Running, scripted};
use crate::support::client_with;

const EP: &str = "ep";

async fn server() -> runpod_local::RunningServer {
    runpod_local::Server::builder()
        .hold_time(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn env(server: &runpod_local::RunningServer) -> WorkerEnv {
    let mut vars = server.worker_env(EP, "w1");
    vars.push(("RUNPOD_PING_INTERVAL".to_owned(), "200".to_owned()));
    WorkerEnv::from_vars(vars)
}

fn client(base_url: String) -> ServerlessClient {
    let config = Config::builder()
        .with_api_key("client-key")
        .with_serverless_base_url(base_url)
        .build()
        .unwrap();
    client_with(config, PollPolicy::fixed(Duration::from_millis(20)))
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn results_errors_and_panics_reach_the_client() {
    let server = server().await;
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(env(&server))
            .with_concurrency(2),
    );
    let ep = client(server.serverless_base_url()).endpoint(EP);

    let out: Value = ep
        .run(json!({"echo": {"hello": "wörld"}}))
        .await
        .unwrap()
        .output_with_timeout(WAIT)
        .await
        .unwrap();
    assert_eq!(out, json!({"hello": "wörld"}));

    let failed = ep
        .run(json!({"fail": "bad input!"}))
        .await
        .unwrap()
        .wait_with_timeout(WAIT)
        .await
        .unwrap_err();
    assert!(failed.is_job_failed(), "{failed}");
    let err = failed.job_error().unwrap();
    assert_eq!(err["error_message"], "bad input!", "{err}");
    assert_eq!(err["worker_id"], "w1");

    let panicked = ep
        .run(json!({"panic": "kaboom"}))
        .await
        .unwrap()
        .wait_with_timeout(WAIT)
        .await
        .unwrap_err();
    assert_eq!(panicked.job_error().unwrap()["error_type"], "Panic");

    // The worker is still alive after a panic.
    let out: Value = ep
        .run(json!({"echo": 3}))
        .await
        .unwrap()
        .output_with_timeout(WAIT)
        .await
        .unwrap();
    assert_eq!(out, json!(3));
    worker.shutdown().await.unwrap();
    server.shutdown().await;
}

fn tokens(job: Job<u32>) -> impl Stream<Item = Result<String, String>> {
    stream::iter(0..*job.input()).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(format!("tok-{i}"))
    })
}

#[tokio::test]
async fn a_streaming_handler_feeds_the_stream_route() {
    let server = server().await;
    let worker = Running::spawn(
        Worker::builder(streaming(tokens).aggregate_output(true)).with_env(env(&server)),
    );
    let ep = client(server.serverless_base_url()).endpoint(EP);

    let job = ep.run(json!(3)).await.unwrap();
    let chunks: Vec<String> = job.stream().map(Result::unwrap).collect().await;
    assert_eq!(chunks, [json!("tok-0"), json!("tok-1"), json!("tok-2")]);
    let state = job.wait_with_timeout(WAIT).await.unwrap();
    assert_eq!(state.output, Some(json!(["tok-0", "tok-1", "tok-2"])));
    worker.shutdown().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn cancel_reaches_the_handler_through_job_stop() {
    let server = server().await;
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let saw = saw_cancel.clone();
    let handler = move |job: Job| {
        let saw = saw.clone();
        async move {
            job.progress("started").await;
            tokio::select! {
                () = job.cancelled() => saw.store(true, Ordering::SeqCst),
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
            Ok::<_, String>(json!("too late"))
        }
    };
    let worker = Running::spawn(Worker::builder(handler).with_env(env(&server)));
    let ep = client(server.serverless_base_url()).endpoint(EP);

    let job = ep.run(json!({})).await.unwrap();
    // Wait for the handler to be running (its progress shows in the status).
    let deadline = tokio::time::Instant::now() + WAIT;
    while job.status().await.unwrap().status != Some(JobStatus::InProgress) {
        assert!(tokio::time::Instant::now() < deadline, "job never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    job.cancel().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !saw_cancel.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the handler was never cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        job.status().await.unwrap().status,
        Some(JobStatus::Cancelled)
    );
    worker.shutdown().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn concurrency_runs_jobs_side_by_side() {
    let server = server().await;
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(env(&server))
            .with_concurrency(4),
    );
    let ep = client(server.serverless_base_url()).endpoint(EP);

    let started = tokio::time::Instant::now();
    let mut jobs = Vec::new();
    for i in 0..8 {
        jobs.push(ep.run(json!({"sleep_ms": 400, "echo": i})).await.unwrap());
    }
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(
            job.output_with_timeout::<Value>(WAIT).await.unwrap(),
            json!(i)
        );
    }
    // Eight 400 ms jobs four at a time: about 0.8 s, far from the 3.2 s of one at a time.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    worker.shutdown().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn serve_api_mode_serves_the_real_paths() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = Args::parse_from([
        "worker",
        "--rp_serve_api",
        "--rp_api_port",
        &port.to_string(),
        "--rp_api_concurrency",
        "2",
    ]);
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(WorkerEnv::from_vars([("RUNPOD_POD_ID", "dev")]))
            .with_args(args),
    );
    let ep = client(format!("http://127.0.0.1:{port}/v2")).endpoint("local");
    // The server comes up asynchronously: retry the first call briefly.
    let deadline = tokio::time::Instant::now() + WAIT;
    let out: Value = loop {
        match ep.run_sync(json!({"echo": "served"})).output().await {
            Ok(v) => break v,
            Err(e) if e.is_connect() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(out, json!("served"));
    worker.shutdown().await.unwrap();
}
