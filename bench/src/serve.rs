//! `runpod-bench serve` (hidden): runpod-local in its own process for the other benches.
//!
//! Prints one JSON line (`base_url`, the worker environment with placeholders), serves until its
//! stdin closes, then prints its peak RSS and stops.

use std::io::Read as _;
use std::time::Duration;

use serde_json::json;

use crate::Result;
use crate::measure::peak_rss_kib;
use crate::procs::{EP_PLACEHOLDER, WORKER_PLACEHOLDER};
use crate::report::say;

/// Flags of `serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Key clients (Bearer) and workers (raw) must send.
    #[arg(long)]
    api_key: String,
    /// Long-poll hold of job-take / job-stop, in ms (short, so that idle workers stop quickly).
    #[arg(long, default_value_t = 1000)]
    hold_ms: u64,
    /// How long finished jobs stay readable, in ms.
    #[arg(long, default_value_t = 1_800_000)]
    result_retention_ms: u64,
    /// Answer every job inside the server with its input (runpod-local's in-process echo)
    /// instead of waiting for a worker.
    #[arg(long)]
    echo: bool,
    /// With `--echo`: each job takes this long (ms) before its input comes back.
    #[arg(long, default_value_t = 0)]
    echo_work_ms: u64,
    /// With `--echo`: answer `{"input": …, "done_at_us": <wall clock at the end>}` instead
    /// (`bench wait` measures completion-to-caller latency from it).
    #[arg(long)]
    stamp: bool,
    /// Answer 429 beyond Runpod's documented per-endpoint rate limits.
    #[arg(long)]
    runpod_limits: bool,
    /// Connections the server accepts at once (runpod-local's default is 1 024).
    #[arg(long, conflicts_with = "no_limits")]
    connections: Option<usize>,
    /// Raise every runpod-local limit out of reach (the checks still run), to compare with the
    /// default limits.
    #[arg(long)]
    no_limits: bool,
}

pub(crate) async fn run(args: Args) -> Result<()> {
    let mut builder = runpod_local::Server::builder()
        .api_key(args.api_key)
        .hold_time(Duration::from_millis(args.hold_ms))
        .result_retention(Duration::from_millis(args.result_retention_ms));
    if args.no_limits {
        builder = builder.limits(
            runpod_local::Limits::default()
                .queued_jobs_per_endpoint(usize::MAX)
                .stored_bytes(usize::MAX)
                .id_length(usize::MAX)
                .stream_chunk_bytes(usize::MAX)
                .connections(tokio::sync::Semaphore::MAX_PERMITS)
                .read_timeout(Duration::from_secs(24 * 60 * 60)),
        );
    }
    if let Some(connections) = args.connections {
        builder = builder.limits(runpod_local::Limits::default().connections(connections));
    }
    if args.runpod_limits {
        builder = builder.faults(runpod_local::FaultConfig::new().runpod_limits(true));
    }
    if args.echo && args.stamp {
        builder = builder.inline_handler(crate::wait::stamped_handler(Duration::from_millis(
            args.echo_work_ms,
        )));
    } else if args.echo {
        builder = match args.echo_work_ms {
            0 => builder.echo(),
            ms => builder.inline_handler(move |input| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(input)
            }),
        };
    }
    let server = builder.bind("127.0.0.1:0").await?;
    say(json!({
        "base_url": server.base_url(),
        "worker_env": server.worker_env(EP_PLACEHOLDER, WORKER_PLACEHOLDER),
    })
    .to_string());
    // Stdin closes when the parent is done (or dies): the server never outlives the bench.
    tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    })
    .await?;
    let rss = peak_rss_kib(None);
    server.shutdown().await;
    say(json!({ "peak_rss_kib": rss }).to_string());
    Ok(())
}
