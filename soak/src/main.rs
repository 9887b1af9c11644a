//! `runpod-soak`: runs thousands of jobs through runpod-local with faults on every route and
//! checks that no job and no result is lost.
//!
//! The pieces, all on loopback:
//!
//! - **runpod-local** in this process, injecting 429 (with `Retry-After`), 503, dropped
//!   connections and latency on every route (decided before the handler runs);
//! - a **lossy proxy** in front of it (see [`proxy`]) that loses answers *after* the server
//!   acted, and records what the server accepted;
//! - **worker processes**: the `echo_worker` example binary (release build), several of them,
//!   one killed with SIGKILL mid-run and replaced;
//! - **our client** (`runpod_serverless::ServerlessClient`, default settings) submitting and
//!   waiting with many jobs in flight.
//!
//! Run it with `cargo xtask soak [--jobs N] [--short]`; `--help` lists the knobs. It prints a
//! summary and exits non-zero when an invariant does not hold.

mod batches;
mod jobs;
mod proxy;
mod report;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use runpod_local::{FaultConfig, RouteFaults, Server};
use runpod_serverless::{Config, ServerlessClient};
use tokio::time::Instant;

use crate::jobs::{Plan, Tally};
use crate::proxy::{LostResponses, Proxy};
use crate::report::{KillRecord, Settings, say};
use crate::workers::{Spec, WorkerProcess};

type Error = Box<dyn std::error::Error + Send + Sync>;

const ENDPOINT: &str = "soak";
const KEY: &str = "soak-key";
/// Routes whose answers the proxy may lose after the server acted. job-take is left out on
/// purpose: a lost take leaves the job held by a live worker that never saw it (see README).
const LOSSY_ROUTES: [&str; 4] = ["run", "status", "job-done", "ping"];

/// Fault-injection soak of the runpod-rs client and worker against runpod-local.
#[derive(Debug, Parser)]
#[command(name = "runpod-soak")]
struct Args {
    /// Jobs to run [default: 10000, or 500 with --short].
    #[arg(long)]
    jobs: Option<usize>,
    /// The CI size: 500 jobs (unless --jobs says otherwise).
    #[arg(long)]
    short: bool,
    /// Jobs the client keeps in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Jobs each worker runs at once (`--concurrency` of echo_worker).
    #[arg(long, default_value_t = 4)]
    worker_concurrency: usize,
    /// Seed of the faults and of the job inputs.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The worker binary [default: examples/echo_worker next to this binary].
    #[arg(long)]
    worker_bin: Option<PathBuf>,
    /// Share of jobs finished when worker w0 is killed with SIGKILL.
    #[arg(long, default_value_t = 0.4)]
    kill_at: f64,
    /// Restart the killed worker under its old id (a container restarted in the same pod)
    /// instead of a new one.
    #[arg(long)]
    restart_same_id: bool,
    /// Share of requests runpod-local answers 429 (with Retry-After: 1), every route.
    #[arg(long, default_value_t = 0.02)]
    fault_429: f64,
    /// Share of requests runpod-local answers 503, every route.
    #[arg(long, default_value_t = 0.03)]
    fault_5xx: f64,
    /// Share of requests whose connection runpod-local drops unanswered, every route.
    #[arg(long, default_value_t = 0.02)]
    fault_drop: f64,
    /// Latency runpod-local adds to every request, in ms.
    #[arg(long, default_value_t = 1)]
    latency_ms: u64,
    /// Random extra latency, up to this many ms.
    #[arg(long, default_value_t = 4)]
    jitter_ms: u64,
    /// Share of answers the proxy loses after the server acted (run, status, job-done, ping).
    #[arg(long, default_value_t = 0.02)]
    lost_response: f64,
    /// A job not finished this long after its first submission counts as stuck.
    #[arg(long, default_value_t = 300)]
    job_timeout_secs: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(format!("error: cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(soak(args));
    runtime.shutdown_background();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            say(format!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn soak(args: Args) -> Result<bool, Error> {
    let jobs = args.jobs.unwrap_or(if args.short { 500 } else { 10_000 });
    let binary = args
        .worker_bin
        .clone()
        .or_else(workers::default_binary)
        .ok_or(
            "examples/echo_worker not found next to this binary; run through `cargo xtask soak`, \
             or build it (`cargo build --release -p runpod-examples --example echo_worker`) and \
             pass --worker-bin",
        )?;
    let route_faults = RouteFaults::new()
        .too_many_requests(args.fault_429)
        .server_error(args.fault_5xx)
        .drop_connection(args.fault_drop)
        .latency(Duration::from_millis(args.latency_ms))
        .jitter(Duration::from_millis(args.jitter_ms));
    let server = Server::builder()
        .api_key(KEY)
        // Short enough that a killed worker's jobs come back within seconds.
        .heartbeat_timeout(Duration::from_secs(3))
        .hold_time(Duration::from_secs(2))
        .faults(FaultConfig::new().seed(args.seed).all_routes(route_faults))
        .bind("127.0.0.1:0")
        .await?;
    let lost = LostResponses::new(&LOSSY_ROUTES, args.lost_response);
    let proxy = Proxy::start(server.local_addr(), lost.clone(), args.seed).await?;

    let env: Vec<(String, String)> = server
        .worker_env(ENDPOINT, "placeholder")
        .into_iter()
        .filter(|(k, _)| k != "RUNPOD_POD_ID")
        .map(|(k, v)| (k, v.replace(&server.base_url(), &proxy.base_url())))
        .chain([
            ("RUNPOD_PING_INTERVAL".to_owned(), "500".to_owned()),
            // As on the platform: plain log lines, no colour codes.
            ("RUNPOD_ENDPOINT_ID".to_owned(), ENDPOINT.to_owned()),
        ])
        .collect();
    let log_dir = std::env::temp_dir().join(format!("runpod-soak-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)?;
    let spec = Spec {
        binary: binary.clone(),
        env,
        concurrency: args.worker_concurrency,
        log_dir: log_dir.clone(),
    };
    let mut running = Vec::new();
    for n in 0..args.workers.max(1) {
        running.push(WorkerProcess::spawn(&spec, &format!("w{n}"))?);
    }

    let settings = Settings {
        jobs,
        concurrency: args.concurrency,
        workers: running.len(),
        worker_concurrency: args.worker_concurrency,
        seed: args.seed,
        binary,
        server_faults: format!(
            "429 (Retry-After: 1) {:.1}%, 503 {:.1}%, dropped connection {:.1}%, latency {} ms + up to {} ms",
            args.fault_429 * 100.0,
            args.fault_5xx * 100.0,
            args.fault_drop * 100.0,
            args.latency_ms,
            args.jitter_ms
        ),
        lost_responses: lost.describe(),
        log_dir,
    };
    report::header(&settings);

    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(format!("{}/v2", proxy.base_url()))
        .build()?;
    let client = ServerlessClient::builder().with_config(config).build()?;
    let endpoint = client.endpoint(ENDPOINT);
    let tally = Arc::new(Tally::default());
    let done = Arc::new(AtomicUsize::new(0));
    let plan = Plan {
        jobs,
        concurrency: args.concurrency,
        seed: args.seed,
        job_timeout: Duration::from_secs(args.job_timeout_secs),
    };
    let started = Instant::now();
    let mut client_run = tokio::spawn(jobs::run_all(
        endpoint.clone(),
        proxy.ledger().clone(),
        tally.clone(),
        plan,
        done.clone(),
    ));

    // Watch progress; kill w0 once enough jobs are done and it holds some.
    let kill_threshold = ((jobs as f64) * args.kill_at.clamp(0.0, 1.0)) as usize;
    let mut kill: Option<KillRecord> = None;
    let mut threshold_reached: Option<Instant> = None;
    let mut last_progress = Instant::now();
    let outcomes = loop {
        tokio::select! {
            joined = &mut client_run => break joined?,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let finished = done.load(Ordering::Relaxed);
        if last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            say(format!(
                "  … {finished}/{jobs} jobs done after {:.0} s",
                started.elapsed().as_secs_f64()
            ));
        }
        if kill.is_none() && finished >= kill_threshold && !running.is_empty() {
            let since = *threshold_reached.get_or_insert_with(Instant::now);
            let held = proxy.ledger().held_by(&running[0].id);
            // Kill while it holds jobs, so that requeueing is exercised; give up waiting after 10 s.
            if !held.is_empty() || since.elapsed() > Duration::from_secs(10) {
                let victim = running.remove(0);
                let (id, pid, log) = (victim.id.clone(), victim.pid(), victim.log.clone());
                let status = victim.kill().await?;
                // Let requests the worker had in flight settle in the ledger first.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let held = proxy.ledger().held_by(&id);
                let replacement_id = if args.restart_same_id {
                    id.clone()
                } else {
                    format!("{id}-restarted")
                };
                let replacement = WorkerProcess::spawn(&spec, &replacement_id)?;
                say(format!(
                    "  … SIGKILL {id} (pid {pid}, {}) at {finished}/{jobs} jobs, holding {} job(s); started {replacement_id}",
                    workers::describe(status),
                    held.len()
                ));
                kill = Some(KillRecord {
                    worker: id,
                    at_jobs: finished,
                    held,
                    status: workers::describe(status),
                    log,
                    replacement: replacement_id,
                });
                running.push(replacement);
            }
        }
    };
    let elapsed = started.elapsed();

    // The server's own view, through the same faulty routes (the client retries reads).
    let mut health = None;
    for _ in 0..10 {
        match endpoint.health().await {
            Ok(h) => {
                health = Some(h);
                break;
            }
            Err(e) => {
                tally.record("health", &e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    let batch_ok = batch_phase(&args, &endpoint, &spec, &mut running).await?;

    let mut stopped = Vec::new();
    for worker in running {
        let (id, log) = (worker.id.clone(), worker.log.clone());
        let (status, forced) = worker.stop(Duration::from_secs(40)).await?;
        stopped.push((id, workers::describe(status), forced, log));
    }
    server.shutdown().await;

    let jobs_ok = report::summary(&report::Inputs {
        settings: &settings,
        outcomes: &outcomes,
        ledger: proxy.ledger(),
        tally: &tally,
        health: health.as_ref(),
        kill: kill.as_ref(),
        stopped: &stopped,
        elapsed,
    });
    Ok(jobs_ok && batch_ok)
}

/// Batch Jobs through the same faults (every `/batch…` route is faulted like the others), with
/// worker w1 (or the first one left) killed once a third of the requests completed. True when
/// every request of every batch completed exactly once with its own output.
async fn batch_phase(
    args: &Args,
    endpoint: &runpod_serverless::Endpoint,
    spec: &Spec,
    running: &mut Vec<WorkerProcess>,
) -> Result<bool, Error> {
    let (count, size) = if args.short { (3, 300) } else { (6, 2_000) };
    let plans: Vec<batches::Planned> = (0..count)
        .map(|number| batches::Planned { number, size })
        .collect();
    let total = count * size;
    say(format!("batch phase: {count} batches × {size} requests"));
    let started = Instant::now();
    let handles = batches::submit(endpoint, &plans).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if batches::completed(&handles)
            .await
            .is_some_and(|done| done >= total / 3)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !running.is_empty() {
        let victim = running.remove(0);
        let id = victim.id.clone();
        let status = victim.kill().await?;
        let replacement = format!("{id}-batch-restarted");
        running.push(WorkerProcess::spawn(spec, &replacement)?);
        say(format!(
            "  … SIGKILL {id} ({}) mid-batch; started {replacement}",
            workers::describe(status)
        ));
    }
    let problems = batches::verify(&handles, &plans).await;
    for problem in problems.iter().take(20) {
        say(format!("  ✗ {problem}"));
    }
    let ok = problems.is_empty();
    say(format!(
        "batch phase: {} in {:.1} s — {}",
        if ok {
            "every request of every batch completed once"
        } else {
            "FAILED"
        },
        started.elapsed().as_secs_f64(),
        if ok {
            "ok".to_owned()
        } else {
            format!("{} problem(s)", problems.len())
        }
    ));
    Ok(ok)
}
