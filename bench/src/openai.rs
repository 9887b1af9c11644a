//! `runpod-bench openai`: concurrent streaming chat completions through runpod-local's
//! OpenAI-compatible route and the `openai_worker` example (release), our typed client
//! (`Endpoint::openai`) against the official Python `openai` client, each client in its own
//! process with the same load: `--streams` completions in flight for `--seconds`, each answer
//! `--words` chunks long.
//!
//! Measured per client: completions and chunks per second, time to first chunk (p50, p95) and
//! the client process's CPU time per chunk; and runpod-local's CPU time per chunk (its own
//! process). Then runpod-local's added latency per chunk, from a worker's job-stream post to the
//! SSE line read by the caller (p50, p99; target p50 <= 1 ms), by the probe in
//! `openai_latency.rs`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use runpod_serverless::openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
};
use runpod_serverless::{Config, ServerlessClient};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::Result;
use crate::measure::{Latencies, cpu_time, cpu_time_of, machine_line};
use crate::procs::{self, Group, ServerProc};
use crate::report::{Table, Targets, num, ratio, say};

const KEY: &str = "bench-key";
const ENDPOINT: &str = "openai";

/// Flags of `openai`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Completions in flight at once, per client.
    #[arg(long, default_value_t = 32)]
    streams: usize,
    /// How long each client runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Words (chunks) per answer.
    #[arg(long, default_value_t = 64)]
    words: usize,
    /// Python interpreter with `openai` installed [default: RUNPOD_PYTHON, else ./.venv].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip the Python client.
    #[arg(long)]
    no_python: bool,
    /// The worker binary [default: target/release/examples/openai_worker next to this binary].
    #[arg(long)]
    worker_bin: Option<PathBuf>,
    /// Latency probe: streams at once (each posts a chunk only once the last one was read).
    #[arg(long, default_value_t = 1)]
    probe_streams: usize,
    /// Latency probe: chunks per stream.
    #[arg(long, default_value_t = 2000)]
    probe_chunks: usize,
}

/// Flags of the hidden `openai-client` child.
#[derive(Debug, clap::Args)]
pub(crate) struct ChildArgs {
    #[arg(long)]
    base_url: String,
    #[arg(long)]
    streams: usize,
    #[arg(long)]
    seconds: u64,
    #[arg(long)]
    words: usize,
}

/// What one client process reports (the Python script prints the same fields).
#[derive(Debug, Serialize, Deserialize)]
struct Outcome {
    completions: u64,
    chunks: u64,
    errors: u64,
    elapsed_s: f64,
    cpu_s: Option<f64>,
    ttfc_p50_ms: Option<f64>,
    ttfc_p95_ms: Option<f64>,
}

fn text(words: usize) -> String {
    (0..words)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The hidden child: our client, `streams` loops of streaming completions for `seconds`.
pub(crate) async fn child(args: ChildArgs) -> Result<()> {
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(format!("{}/v2", args.base_url))
        .build()?;
    let llm = ServerlessClient::from_config(config)?
        .endpoint(ENDPOINT)
        .openai();
    let request = CreateChatCompletionRequest {
        model: "runpod-echo".to_owned(),
        messages: vec![ChatCompletionRequestUserMessage::from(text(args.words)).into()],
        ..Default::default()
    };
    let (chunks, completions, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let ttfc = Arc::new(Mutex::new(Latencies::default()));
    let cpu_before = cpu_time();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.streams {
        let (llm, request) = (llm.clone(), request.clone());
        let (chunks, completions, errors, ttfc) = (
            Arc::clone(&chunks),
            Arc::clone(&completions),
            Arc::clone(&errors),
            Arc::clone(&ttfc),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Latencies::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let Ok(mut stream) = llm.chat_completion_stream(request.clone()).await else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let mut first = true;
                let mut ok = true;
                while let Some(chunk) = stream.next().await {
                    if chunk.is_err() {
                        ok = false;
                        break;
                    }
                    if first {
                        mine.record(sent.elapsed());
                        first = false;
                    }
                    chunks.fetch_add(1, Ordering::Relaxed);
                }
                let counter = if ok { &completions } else { &errors };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            ttfc.lock().await.merge(mine);
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| (after - before).as_secs_f64());
    let mut ttfc = ttfc.lock().await;
    let outcome = Outcome {
        completions: completions.load(Ordering::Relaxed),
        chunks: chunks.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed_s: elapsed.as_secs_f64(),
        cpu_s: cpu,
        ttfc_p50_ms: ttfc.percentile_ms(50.0),
        ttfc_p95_ms: ttfc.percentile_ms(95.0),
    };
    say(serde_json::to_string(&outcome)?);
    Ok(())
}

pub(crate) async fn run(args: Args) -> Result<()> {
    let bin = match &args.worker_bin {
        Some(b) => b.clone(),
        None => procs::this_exe()?
            .parent()
            .map(|d| d.join("examples").join("openai_worker"))
            .ok_or("cannot locate the target directory")?,
    };
    if !bin.exists() {
        return Err(format!(
            "{} not found; build it with `cargo build --release -p runpod-examples --example openai_worker` \
             (`cargo xtask bench openai` does)",
            bin.display()
        )
        .into());
    }
    let python = if args.no_python {
        None
    } else {
        procs::python(args.python.as_deref()).filter(|p| {
            Command::new(p)
                .args(["-c", "import openai"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    };
    say(machine_line());
    say(format!(
        "openai: {} streams for {} s, {} chunks per answer (+1 closing chunk)",
        args.streams, args.seconds, args.words
    ));
    let server =
        ServerProc::start(KEY, Duration::from_secs(1), Duration::from_secs(60), None).await?;
    let mut worker = Command::new(&bin);
    worker
        .args(["--concurrency", &args.streams.to_string()])
        .env("RUNPOD_LOG_LEVEL", "ERROR")
        .envs(server.worker_env(ENDPOINT, "bench-worker", None))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let worker = Group::spawn(worker)?;
    warm_up(server.base_url(), args.words).await?;

    let mut rows = Vec::new();
    let ours = measure(&server, &args, |cmd| {
        cmd.arg("openai-client");
    })
    .await?;
    rows.push(("runpod-serverless (Rust)", Some(ours)));
    let theirs = match &python {
        Some(interpreter) => Some(
            measure(&server, &args, |cmd| {
                *cmd = Command::new(interpreter);
                cmd.arg(procs::python_script("openai_bench.py"));
            })
            .await?,
        ),
        None => {
            say(
                "python: no interpreter with `openai` (pip install openai==3.63.0); its row is not run",
            );
            None
        }
    };
    rows.push(("openai 3.63 (Python, AsyncOpenAI)", theirs));
    let mut added = crate::openai_latency::measure(
        server.base_url(),
        KEY,
        args.probe_streams,
        args.probe_chunks,
    )
    .await?;
    worker.stop(Duration::from_secs(5)).await;
    let _ = server.stop().await;

    let mut table = Table::new(&[
        "client",
        "completions/s",
        "chunks/s",
        "first chunk p50 ms",
        "first chunk p95 ms",
        "client CPU µs/chunk",
        "runpod-local CPU µs/chunk",
        "errors",
    ]);
    for (name, row) in &rows {
        let Some((o, server_cpu)) = row else {
            table.row(vec![(*name).to_owned(), "not run".to_owned()]);
            continue;
        };
        table.row(vec![
            (*name).to_owned(),
            num(rate(o.completions, o.elapsed_s), 1),
            num(rate(o.chunks, o.elapsed_s), 0),
            num(o.ttfc_p50_ms, 2),
            num(o.ttfc_p95_ms, 2),
            num(per_chunk_us(o.cpu_s, o.chunks), 1),
            num(per_chunk_us(*server_cpu, o.chunks), 1),
            o.errors.to_string(),
        ]);
    }
    say(table.render());
    let get =
        |i: usize, f: &dyn Fn(&Outcome) -> Option<f64>| rows[i].1.as_ref().and_then(|(o, _)| f(o));
    let cpu = |o: &Outcome| per_chunk_us(o.cpu_s, o.chunks);
    let throughput = |o: &Outcome| rate(o.chunks, o.elapsed_s);
    let mut targets = Targets::new();
    targets.at_most(
        "our client CPU per chunk / Python's",
        ratio(get(0, &cpu), get(1, &cpu)),
        0.34,
        "x",
    );
    targets.at_least(
        "our chunks/s / Python's",
        ratio(get(0, &throughput), get(1, &throughput)),
        1.0,
        "x",
    );
    targets.at_most(
        "our first-chunk p50 / Python's",
        ratio(get(0, &|o| o.ttfc_p50_ms), get(1, &|o| o.ttfc_p50_ms)),
        1.0,
        "x",
    );
    let (added_p50, added_p99) = (added.percentile_ms(50.0), added.percentile_ms(99.0));
    say(format!(
        "runpod-local's added latency per chunk, job-stream post started -> SSE line read \
         (upper bound: includes the post's trip and the read), {} stream(s) x {} chunks, one \
         chunk in flight per stream: p50 {} ms, p99 {} ms",
        args.probe_streams,
        args.probe_chunks,
        num(added_p50, 3),
        num(added_p99, 3),
    ));
    targets.at_most(
        "runpod-local added latency per chunk, p50",
        added_p50,
        1.0,
        " ms",
    );
    say(targets.render());
    Ok(())
}

/// Runs one client process (built by `setup`) against the server; its outcome and the server's
/// CPU time spent meanwhile (seconds).
async fn measure(
    server: &ServerProc,
    args: &Args,
    setup: impl FnOnce(&mut Command),
) -> Result<(Outcome, Option<f64>)> {
    let mut cmd = Command::new(procs::this_exe()?);
    setup(&mut cmd);
    cmd.args(["--base-url", server.base_url()])
        .args(["--streams", &args.streams.to_string()])
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--words", &args.words.to_string()]);
    let before = cpu_time_of(Some(server.pid()));
    let outcome: Outcome = procs::run_json(cmd, Duration::from_secs(args.seconds + 120)).await?;
    let after = cpu_time_of(Some(server.pid()));
    let server_cpu = after.zip(before).map(|(a, b)| (a - b).as_secs_f64());
    Ok((outcome, server_cpu))
}

/// Waits until the worker answers one completion (it is up and taking jobs).
async fn warm_up(base_url: &str, words: usize) -> Result<()> {
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(format!("{base_url}/v2"))
        .build()?;
    let llm = ServerlessClient::from_config(config)?
        .endpoint(ENDPOINT)
        .openai();
    let request = CreateChatCompletionRequest {
        model: "runpod-echo".to_owned(),
        messages: vec![ChatCompletionRequestUserMessage::from(text(words)).into()],
        ..Default::default()
    };
    let answer = tokio::time::timeout(Duration::from_secs(60), llm.chat_completion(request))
        .await
        .map_err(|_| "the openai_worker did not answer within 60 s")??;
    if answer
        .choices
        .first()
        .and_then(|c| c.message.content.as_deref())
        != Some(text(words).as_str())
    {
        return Err("the openai_worker answered something else than the echo".into());
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn rate(count: u64, secs: f64) -> Option<f64> {
    (secs > 0.0).then(|| count as f64 / secs)
}

#[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn per_chunk_us(cpu_s: Option<f64>, chunks: u64) -> Option<f64> {
    cpu_s
        .filter(|_| chunks > 0)
        .map(|s| s * 1e6 / chunks as f64)
}
