//! `bench client`: submit-and-await throughput of (a) our SDK, (b) a raw reqwest loop making the
//! same requests, (c) the official Python SDK's `AsyncioEndpoint`, each in its own process
//! against one `runpod-local` process, with an instant raw worker in the bench process.

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use runpod_serverless::{Config, PollPolicy, ServerlessClient, WaitStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Result;
use crate::count::RequestCounter;
use crate::measure::{cpu_time, cpu_time_of, machine_line, mb, rate};
use crate::procs::{self, ServerProc};
use crate::raw::{self, Cadence, InstantWorker, Target};
use crate::report::{Table, Targets, num, ratio, say};

const API_KEY: &str = "bench-key";

/// Flags of `bench client`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Jobs per Rust client run (a) and (b).
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Jobs per Python run: the official client waits 1 s between polls, so 10 000 jobs would
    /// take minutes.
    #[arg(long, default_value_t = 2_000)]
    python_jobs: u64,
    /// Jobs in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Poll `/status` at this fixed interval (ms) in (a), (b) and (c′) instead of the SDK's
    /// default schedule. The official client (c) always waits 1 s.
    #[arg(long)]
    poll_ms: Option<u64>,
    /// Python interpreter with runpod==1.12.0 [default: $RUNPOD_PYTHON, else .venv/bin/python].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip the Python runs.
    #[arg(long)]
    no_python: bool,
    /// Time limit of each run, in seconds.
    #[arg(long, default_value_t = 120)]
    max_secs: u64,
    /// Each job takes this long in the worker (ms) before its result is posted. 0 (default) is
    /// an instant handler; with a few hundred ms the clients' wait policies decide the rate.
    #[arg(long, default_value_t = 0)]
    work_ms: u64,
    /// Timed runs of each client, interleaved (a, b, c, c′, a, …); the median by jobs/s is shown,
    /// and the targets take the median of the per-round ratios. Runs on two shared cores vary
    /// by ±15 %, hence seven.
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// Who answers the jobs: `inline`, runpod-local's in-process echo handler (the fixture costs
    /// the least CPU, so the clients' own costs decide), or `http`, a raw worker in the bench
    /// process speaking the worker protocol (job-take-batch + job-done) over loopback.
    #[arg(long, value_enum, default_value_t = Answerer::Inline)]
    worker: Answerer,
}

/// Who answers the client bench's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Answerer {
    Inline,
    Http,
}

/// Flags of the hidden per-process client runs (`client-sdk`, `client-raw`); the Python
/// script takes the same ones.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ChildArgs {
    #[arg(long)]
    base_url: String,
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    api_key: String,
    #[arg(long)]
    jobs: u64,
    #[arg(long)]
    concurrency: usize,
    /// Untimed jobs first (connections, allocator, lazy statics).
    #[arg(long)]
    warmup: u64,
    #[arg(long)]
    poll_ms: Option<u64>,
    #[arg(long)]
    max_secs: u64,
    /// Count the HTTP requests (a separate run: counting has a cost of its own).
    #[arg(long)]
    count_requests: bool,
}

impl ChildArgs {
    fn to_args(&self) -> Vec<String> {
        let mut v = vec![
            "--base-url".into(),
            self.base_url.clone(),
            "--endpoint".into(),
            self.endpoint.clone(),
            "--api-key".into(),
            self.api_key.clone(),
            "--jobs".into(),
            self.jobs.to_string(),
            "--concurrency".into(),
            self.concurrency.to_string(),
            "--warmup".into(),
            self.warmup.to_string(),
            "--max-secs".into(),
            self.max_secs.to_string(),
        ];
        if let Some(ms) = self.poll_ms {
            v.extend(["--poll-ms".into(), ms.to_string()]);
        }
        if self.count_requests {
            v.push("--count-requests".into());
        }
        v
    }
}

/// What a client process prints (last stdout line), Rust or Python.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChildResult {
    /// Timed jobs that completed with the right output.
    ok: u64,
    /// Timed jobs that failed (error or wrong output).
    errors: u64,
    /// Wall time of the timed jobs.
    secs: f64,
    /// `GET /status` requests during the timed jobs, when counted.
    status_polls: Option<u64>,
    /// Peak RSS of the client process (KiB), read from its own `/proc/self/status` at the end.
    peak_rss_kib: Option<u64>,
    /// CPU time (user + system) of the client process during the timed jobs.
    #[serde(default)]
    cpu_secs: Option<f64>,
    /// Whether the run hit `--max-secs`.
    timed_out: bool,
    /// CPU time of runpod-local and of the instant worker (the bench process) over the whole
    /// client process, warm-up included; filled in by the parent.
    #[serde(default)]
    server_cpu_secs: Option<f64>,
    #[serde(default)]
    worker_cpu_secs: Option<f64>,
    first_error: Option<String>,
}

/// Runs `jobs` calls of `job(i)` with `concurrency` in flight, within `limit`.
/// `job` returns the number of status polls it made (0 if it does not know).
async fn drive<F, Fut>(
    jobs: u64,
    concurrency: usize,
    limit: Duration,
    job: F,
) -> (ChildResult, Duration)
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<u64>> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let polls = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::OnceLock::new());
    let cpu_before = cpu_time();
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (next, ok, errors, polls, first_error, job) = (
            next.clone(),
            ok.clone(),
            errors.clone(),
            polls.clone(),
            first_error.clone(),
            job.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    break;
                }
                match job(i).await {
                    Ok(n) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        polls.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        let _ = first_error.set(e.to_string());
                    }
                }
            }
        });
    }
    let timed_out =
        tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err();
    tasks.abort_all();
    let elapsed = start.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| (after - before).as_secs_f64());
    let result = ChildResult {
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        secs: elapsed.as_secs_f64(),
        status_polls: Some(polls.load(Ordering::Relaxed)),
        peak_rss_kib: None,
        cpu_secs: cpu,
        timed_out,
        server_cpu_secs: None,
        worker_cpu_secs: None,
        first_error: first_error.get().cloned(),
    };
    (result, elapsed)
}

fn finish(mut result: ChildResult) {
    result.peak_rss_kib = crate::measure::peak_rss_kib(None);
    say(serde_json::to_string(&result).unwrap_or_default());
}

/// `client-sdk`: (a), our SDK — `endpoint.run(input).send()`, then `handle.await` (the default
/// `PollPolicy`, or a fixed one with `--poll-ms`).
pub(crate) async fn child_sdk(a: ChildArgs) -> Result<()> {
    let requests = a.count_requests.then(RequestCounter::install);
    let config = Config::builder()
        .with_api_key(a.api_key.clone())
        .with_serverless_base_url(format!("{}/v2", a.base_url))
        .build()?;
    // Polling, not long polls: the raw loop it is compared with sends the same requests.
    let poll = a
        .poll_ms
        .map_or_else(PollPolicy::default, |ms| {
            PollPolicy::fixed(Duration::from_millis(ms))
        })
        .with_wait_strategy(WaitStrategy::Poll);
    let client = ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(poll)
        .build()?;
    let endpoint = client.endpoint(a.endpoint.clone());
    let job = move |i: u64| {
        let endpoint = endpoint.clone();
        async move {
            let input = json!({ "i": i });
            let output: Value = endpoint.run(&input).send().await?.await?;
            check(&input, Some(output))?;
            Ok(0)
        }
    };
    let limit = Duration::from_secs(a.max_secs);
    drive(a.warmup, a.concurrency, limit, job.clone()).await;
    let before = requests.as_ref().map(RequestCounter::get);
    let (mut result, _) = drive(a.jobs, a.concurrency, limit, job).await;
    // Every job made one POST /run; the rest of the SDK's requests were status polls.
    result.status_polls = requests
        .zip(before)
        .map(|(r, before)| (r.get() - before).saturating_sub(result.ok + result.errors));
    finish(result);
    Ok(())
}

/// `client-raw`: (b), reqwest doing what the SDK does — `POST /run`, then `GET /status` on the
/// SDK's schedule ([`Cadence`]) until a terminal status.
pub(crate) async fn child_raw(a: ChildArgs) -> Result<()> {
    let http = raw::baseline_http()?;
    let target = Target {
        base_url: a.base_url.clone(),
        endpoint: a.endpoint.clone(),
        api_key: a.api_key.clone(),
    };
    let cadence = Cadence::from_flag(a.poll_ms);
    let job = move |i: u64| {
        let (http, target) = (http.clone(), target.clone());
        async move {
            let input = json!({ "i": i });
            let (output, polls) = raw::run_and_wait(&http, &target, &input, cadence).await?;
            check(&input, output)?;
            Ok(polls)
        }
    };
    let limit = Duration::from_secs(a.max_secs);
    drive(a.warmup, a.concurrency, limit, job.clone()).await;
    let (result, _) = drive(a.jobs, a.concurrency, limit, job).await;
    finish(result);
    Ok(())
}

/// The instant worker echoes the input: a job with another output is an error.
fn check(input: &Value, output: Option<Value>) -> Result<()> {
    if output.as_ref() == Some(input) {
        Ok(())
    } else {
        Err(format!("wrong output {output:?} for {input}").into())
    }
}

/// The clients compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sdk,
    Raw,
    PythonOfficial,
    PythonCadence,
}

impl Kind {
    const ALL: [Self; 4] = [
        Self::Sdk,
        Self::Raw,
        Self::PythonOfficial,
        Self::PythonCadence,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Sdk => "(a)",
            Self::Raw => "(b)",
            Self::PythonOfficial => "(c)",
            Self::PythonCadence => "(c')",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Sdk => "runpod-serverless (our SDK)",
            Self::Raw => "raw reqwest loop",
            Self::PythonOfficial => "runpod 1.12.0 AsyncioEndpoint, job.output()",
            Self::PythonCadence => "runpod 1.12.0 AsyncioEndpoint, polled like (a)",
        }
    }

    fn is_python(self) -> bool {
        matches!(self, Self::PythonOfficial | Self::PythonCadence)
    }

    /// Whether counting requests costs time in this client, so polls are counted in a run of
    /// their own (the raw loop counts with a plain integer in its timed run).
    fn counts_separately(self) -> bool {
        self != Self::Raw
    }
}

/// One client's runs.
#[derive(Debug)]
struct Row {
    kind: Kind,
    cadence: String,
    /// Timed runs, any order.
    runs: Vec<ChildResult>,
    /// The round of each of `runs`.
    rounds: Vec<usize>,
    /// Status polls per job, from the counting run (or the timed runs for the raw loop).
    polls_per_job: Option<f64>,
    /// Untimed warm-up jobs per run.
    warmup: u64,
}

fn jobs_per_sec(r: &ChildResult) -> f64 {
    rate(r.ok, Duration::from_secs_f64(r.secs))
}

impl Row {
    /// The median timed run by jobs/s.
    fn median(&self) -> Option<&ChildResult> {
        let mut runs: Vec<&ChildResult> = self.runs.iter().collect();
        runs.sort_by(|a, b| jobs_per_sec(a).total_cmp(&jobs_per_sec(b)));
        runs.get(runs.len() / 2).copied()
    }

    fn jobs_per_sec(&self) -> Option<f64> {
        self.median().map(jobs_per_sec)
    }

    fn spread(&self) -> Option<(f64, f64)> {
        let rates = self.runs.iter().map(jobs_per_sec);
        let min = rates.clone().reduce(f64::min)?;
        let max = rates.reduce(f64::max)?;
        Some((min, max))
    }

    /// jobs/s of the run in `round`.
    fn jobs_per_sec_in(&self, round: usize) -> Option<f64> {
        let i = self.rounds.iter().position(|&r| r == round)?;
        self.runs.get(i).map(jobs_per_sec)
    }

    /// Client CPU milliseconds per timed job (median run).
    fn cpu_per_job(&self) -> Option<f64> {
        let r = self.median()?;
        Some(r.cpu_secs? * 1000.0 / per_job_count(r)?)
    }

    /// runpod-local's and the instant worker's CPU milliseconds per job (median run, warm-up
    /// jobs counted).
    fn server_worker_cpu_per_job(&self) -> Option<(f64, f64)> {
        let r = self.median()?;
        #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
        let n = per_job_count(r)? + self.warmup as f64;
        Some((
            r.server_cpu_secs? * 1000.0 / n,
            r.worker_cpu_secs? * 1000.0 / n,
        ))
    }
}

/// Starts one client process on a fresh endpoint with its own instant worker.
async fn run_once(
    kind: Kind,
    child: ChildArgs,
    http: &reqwest::Client,
    python: Option<&PathBuf>,
    server_pid: u32,
    (limit, work, answerer): (Duration, Duration, Answerer),
) -> Result<ChildResult> {
    let target = Target {
        base_url: child.base_url.clone(),
        endpoint: child.endpoint.clone(),
        api_key: child.api_key.clone(),
    };
    let cmd = match (kind, python) {
        (Kind::Sdk, _) => rust_child("client-sdk", &child)?,
        (Kind::Raw, _) => rust_child("client-raw", &child)?,
        (_, Some(py)) => {
            let mut cmd = Command::new(py);
            cmd.arg(procs::python_script("client_bench.py"))
                .args(child.to_args())
                .args(Cadence::from_flag(child.poll_ms).python_args())
                .arg("--mode")
                .arg(if kind == Kind::PythonOfficial {
                    "official"
                } else {
                    "cadence"
                })
                .env("RUNPOD_ENDPOINT_BASE_URL", format!("{}/v2", child.base_url));
            cmd
        }
        (_, None) => return Err("no Python interpreter".into()),
    };
    let worker =
        (answerer == Answerer::Http).then(|| InstantWorker::start(http, &target, 4, 64, work));
    let cpu_before = (cpu_time_of(Some(server_pid)), cpu_time());
    let result: Result<ChildResult> = procs::run_json(cmd, limit).await;
    let cpu_after = (cpu_time_of(Some(server_pid)), cpu_time());
    if let Some(worker) = worker {
        worker.stop().await;
    }
    let mut r = result?;
    let spent = |after: Option<Duration>, before: Option<Duration>| {
        after
            .zip(before)
            .map(|(a, b)| a.saturating_sub(b).as_secs_f64())
    };
    r.server_cpu_secs = spent(cpu_after.0, cpu_before.0);
    r.worker_cpu_secs = spent(cpu_after.1, cpu_before.1);
    if let Some(e) = &r.first_error {
        say(format!(
            "  {} errors: {} (first: {e})",
            kind.label(),
            r.errors
        ));
    }
    Ok(r)
}

pub(crate) async fn run(args: Args) -> Result<()> {
    // Clients read each result within milliseconds (at most 2 s after it is there); a short
    // retention keeps the server's job map small, so later runs do not pay for earlier ones.
    let work = Duration::from_millis(args.work_ms);
    let echo = (args.worker == Answerer::Inline).then_some(work);
    let server = ServerProc::start(
        API_KEY,
        Duration::from_secs(1),
        Duration::from_secs(10),
        echo,
    )
    .await?;
    let http = raw::http()?;
    let python = if args.no_python {
        None
    } else {
        procs::python(args.python.as_deref())
    };
    let cadence = match args.poll_ms {
        Some(ms) => format!("fixed {ms} ms"),
        None => format!("SDK default: {}", Cadence::sdk_default().describe()),
    };
    say(format!("# bench client — {}", machine_line()));
    say(format!(
        "# {} jobs (Python: {}) submitted with /run and awaited, {} in flight, {} timed run(s) each + 1 counted run; \
         each client in its own process; runpod-local in its own process; jobs answered by {}, {} per job",
        args.jobs,
        args.python_jobs,
        args.concurrency,
        args.rounds,
        match args.worker {
            Answerer::Inline => "runpod-local's in-process echo handler (--worker inline)",
            Answerer::Http => {
                "a raw worker in the bench process (job-take-batch + job-done, 4 loops; --worker http)"
            }
        },
        if args.work_ms == 0 {
            "answering at once".to_owned()
        } else {
            format!("answering after {} ms", args.work_ms)
        }
    ));
    if python.is_none() {
        say("# Python clients skipped: no interpreter (set RUNPOD_PYTHON or create .venv)");
    }
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| !k.is_python() || python.is_some())
        .collect();
    let mut rows: Vec<Row> = Kind::ALL
        .into_iter()
        .map(|kind| Row {
            kind,
            cadence: if kind == Kind::PythonOfficial {
                "official: 0, then 1 s".to_owned()
            } else {
                cadence.clone()
            },
            runs: Vec::new(),
            rounds: Vec::new(),
            polls_per_job: None,
            warmup: args.concurrency as u64,
        })
        .collect();
    let limit = Duration::from_secs(args.max_secs + 60);
    let setup = (limit, work, args.worker);
    let mut endpoint_n = 0;
    let mut child_for = |kind: Kind, count: bool| {
        endpoint_n += 1;
        ChildArgs {
            base_url: server.base_url().to_owned(),
            endpoint: format!("client-{endpoint_n}"),
            api_key: API_KEY.to_owned(),
            jobs: if kind.is_python() {
                args.python_jobs
            } else {
                args.jobs
            },
            concurrency: args.concurrency,
            warmup: args.concurrency as u64,
            poll_ms: args.poll_ms,
            max_secs: args.max_secs,
            count_requests: count,
        }
    };
    for round in 0..args.rounds {
        for &kind in &kinds {
            say(format!(
                "round {}/{}: {} {} ...",
                round + 1,
                args.rounds,
                kind.label(),
                kind.what()
            ));
            let child = child_for(kind, !kind.counts_separately());
            match run_once(kind, child, &http, python.as_ref(), server.pid(), setup).await {
                Ok(r) => {
                    rows[kind as usize].runs.push(r);
                    rows[kind as usize].rounds.push(round);
                }
                Err(e) => say(format!("  {} failed: {e}", kind.label())),
            }
        }
    }
    for &kind in &kinds {
        let counted: Vec<ChildResult> = if kind.counts_separately() {
            say(format!("counting requests: {} ...", kind.label()));
            let child = child_for(kind, true);
            match run_once(kind, child, &http, python.as_ref(), server.pid(), setup).await {
                Ok(r) => vec![r],
                Err(e) => {
                    say(format!("  {} failed: {e}", kind.label()));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let row = &mut rows[kind as usize];
        let source = if kind.counts_separately() {
            &counted
        } else {
            &row.runs
        };
        let polls: u64 = source.iter().filter_map(|r| r.status_polls).sum();
        let jobs: u64 = source.iter().map(|r| r.ok + r.errors).sum();
        row.polls_per_job = per_job(polls, jobs);
    }
    let server_rss = server.stop().await;

    let mut table = Table::new(&[
        "",
        "client",
        "jobs ok",
        "errors",
        "time s",
        "jobs/s (median)",
        "jobs/s min-max",
        "status polls/job",
        "client CPU ms/job",
        "server + worker CPU ms/job",
        "peak RSS MB",
        "poll cadence",
    ]);
    for row in &rows {
        let r = row.median();
        let timed_out = row.runs.iter().any(|r| r.timed_out);
        table.row(vec![
            row.kind.label().to_owned(),
            row.kind.what().to_owned(),
            r.map_or("-".into(), |r| r.ok.to_string()),
            r.map_or("-".into(), |r| r.errors.to_string()),
            num(r.map(|r| r.secs), 2),
            num(row.jobs_per_sec(), 0),
            row.spread()
                .map_or("-".into(), |(lo, hi)| format!("{lo:.0}-{hi:.0}")),
            num(row.polls_per_job, 2),
            num(row.cpu_per_job(), 3),
            row.server_worker_cpu_per_job()
                .map_or("-".into(), |(s, w)| format!("{s:.3} + {w:.3}")),
            num(
                row.runs.iter().filter_map(|r| r.peak_rss_kib).max().map(mb),
                1,
            ),
            if timed_out {
                format!("{} (TIMED OUT)", row.cadence)
            } else {
                row.cadence.clone()
            },
        ]);
    }
    say("");
    say(table.render());
    say(format!(
        "runpod-local peak RSS: {} MB",
        num(server_rss.map(mb), 1)
    ));
    say("");
    let [a, b, c, c2] = [0, 1, 2, 3].map(|i| rows[i].jobs_per_sec());
    let [cpu_a, cpu_b, cpu_c, cpu_c2] = [0, 1, 2, 3].map(|i| rows[i].cpu_per_job());
    let (ab, ac) = (
        paired_ratio(&rows[0], &rows[1]),
        paired_ratio(&rows[0], &rows[2]),
    );
    let mut targets = Targets::new();
    targets.at_least("(a) / (b) jobs/s", ab.map(|r| r.0), 0.9, "x");
    targets.at_least("(a) / (c) jobs/s", ac.map(|r| r.0), 5.0, "x");
    say(targets.render());
    let spread = |r: Option<(f64, f64, f64)>| {
        r.map_or("-".to_owned(), |(_, lo, hi)| format!("{lo:.2}-{hi:.2}x"))
    };
    say(format!(
        "ratios are medians of the per-round ratios (each round runs the clients back to back); \
         per-round (a) / (b): {}, (a) / (c): {}; ratio of the median rows: (a) / (b) {}x, (a) / (c) {}x",
        spread(ab),
        spread(ac),
        num(ratio(a, b), 2),
        num(ratio(a, c), 2),
    ));
    say(format!(
        "for reference: (a) / (c') jobs/s = {}x (Python polled on (a)'s schedule); client CPU per job: \
         (c) / (a) = {}x, (c') / (a) = {}x, (b) / (a) = {}x",
        num(ratio(a, c2), 2),
        num(ratio(cpu_c, cpu_a), 2),
        num(ratio(cpu_c2, cpu_a), 2),
        num(ratio(cpu_b, cpu_a), 2),
    ));
    say(
        "note: jobs/s is bounded by the machine's cores, shared by runpod-local, the instant worker and the client, \
         and by the poll cadence; client CPU per job is the client's own cost",
    );
    if targets.any_failed() {
        say("some targets were missed");
    }
    Ok(())
}

/// The ratio of `a`'s jobs/s to `b`'s within each round both ran: the median, the lowest and
/// the highest. Runs of one round are back to back, so a ratio within a round cancels the
/// machine's slower drifts (other load, frequency), which a ratio of the two medians does not.
fn paired_ratio(a: &Row, b: &Row) -> Option<(f64, f64, f64)> {
    let mut ratios: Vec<f64> = a
        .rounds
        .iter()
        .filter_map(|&round| ratio(a.jobs_per_sec_in(round), b.jobs_per_sec_in(round)))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = *ratios.get(ratios.len() / 2)?;
    Some((median, *ratios.first()?, *ratios.last()?))
}

fn per_job_count(r: &ChildResult) -> Option<f64> {
    #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    let n = (r.ok + r.errors) as f64;
    (n > 0.0).then_some(n)
}

fn per_job(polls: u64, jobs: u64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    (jobs > 0).then(|| polls as f64 / jobs as f64)
}

fn rust_child(sub: &str, child: &ChildArgs) -> Result<Command> {
    let mut cmd = Command::new(procs::this_exe()?);
    cmd.arg(sub).args(child.to_args());
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: Kind, runs: &[(usize, u64)]) -> Row {
        Row {
            kind,
            cadence: String::new(),
            runs: runs
                .iter()
                .map(|&(_, ok)| ChildResult {
                    ok,
                    errors: 0,
                    secs: 1.0,
                    status_polls: None,
                    peak_rss_kib: None,
                    cpu_secs: None,
                    timed_out: false,
                    server_cpu_secs: None,
                    worker_cpu_secs: None,
                    first_error: None,
                })
                .collect(),
            rounds: runs.iter().map(|&(round, _)| round).collect(),
            polls_per_job: None,
            warmup: 0,
        }
    }

    #[test]
    fn ratios_pair_runs_of_the_same_round() {
        // Round 1 of (b) failed: its (a) run has no partner and is left out.
        let a = row(Kind::Sdk, &[(0, 90), (1, 500), (2, 180), (3, 95)]);
        let b = row(Kind::Raw, &[(0, 100), (2, 200), (3, 100)]);
        let (median, lo, hi) = paired_ratio(&a, &b).unwrap();
        assert!((median - 0.9).abs() < 1e-9, "{median}");
        assert!(
            (lo - 0.9).abs() < 1e-9 && (hi - 0.95).abs() < 1e-9,
            "{lo} {hi}"
        );
        // The ratio of the medians would mix rounds: 180 / 100.
        assert!((ratio(a.jobs_per_sec(), b.jobs_per_sec()).unwrap() - 1.8).abs() < 1e-9);
        assert!(paired_ratio(&a, &row(Kind::Raw, &[])).is_none());
    }
}
