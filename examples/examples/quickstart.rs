//! The quickstart: a local Runpod endpoint, a Rust worker, and our client driving both.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! It starts `runpod-local` on a free loopback port and an in-process worker, then uses the
//! client for run_sync, run + wait, stream, cancel, retry, health and purge, printing what each
//! returns. With `RUNPOD_API_KEY` and `RUNPOD_ENDPOINT_ID` set, the same client calls that real
//! endpoint instead (whose worker should be the `echo_worker` example or behave like it).
#![allow(clippy::print_stdout, reason = "an example shows its results")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use runpod::serverless::{JobStatus, ServerlessClient};
use runpod::worker::{Job, Worker, WorkerEnv};
use serde_json::{Value, json};

const LOCAL_KEY: &str = "quickstart-local-key";

/// The demo handler: `{"echo": x}` answers x, `{"stream": n}` sends n chunks first,
/// `{"sleep_ms": n}` works for n ms (until cancelled), `{"flaky": true}` fails on its first run.
async fn handler(job: Job<Value>) -> Result<Value, String> {
    static FLAKY_FAILED_ONCE: AtomicBool = AtomicBool::new(false);
    let input = job.input().clone();
    if let Some(n) = input.get("stream").and_then(Value::as_u64) {
        for i in 0..n {
            job.send_chunk(json!({ "i": i })).await;
        }
    }
    if let Some(ms) = input.get("sleep_ms").and_then(Value::as_u64) {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => {}
            () = job.cancelled() => return Err("cancelled".into()),
        }
    }
    if input.get("flaky").is_some() && !FLAKY_FAILED_ONCE.swap(true, Ordering::SeqCst) {
        return Err("flaky: failing the first run on purpose".into());
    }
    Ok(input.get("echo").cloned().unwrap_or(input))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let remote = std::env::var("RUNPOD_API_KEY")
        .ok()
        .zip(std::env::var("RUNPOD_ENDPOINT_ID").ok());
    if let Some((_, endpoint_id)) = remote {
        println!(
            "using the real endpoint {endpoint_id} (RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID are set)"
        );
        let client = ServerlessClient::from_env()?;
        return tour(&client, &endpoint_id).await;
    }

    // A local endpoint on a free port, and a Rust worker serving its queue `local`.
    let server = runpod_local::Server::builder()
        .api_key(LOCAL_KEY)
        .bind("127.0.0.1:0")
        .await?;
    println!("runpod-local listening on {}", server.base_url());
    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::builder(handler)
        .with_env(WorkerEnv::from_vars(
            server.worker_env("local", "quickstart-worker"),
        ))
        .with_concurrency(2)
        .graceful_shutdown_on(async {
            let _ = stopped.await;
        })
        .run();
    let worker = tokio::spawn(worker);

    let client = ServerlessClient::from_config(
        runpod::Config::builder()
            .with_api_key(LOCAL_KEY)
            .with_serverless_base_url(server.serverless_base_url())
            .build()?,
    )?;
    let result = tour(&client, "local").await;

    let _ = stop_worker.send(());
    worker.await??;
    server.shutdown().await;
    result
}

async fn tour(
    client: &ServerlessClient,
    endpoint_id: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = client.endpoint(endpoint_id);

    // run_sync: /runsync holds the request until the job ends.
    let output: Value = endpoint
        .run_sync(json!({"echo": "hello from runsync"}))
        .output()
        .await?;
    println!("run_sync      -> {output}");

    // run + wait: /run answers at once with the id; awaiting the handle polls /status.
    let job = endpoint.run(json!({"echo": {"answer": 42}})).send().await?;
    println!("run           -> job {}", job.id());
    let output: Value = job.clone().await?;
    println!("wait          -> {output}");

    // stream: partial output as the worker sends it, ending with the job.
    let job = endpoint
        .run(json!({"stream": 3, "echo": "streamed"}))
        .send()
        .await?;
    let mut chunks = job.stream::<Value>();
    while let Some(chunk) = chunks.next().await {
        println!("stream chunk  -> {}", chunk?);
    }
    println!("stream final  -> {}", job.output::<Value>().await?);

    // cancel: a long job, cancelled while it runs.
    let job = endpoint.run(json!({"sleep_ms": 60_000})).send().await?;
    wait_for_status(&job, &JobStatus::InProgress).await?;
    let state = job.cancel().await?;
    println!("cancel        -> {state}");
    match job.wait().await {
        Err(e) if e.is_job_cancelled() => println!("wait          -> cancelled, as asked"),
        other => println!("wait          -> {other:?}"),
    }

    // retry: a job that fails once, queued again under the same id.
    let job = endpoint
        .run(json!({"flaky": true, "echo": "second time lucky"}))
        .send()
        .await?;
    match job.wait().await {
        Err(e) if e.is_job_failed() => println!(
            "flaky job     -> failed: {}",
            e.job_error().unwrap_or(&Value::Null)
        ),
        other => println!("flaky job     -> {other:?}"),
    }
    let state = job.retry().await?;
    println!("retry         -> {state}");
    println!("after retry   -> {}", job.output::<Value>().await?);

    // health and purge: two busy workers, three queued jobs, then purge the queue.
    let busy = [
        endpoint.run(json!({"sleep_ms": 60_000})).send().await?,
        endpoint.run(json!({"sleep_ms": 60_000})).send().await?,
    ];
    for job in &busy {
        wait_for_status(job, &JobStatus::InProgress).await?;
    }
    for i in 0..3 {
        endpoint.run(json!({"echo": i})).send().await?;
    }
    let health = endpoint.health().await?;
    println!(
        "health        -> jobs {}, workers {}",
        serde_json::to_string(&health.jobs)?,
        serde_json::to_string(&health.workers)?
    );
    let purged = endpoint.purge_queue().await?;
    println!("purge_queue   -> removed {}", purged.removed.unwrap_or(0));
    for job in &busy {
        job.cancel().await?;
    }
    Ok(())
}

/// Polls until the job reaches `want` (or any terminal state), so the demo never races the worker.
async fn wait_for_status(job: &runpod::JobHandle, want: &JobStatus) -> Result<(), runpod::Error> {
    loop {
        let state = job.status().await?;
        match state.status {
            Some(ref s) if s == want || s.is_terminal() => return Ok(()),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
