//! `bench local`: runpod-local's own capacity (in its own process) under a raw reqwest load
//! generator: `GET /status` of one existing job, and the full run → take → done cycle.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::Result;
use crate::measure::{Latencies, closed_loop, current_rss_kib, machine_line, mb, rate};
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
    /// Jobs left queued, then run and retained, to measure runpod-local's memory per job
    /// (0 skips it).
    #[arg(long, default_value_t = 20_000)]
    memory_jobs: u64,
    /// Only the run with default limits (skip the comparison with every limit out of reach).
    #[arg(long)]
    limits_only: bool,
    /// Instead of the loads above: what one open console page costs. Rounds of `--jobs` jobs
    /// run -> take -> done with and without a simulated page (its live feed plus the job list
    /// fetched every second); prints the throughput ratio, PASS at most 5 % lower.
    #[arg(long)]
    console: bool,
    /// Rounds of each (with `--console`).
    #[arg(long, default_value_t = 6)]
    console_rounds: usize,
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
    let (http, t, id) = (http.clone(), t.clone(), Arc::<str>::from(id));
    let read = move || {
        let (http, t, id) = (http.clone(), t.clone(), Arc::clone(&id));
        async move { raw::status(&http, &t, &id).await.is_ok() }
    };
    closed_loop(read, requests, concurrency, limit).await
}

/// Runs both loads against one server; `label` names its limits in the table.
async fn load_rows(
    args: &Args,
    label: &str,
    no_limits: bool,
) -> Result<(Vec<Vec<String>>, Option<u64>, Option<Memory>)> {
    let flags: &[&str] = if no_limits { &["--no-limits"] } else { &[] };
    let server = ServerProc::start_with(
        API_KEY,
        Duration::from_secs(1),
        Duration::from_secs(60),
        None,
        flags,
    )
    .await?;
    let http = raw::http()?;
    let limit = Duration::from_secs(args.max_secs);

    let status_target = Target {
        base_url: server.base_url().to_owned(),
        endpoint: "local-status".to_owned(),
        api_key: API_KEY.to_owned(),
    };
    let id = raw::submit(&http, &status_target, &json!({ "echo": 1 })).await?;
    say(format!("[{label}] running GET /status ..."));
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

    say(format!("[{label}] running run -> take -> done ..."));
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
    if !matches!(submitted, Ok(Ok(()))) || !all_done {
        say(format!(
            "  run -> take -> done stopped early: {cycled} of {} jobs",
            args.jobs
        ));
    }
    let memory = if no_limits || args.memory_jobs == 0 {
        None
    } else {
        say(format!("[{label}] measuring memory per job ..."));
        Some(memory_per_job(&http, &server, &status_target, args, limit).await?)
    };
    let server_rss = server.stop().await;
    let rows = vec![
        vec![
            label.to_owned(),
            "GET /status (one job)".to_owned(),
            reads.to_string(),
            num(Some(read_time.as_secs_f64()), 2),
            num(Some(rate(reads, read_time)), 0),
            num(lat.percentile_ms(50.0), 2),
            num(lat.percentile_ms(99.0), 2),
        ],
        vec![
            label.to_owned(),
            "jobs run -> take -> done".to_owned(),
            cycled.to_string(),
            num(Some(cycle_time.as_secs_f64()), 2),
            num(Some(rate(cycled, cycle_time)), 0),
            "-".to_owned(),
            "-".to_owned(),
        ],
    ];
    Ok((rows, server_rss, memory))
}

/// Bytes of server RSS per small job, queued and finished (retained).
struct Memory {
    jobs: u64,
    per_queued: f64,
    per_finished: f64,
}

/// `memory_jobs` small jobs left queued on one endpoint, then as many run to the end (and kept
/// for the result retention) on another; the server's RSS growth divided by the count.
/// Measured after the loads above, so connections and allocator pools are already warm.
async fn memory_per_job(
    http: &reqwest::Client,
    server: &ServerProc,
    base: &Target,
    args: &Args,
    limit: Duration,
) -> Result<Memory> {
    let rss = || current_rss_kib(server.pid()).ok_or("cannot read the server's RSS");
    let jobs = args.memory_jobs;
    let queued = Target {
        endpoint: "local-memory-queued".to_owned(),
        ..base.clone()
    };
    let before = rss()?;
    raw::fill_queue(http, &queued, jobs, args.concurrency).await?;
    let with_queued = rss()?;
    let finished = Target {
        endpoint: "local-memory-finished".to_owned(),
        ..base.clone()
    };
    let worker = InstantWorker::start(http, &finished, args.worker_loops, 64, Duration::ZERO);
    raw::fill_queue(http, &finished, jobs, args.concurrency).await?;
    let all_done = worker.wait_done(jobs, limit).await;
    worker.stop().await;
    if !all_done {
        return Err("the memory run did not finish its jobs".into());
    }
    let with_finished = rss()?;
    let per = |grown: u64| (grown as f64) * 1024.0 / (jobs as f64);
    Ok(Memory {
        jobs,
        per_queued: per(with_queued.saturating_sub(before)),
        per_finished: per(with_finished.saturating_sub(with_queued)),
    })
}

pub(crate) async fn run(args: Args) -> Result<()> {
    say(format!("# bench local — {}", machine_line()));
    if args.console {
        let pass = crate::console::run(
            API_KEY,
            args.jobs,
            args.console_rounds,
            args.concurrency,
            args.worker_loops,
            Duration::from_secs(args.max_secs),
        )
        .await?;
        return if pass {
            Ok(())
        } else {
            Err("one open console page cost more than 5 % of the throughput".into())
        };
    }
    say(format!(
        "# runpod-local in its own process; raw reqwest load generator in the bench process, {} requests in flight",
        args.concurrency
    ));
    let mut table = Table::new(&[
        "limits",
        "measure",
        "count",
        "time s",
        "per second",
        "p50 ms",
        "p99 ms",
    ]);
    let mut rss_lines = Vec::new();
    let mut memory = None;
    // Default limits first, then every limit out of reach (the checks still run): the same
    // loads, so that the limits' cost shows as a difference in throughput.
    let runs: &[(&str, bool)] = if args.limits_only {
        &[("default", false)]
    } else {
        &[("default", false), ("none", true)]
    };
    for &(label, no_limits) in runs {
        let (rows, rss, mem) = load_rows(&args, label, no_limits).await?;
        for row in rows {
            table.row(row);
        }
        rss_lines.push(format!(
            "runpod-local peak RSS ({label} limits): {} MB",
            num(rss.map(mb), 1)
        ));
        memory = memory.or(mem);
    }
    say("");
    say(table.render());
    for line in rss_lines {
        say(line);
    }
    if let Some(m) = memory {
        say(format!(
            "runpod-local memory per small job ({} jobs each): {} bytes queued, {} bytes finished and retained (target <= 2048)",
            m.jobs,
            num(Some(m.per_queued), 0),
            num(Some(m.per_finished), 0)
        ));
    }
    Ok(())
}
