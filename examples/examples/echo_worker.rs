//! A serverless worker that echoes, streams, sleeps, fails or panics on request — for trying the
//! worker runtime, the local modes and the clients.
//!
//! Input (one job):
//! - `{"echo": X}` returns X;
//! - `{"stream": N}` streams N chunks `{"i": k}` to job-stream, then returns them all;
//! - `{"sleep_ms": N}` sleeps (and stops early if the job is cancelled);
//! - `{"progress": N}` sends N progress updates;
//! - `{"fail": "msg"}` fails with that message;
//! - `{"panic": true}` panics (only this job fails).
//!
//! Keys combine, applied in this order: progress, sleep, fail, panic, stream, echo.
//!
//! ```text
//! cargo run -p runpod-examples --example echo_worker -- --test_input '{"input": {"echo": 42}}'
//! cargo run -p runpod-examples --example echo_worker -- --rp_serve_api --concurrency 4
//! curl -s localhost:8000/v2/local/runsync -d '{"input": {"stream": 3}}'
//! ```
//!
//! On the platform, the same binary reads `RUNPOD_WEBHOOK_*` and takes jobs until SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use runpod::worker::{self, Job};
use serde::Deserialize;
use serde_json::{Value, json};

/// Every field is optional; they apply in the order listed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    #[serde(default)]
    progress: Option<u32>,
    #[serde(default)]
    sleep_ms: Option<u64>,
    #[serde(default)]
    fail: Option<String>,
    #[serde(default)]
    panic: bool,
    #[serde(default)]
    stream: Option<u32>,
    #[serde(default)]
    echo: Option<Value>,
}

async fn handler(job: Job<Input>) -> Result<Value, String> {
    let input = job.input();
    for step in 0..input.progress.unwrap_or(0) {
        job.progress(json!({"step": step})).await;
    }
    if let Some(ms) = input.sleep_ms {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => {}
            () = job.cancelled() => return Err("cancelled while sleeping".to_owned()),
        }
    }
    if let Some(msg) = &input.fail {
        return Err(msg.clone());
    }
    if input.panic {
        panic!("asked to panic");
    }
    if let Some(n) = input.stream {
        let mut all = Vec::new();
        for i in 0..n {
            let chunk = json!({"i": i});
            job.send_chunk(&chunk).await;
            all.push(chunk);
        }
        return Ok(Value::Array(all));
    }
    Ok(input.echo.clone().unwrap_or(Value::Null))
}

fn main() -> ExitCode {
    worker::start(handler)
}
