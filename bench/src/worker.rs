//! `bench worker`: queued no-op jobs through runpod-local, drained by our worker (the
//! `echo_worker` example, release build) and by the official Python worker
//! (`runpod.serverless.start`, `bench/python/noop_worker.py`) at the same concurrency.
//! Reports throughput, cold start (process start → first job-take) and peak RSS.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use crate::Result;
use crate::measure::{machine_line, mb, rate, tree_peak_rss_kib};
use crate::probe::Probe;
use crate::procs::{self, Group, ServerProc};
use crate::raw::{self, Target};
use crate::report::{Table, Targets, num, ratio, say};

const API_KEY: &str = "bench-key";

/// Flags of `bench worker`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Jobs queued for our worker.
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Jobs queued for the Python worker (it is far slower; its rate is completed / elapsed).
    #[arg(long, default_value_t = 300)]
    python_jobs: u64,
    /// Time limit of the Python throughput run, in seconds (the rate counts what finished).
    #[arg(long, default_value_t = 60)]
    python_secs: u64,
    /// Jobs each worker runs at once (`--concurrency` / `concurrency_modifier`).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Cold-start runs of our worker (median reported).
    #[arg(long, default_value_t = 5)]
    cold_runs: usize,
    /// Cold-start runs of the Python worker.
    #[arg(long, default_value_t = 3)]
    python_cold_runs: usize,
    /// Our worker binary [default: target/release/examples/echo_worker next to this binary].
    #[arg(long)]
    worker_bin: Option<PathBuf>,
    /// Python interpreter with runpod==1.12.0 [default: $RUNPOD_PYTHON, else .venv/bin/python].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip the Python runs.
    #[arg(long)]
    no_python: bool,
    /// Time limit of our worker's throughput run, in seconds.
    #[arg(long, default_value_t = 120)]
    max_secs: u64,
}

/// A worker program and how to start it.
#[derive(Debug)]
enum Spec {
    Rust(PathBuf),
    Python { interpreter: PathBuf, home: PathBuf },
}

impl Spec {
    fn command(&self, concurrency: usize, env: &[(String, String)]) -> Command {
        let mut cmd = match self {
            Self::Rust(bin) => {
                let mut cmd = Command::new(bin);
                cmd.arg("--concurrency").arg(concurrency.to_string());
                cmd
            }
            Self::Python { interpreter, home } => {
                let mut cmd = Command::new(interpreter);
                cmd.arg(procs::python_script("noop_worker.py"))
                    .env("BENCH_CONCURRENCY", concurrency.to_string())
                    // Its fitness checks would dial 8.8.8.8:53 (no network here) and exit.
                    .env("RUNPOD_SKIP_AUTO_SYSTEM_CHECKS", "true")
                    // An empty HOME: ~/.runpod/config.toml would override the worker key.
                    .env("HOME", home);
                cmd
            }
        };
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            // Both workers log only errors, so that logging is not what is measured.
            .env("RUNPOD_LOG_LEVEL", "ERROR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        cmd
    }
}

#[derive(Debug, Default)]
struct Measured {
    completed: u64,
    elapsed: Option<Duration>,
    /// Cold starts, sorted.
    cold: Vec<Duration>,
    /// Own peak RSS and the process tree's (KiB).
    rss: (Option<u64>, Option<u64>),
    capped: bool,
}

impl Measured {
    fn jobs_per_sec(&self) -> Option<f64> {
        self.elapsed.map(|e| rate(self.completed, e))
    }

    fn cold_ms(&self, which: fn(&[Duration]) -> Option<Duration>) -> Option<f64> {
        which(&self.cold).map(|d| d.as_secs_f64() * 1000.0)
    }
}

fn median(v: &[Duration]) -> Option<Duration> {
    v.get(v.len() / 2).copied()
}

fn first(v: &[Duration]) -> Option<Duration> {
    v.first().copied()
}

fn last(v: &[Duration]) -> Option<Duration> {
    v.last().copied()
}

/// The server and the load generator's client.
#[derive(Debug, Clone, Copy)]
struct Ctx<'a> {
    server: &'a ServerProc,
    http: &'a reqwest::Client,
}

/// One worker's runs.
#[derive(Debug)]
struct Plan<'a> {
    spec: &'a Spec,
    name: &'a str,
    jobs: u64,
    cold_runs: usize,
    concurrency: usize,
    limit: Duration,
}

/// Process start → first job-take, through the probe, on a fresh endpoint with one queued job.
async fn cold_start(ctx: Ctx<'_>, spec: &Spec, name: &str, run: usize) -> Result<Duration> {
    let Ctx { server, http } = ctx;
    let target = Target {
        base_url: server.base_url().to_owned(),
        endpoint: format!("cold-{name}-{run}"),
        api_key: API_KEY.to_owned(),
    };
    raw::submit(http, &target, &serde_json::json!({ "echo": 0 })).await?;
    let probe = Probe::start(server.addr()).await?;
    let env = server.worker_env(
        &target.endpoint,
        &format!("cold-{name}-{run}"),
        Some(probe.base_url()),
    );
    let cmd = spec.command(1, &env);
    let started = Instant::now();
    let group = Group::spawn(cmd)?;
    let took = probe.first_take(Duration::from_secs(60)).await;
    // The job must also complete, or the worker did not really work.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut completed = false;
    while Instant::now() < deadline {
        if raw::health(http, &target).await?.2 >= 1 {
            completed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    group.stop(Duration::from_secs(10)).await;
    let took = took.ok_or("no job-take within 60 s")?;
    if !completed {
        return Err("the cold-start job did not complete within 30 s".into());
    }
    Ok(took - started)
}

/// Queues `jobs`, starts the worker, and times the drain from the first job taken to the last
/// result accepted, polling `/health` every 5 ms. Stops at `limit` and counts what finished.
async fn throughput(ctx: Ctx<'_>, plan: &Plan<'_>) -> Result<Measured> {
    let Ctx { server, http } = ctx;
    let Plan {
        spec,
        name,
        jobs,
        concurrency,
        limit,
        ..
    } = *plan;
    let target = Target {
        base_url: server.base_url().to_owned(),
        endpoint: format!("throughput-{name}"),
        api_key: API_KEY.to_owned(),
    };
    raw::fill_queue(http, &target, jobs, 64).await?;
    let env = server.worker_env(&target.endpoint, &format!("throughput-{name}"), None);
    let group = Group::spawn(spec.command(concurrency, &env))?;
    let spawned = Instant::now();
    let mut first: Option<Instant> = None;
    let mut completed = 0;
    let mut capped = true;
    let mut end = spawned;
    // The cap counts from the first take, so that a slow start does not eat the measuring time.
    while Instant::now() < first.unwrap_or(spawned) + limit {
        let (queued, running, done) = raw::health(http, &target).await?;
        let now = Instant::now();
        let jobs_i = i64::try_from(jobs).unwrap_or(i64::MAX);
        if first.is_none() && (running + done > 0 || queued < jobs_i) {
            first = Some(now);
        }
        completed = u64::try_from(done).unwrap_or(0);
        end = now;
        if done >= jobs_i {
            capped = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rss = tree_peak_rss_kib(group.pid());
    group.stop(Duration::from_secs(10)).await;
    Ok(Measured {
        completed,
        elapsed: first.map(|f| end - f),
        cold: Vec::new(),
        rss,
        capped,
    })
}

async fn measure(ctx: Ctx<'_>, plan: &Plan<'_>) -> Measured {
    let name = plan.name;
    let mut cold = Vec::new();
    for run in 0..plan.cold_runs {
        match cold_start(ctx, plan.spec, name, run).await {
            Ok(d) => cold.push(d),
            Err(e) => say(format!("  {name} cold start run {run} failed: {e}")),
        }
    }
    cold.sort();
    let mut m = match throughput(ctx, plan).await {
        Ok(m) => m,
        Err(e) => {
            say(format!("  {name} throughput run failed: {e}"));
            Measured::default()
        }
    };
    m.cold = cold;
    m
}

pub(crate) async fn run(args: Args) -> Result<()> {
    let bin = match &args.worker_bin {
        Some(b) => b.clone(),
        None => procs::this_exe()?
            .parent()
            .map(|d| d.join("examples").join("echo_worker"))
            .ok_or("cannot locate the target directory")?,
    };
    if !bin.exists() {
        return Err(format!(
            "{} not found; build it with `cargo build --release -p runpod-examples --example echo_worker` \
             (`cargo xtask bench worker` does)",
            bin.display()
        )
        .into());
    }
    let python = if args.no_python {
        None
    } else {
        procs::python(args.python.as_deref())
    };
    // Finished jobs count in /health only while retained: keep them for the whole bench.
    let server = ServerProc::start(
        API_KEY,
        Duration::from_secs(1),
        Duration::from_secs(3600),
        None,
    )
    .await?;
    let http = raw::http()?;
    say(format!("# bench worker — {}", machine_line()));
    say(format!(
        "# no-op jobs queued in runpod-local (own process), then drained by one worker process at concurrency {}; \
         ours: {} jobs, Python: {} jobs or {} s, whichever ends first",
        args.concurrency, args.jobs, args.python_jobs, args.python_secs
    ));

    say(format!("running our worker ({}) ...", bin.display()));
    let ctx = Ctx {
        server: &server,
        http: &http,
    };
    let rust = Spec::Rust(bin.clone());
    let ours = measure(
        ctx,
        &Plan {
            spec: &rust,
            name: "rust",
            jobs: args.jobs,
            cold_runs: args.cold_runs,
            concurrency: args.concurrency,
            limit: Duration::from_secs(args.max_secs),
        },
    )
    .await;

    let theirs = match &python {
        Some(interpreter) => {
            say("running the Python worker (runpod 1.12.0) ...");
            let home =
                std::env::temp_dir().join(format!("runpod-bench-home-{}", std::process::id()));
            std::fs::create_dir_all(&home)?;
            let spec = Spec::Python {
                interpreter: interpreter.clone(),
                home: home.clone(),
            };
            let m = measure(
                ctx,
                &Plan {
                    spec: &spec,
                    name: "python",
                    jobs: args.python_jobs,
                    cold_runs: args.python_cold_runs,
                    concurrency: args.concurrency,
                    limit: Duration::from_secs(args.python_secs),
                },
            )
            .await;
            let _ = std::fs::remove_dir_all(&home);
            Some(m)
        }
        None => {
            say("Python worker skipped: no interpreter (set RUNPOD_PYTHON or create .venv)");
            None
        }
    };
    let server_rss = server.stop().await;

    let mut table = Table::new(&[
        "worker",
        "jobs done",
        "time s",
        "jobs/s",
        "cold start ms (median, min-max)",
        "peak RSS MB (process / tree)",
    ]);
    let rows = [
        ("echo_worker (runpod-serverless, Rust)", Some(&ours)),
        ("runpod 1.12.0 serverless.start (Python)", theirs.as_ref()),
    ];
    for (what, m) in rows {
        let Some(m) = m else { continue };
        table.row(vec![
            what.to_owned(),
            if m.capped {
                format!("{} (time cap)", m.completed)
            } else {
                m.completed.to_string()
            },
            num(m.elapsed.map(|e| e.as_secs_f64()), 2),
            num(m.jobs_per_sec(), 1),
            format!(
                "{} ({}-{}, n={})",
                num(m.cold_ms(median), 1),
                num(m.cold_ms(first), 1),
                num(m.cold_ms(last), 1),
                m.cold.len()
            ),
            format!("{} / {}", num(m.rss.0.map(mb), 1), num(m.rss.1.map(mb), 1)),
        ]);
    }
    say("");
    say(table.render());
    say(format!(
        "runpod-local peak RSS: {} MB",
        num(server_rss.map(mb), 1)
    ));
    say("");
    let mut targets = Targets::new();
    targets.at_least(
        "ours / Python jobs/s",
        ratio(
            ours.jobs_per_sec(),
            theirs.as_ref().and_then(Measured::jobs_per_sec),
        ),
        10.0,
        "x",
    );
    targets.at_most("our cold start (median)", ours.cold_ms(median), 50.0, " ms");
    targets.at_most("our peak RSS", ours.rss.0.map(mb), 20.0, " MB");
    say(targets.render());
    if targets.any_failed() {
        say("some targets were missed");
    }
    Ok(())
}
