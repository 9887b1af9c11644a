//! `bench local`: runpod-local's own capacity (in its own process) under a raw reqwest load
//! generator: `GET /status` of one existing job, and the full run → take → done cycle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Result;
use crate::measure::{Latencies, machine_line, mb, rate};
use crate::procs::ServerProc;
use crate::raw::{self, InstantWorker, Target};
use crate::report::{Table, num, say};

const API_KEY: &str = "bench-key";

/// Flags of `bench local`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `GET /status` requests.
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Jobs through run → take → done.
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Client requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Worker take loops (each `job-take-batch?batch_size=64`, results posted concurrently).
    #[arg(long, default_value_t = 4)]
    worker_loops: usize,
    /// Time limit of each phase, in seconds.
    #[arg(long, default_value_t = 60)]
    max_secs: u64,
}

/// `requests` status reads of one job with `concurrency` in flight; returns (done, elapsed, latencies).
async fn status_load(
    http: &reqwest::Client,
    t: &Target,
    id: &str,
    requests: u64,
    concurrency: usize,
    limit: Duration,
) -> (u64, Duration, Latencies) {
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + limit;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (http, t, id, next) = (http.clone(), t.clone(), id.to_owned(), next.clone());
        tasks.spawn(async move {
            let mut lat = Latencies::default();
            let mut ok = 0u64;
            while next.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
                let sent = Instant::now();
                if raw::status(&http, &t, &id).await.is_ok() {
                    ok += 1;
                    lat.record(sent.elapsed());
                }
            }
            (ok, lat)
        });
    }
    let mut all = Latencies::default();
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        if let Ok((n, lat)) = joined {
            ok += n;
            all.merge(lat);
        }
    }
    (ok, start.elapsed(), all)
}

pub(crate) async fn run(args: Args) -> Result<()> {
    let server = ServerProc::start(
        API_KEY,
        Duration::from_secs(1),
        Duration::from_secs(60),
        None,
    )
    .await?;
    let http = raw::http()?;
    let limit = Duration::from_secs(args.max_secs);
    say(format!("# bench local — {}", machine_line()));
    say(format!(
        "# runpod-local in its own process; raw reqwest load generator in the bench process, {} requests in flight",
        args.concurrency
    ));

    let status_target = Target {
        base_url: server.base_url().to_owned(),
        endpoint: "local-status".to_owned(),
        api_key: API_KEY.to_owned(),
    };
    let id = raw::submit(&http, &status_target, &json!({ "echo": 1 })).await?;
    say("running GET /status ...");
    // Warm-up: open the connections.
    status_load(&http, &status_target, &id, 2_000, args.concurrency, limit).await;
    let (reads, read_time, mut lat) = status_load(
        &http,
        &status_target,
        &id,
        args.requests,
        args.concurrency,
        limit,
    )
    .await;

    say("running run -> take -> done ...");
    let cycle_target = Target {
        endpoint: "local-cycle".to_owned(),
        ..status_target.clone()
    };
    let worker = InstantWorker::start(&http, &cycle_target, args.worker_loops, 64, Duration::ZERO);
    let start = Instant::now();
    let submitted = tokio::time::timeout(
        limit,
        raw::fill_queue(&http, &cycle_target, args.jobs, args.concurrency),
    )
    .await;
    let all_done = worker
        .wait_done(args.jobs, limit.saturating_sub(start.elapsed()))
        .await;
    let cycle_time = start.elapsed();
    let cycled = worker.done();
    worker.stop().await;
    let server_rss = server.stop().await;
    if !matches!(submitted, Ok(Ok(()))) || !all_done {
        say(format!(
            "  run -> take -> done stopped early: {cycled} of {} jobs",
            args.jobs
        ));
    }

    let mut table = Table::new(&[
        "measure",
        "count",
        "time s",
        "per second",
        "p50 ms",
        "p99 ms",
    ]);
    table.row(vec![
        "GET /status (one job)".to_owned(),
        reads.to_string(),
        num(Some(read_time.as_secs_f64()), 2),
        num(Some(rate(reads, read_time)), 0),
        num(lat.percentile_ms(50.0), 2),
        num(lat.percentile_ms(99.0), 2),
    ]);
    table.row(vec![
        "jobs run -> take -> done".to_owned(),
        cycled.to_string(),
        num(Some(cycle_time.as_secs_f64()), 2),
        num(Some(rate(cycled, cycle_time)), 0),
        "-".to_owned(),
        "-".to_owned(),
    ]);
    say("");
    say(table.render());
    say(format!(
        "runpod-local peak RSS: {} MB",
        num(server_rss.map(mb), 1)
    ));
    Ok(())
}
