//! `bench wait`: what waiting costs. Jobs of a few durations, many in flight, each client in its
//! own process against runpod-local's in-process handler; per row: HTTP requests per job (the
//! `/run` included), the time from the job's end on the server to the caller holding its output
//! (p50, p99), and the client's CPU per job.
//!
//! The handler stamps its output with the wall-clock time it finished (`done_at_us`), and each
//! client subtracts it from its own clock when the output is in hand: the server and the clients
//! share the machine's clock, so the difference is the completion-to-caller latency whatever the
//! client's language.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use runpod_serverless::{
    Config, HttpVersion, PollPolicy, RateLimits, ServerlessClient, WaitStrategy,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Result;
use crate::count::RequestCounter;
use crate::measure::cpu_time;
use crate::procs::{ServerProc, python, python_script, run_json, this_exe};
use crate::report::{Table, say};

const API_KEY: &str = "bench-wait-key";
const ENDPOINT: &str = "bench-wait";

/// Every client row, in table order.
const CLIENTS: [&str; 7] = [
    "auto",
    "auto-h1",
    "auto-run",
    "poll",
    "python",
    "js",
    "js-runsync",
];

/// Flags of `bench wait`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Job durations (ms), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 1_000, 10_000])]
    work_ms: Vec<u64>,
    /// Jobs in flight (all submitted at once), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [64, 1_024])]
    in_flight: Vec<u64>,
    /// Clients to run: any of `auto` (ours, `run_sync`), `auto-h1` (the same over HTTP/1.1),
    /// `auto-run` (ours, `run` + `.await`), `poll` (ours, `run` + `.await`, polling), `python`,
    /// `js` (`run` + `statusSync`), `js-runsync` (`runSync`). Ours speak HTTP/2 (by prior
    /// knowledge, as they do over TLS to api.runpod.ai by negotiation) but for `auto-h1`.
    #[arg(long, value_delimiter = ',', default_values_t = CLIENTS.map(str::to_owned))]
    clients: Vec<String>,
    /// The Python interpreter with runpod==1.12.0 (default: $RUNPOD_PYTHON, then .venv).
    #[arg(long)]
    python: Option<PathBuf>,
    /// A directory whose `node_modules` holds `runpod-sdk@1.1.2` (e.g. after
    /// `npm install --prefix DIR runpod-sdk@1.1.2`); default: $RUNPOD_JS_SDK_DIR.
    #[arg(long)]
    js_sdk_dir: Option<PathBuf>,
    /// Instead of the table: this many one-second jobs in flight from one process (ours, auto)
    /// against a server enforcing Runpod's documented rate limits (429 beyond them), with
    /// the client's limiter set to the same limits.
    #[arg(long)]
    scale: Option<u64>,
    /// The HTTP version of `--scale`'s client: `2` (by prior knowledge) or `1.1`.
    #[arg(long, default_value = "2")]
    http: String,
    /// Upper bound of one client run, in seconds.
    #[arg(long, default_value_t = 300)]
    max_secs: u64,
}

/// Flags of the hidden `wait-sdk` child.
#[derive(Debug, clap::Args)]
pub(crate) struct ChildArgs {
    #[arg(long)]
    base_url: String,
    #[arg(long)]
    jobs: u64,
    /// `auto` or `poll`.
    #[arg(long)]
    strategy: String,
    /// `run-sync`: `endpoint.run_sync(input).await` (`/runsync?wait=`, then long polls if the
    /// hold runs out); `run`: `endpoint.run(input).await?.await` (`/run`, then the wait).
    #[arg(long, default_value = "run-sync")]
    entry: String,
    /// `2` or `1.1`.
    #[arg(long, default_value = "2")]
    http: String,
    /// Apply Runpod's documented limits in the client (the default applies them to
    /// api.runpod.ai only).
    #[arg(long)]
    runpod_limits: bool,
}

/// What every client process prints (last stdout line).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ChildResult {
    ok: u64,
    errors: u64,
    requests: Option<u64>,
    /// Completion-to-caller latencies, µs, one per finished job.
    latencies_us: Vec<i64>,
    cpu_secs: Option<f64>,
    /// Errors that were a 429 (rate limited) when they reached the caller.
    #[serde(default)]
    rate_limited: u64,
    /// Connection lanes our client opened (HTTP/2: one per `streams_per_connection` in flight).
    #[serde(default)]
    lanes: Option<usize>,
    first_error: Option<String>,
}

#[allow(
    clippy::disallowed_methods,
    reason = "the latency is measured across processes and languages: only the wall clock is shared"
)]
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The handler's stamp in an output.
fn latency_of(output: &Value) -> Option<i64> {
    Some(now_us() - output.get("done_at_us")?.as_i64()?)
}

/// The server-side handler: sleeps `work`, then answers with its input and the time it ended.
pub(crate) fn stamped_handler(
    work: Duration,
) -> impl Fn(Value) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>
+ Send
+ Sync
+ 'static {
    move |input| {
        Box::pin(async move {
            tokio::time::sleep(work).await;
            Ok(json!({ "input": input, "done_at_us": now_us() }))
        })
    }
}

/// `wait-sdk`: our client, every job at once, through `endpoint.run_sync(input).await` (the
/// call that runs a job and hands back its output) or `endpoint.run(input).await?.await`.
pub(crate) async fn child_sdk(a: ChildArgs) -> Result<()> {
    let requests = RequestCounter::install();
    let run_sync = match a.entry.as_str() {
        "run-sync" => true,
        "run" => false,
        other => return Err(format!("unknown entry `{other}`").into()),
    };
    let strategy = match a.strategy.as_str() {
        "poll" => WaitStrategy::Poll,
        _ => WaitStrategy::Auto,
    };
    let http: HttpVersion = a.http.parse()?;
    let config = Config::builder()
        .with_api_key(API_KEY)
        .with_serverless_base_url(format!("{}/v2", a.base_url))
        .with_http_version(http)
        .build()?;
    let mut client = ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(PollPolicy::default().with_wait_strategy(strategy));
    if a.runpod_limits {
        client = client.with_rate_limits(RateLimits::runpod());
    }
    let client = client.build()?;
    let endpoint = client.endpoint(ENDPOINT);
    let cpu_before = cpu_time();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..a.jobs {
        let endpoint = endpoint.clone();
        tasks.spawn(async move {
            let input = json!({ "i": i });
            let output: Value = if run_sync {
                endpoint.run_sync(input).await?
            } else {
                endpoint.run(input).await?.await?
            };
            latency_of(&output).ok_or_else(|| {
                runpod_serverless::Error::invalid_input(format!("unstamped output {output}"))
            })
        });
    }
    let mut result = ChildResult::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(latency)) => {
                result.ok += 1;
                result.latencies_us.push(latency);
            }
            Ok(Err(e)) => {
                result.errors += 1;
                result.rate_limited += u64::from(e.is_rate_limited());
                result.first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    result.cpu_secs = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| (after - before).as_secs_f64());
    result.requests = Some(requests.get());
    result.lanes = Some(client.http().lanes_opened());
    say(serde_json::to_string(&result)?);
    Ok(())
}

fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list"
    )]
    let at = (((sorted.len() - 1) as f64) * p).round() as usize;
    #[allow(clippy::cast_precision_loss, reason = "µs to ms for display")]
    Some(sorted[at.min(sorted.len() - 1)] as f64 / 1000.0)
}

fn client_command(which: &str, base_url: &str, jobs: u64, args: &Args) -> Result<Option<Command>> {
    Ok(match which {
        "auto" | "auto-h1" | "auto-run" | "poll" => {
            let (strategy, entry, http) = match which {
                "auto" => ("auto", "run-sync", "2"),
                "auto-h1" => ("auto", "run-sync", "1.1"),
                "auto-run" => ("auto", "run", "2"),
                _ => ("poll", "run", "2"),
            };
            let mut cmd = Command::new(this_exe()?);
            cmd.arg("wait-sdk")
                .args(["--base-url", base_url, "--strategy", strategy])
                .args(["--entry", entry, "--jobs", &jobs.to_string()])
                .args(["--http", http]);
            Some(cmd)
        }
        "python" => python(args.python.as_deref()).map(|py| {
            let mut cmd = Command::new(py);
            cmd.arg(python_script("wait_bench.py"))
                .args([
                    "--base-url",
                    base_url,
                    "--endpoint",
                    ENDPOINT,
                    "--api-key",
                    API_KEY,
                ])
                .args(["--jobs", &jobs.to_string()]);
            cmd
        }),
        "js" | "js-runsync" => {
            let dir = args
                .js_sdk_dir
                .clone()
                .or_else(|| std::env::var_os("RUNPOD_JS_SDK_DIR").map(PathBuf::from));
            dir.filter(|d| d.join("node_modules/runpod-sdk").exists())
                .map(|dir| {
                    let mut cmd = Command::new("node");
                    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js/wait_bench.mjs"))
                        .env("NODE_PATH", dir.join("node_modules"))
                        .args([
                            "--base-url",
                            base_url,
                            "--endpoint",
                            ENDPOINT,
                            "--api-key",
                            API_KEY,
                        ])
                        .args(["--jobs", &jobs.to_string()]);
                    if which == "js-runsync" {
                        cmd.arg("--runsync");
                    }
                    cmd
                })
        }
        other => return Err(format!("unknown client `{other}`").into()),
    })
}

fn label(which: &str) -> &'static str {
    match which {
        "auto" => "ours (auto): run_sync",
        "auto-h1" => "ours (auto): run_sync, HTTP/1.1",
        "auto-run" => "ours (auto): run + await",
        "poll" => "ours (poll): run + await",
        "python" => "runpod 1.12.0 (Python): run + output",
        "js" => "runpod-sdk 1.1.2 (JS): run + statusSync",
        "js-runsync" => "runpod-sdk 1.1.2 (JS): runSync",
        _ => "?",
    }
}

/// `--scale N`: N one-second jobs in flight from one process (`run_sync`, as the `auto` row),
/// under Runpod's limits on both sides.
async fn scale(jobs: u64, args: &Args) -> Result<()> {
    let server = ServerProc::start_stamped(API_KEY, Duration::from_secs(1), true).await?;
    let mut cmd = Command::new(this_exe()?);
    cmd.arg("wait-sdk")
        .args(["--base-url", server.base_url(), "--strategy", "auto"])
        .args(["--jobs", &jobs.to_string(), "--runpod-limits"])
        .args(["--http", &args.http]);
    let result: Result<ChildResult> = run_json(cmd, Duration::from_secs(args.max_secs)).await;
    server.stop().await;
    let mut r = result?;
    r.latencies_us.sort_unstable();
    #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
    let per_job = r.requests.map(|n| n as f64 / jobs.max(1) as f64);
    say(format!(
        "{jobs} one-second jobs in flight through `run_sync`, Runpod's limits enforced by the server (429 beyond \
         them) and applied by the client, HTTP/{http}: {ok}/{jobs} outputs returned, {errors} errors \
         ({limited} of them 429s), {per_job} requests per job, completion-to-caller p50 {p50} ms, \
         {lanes} connection lanes",
        ok = r.ok,
        errors = r.errors,
        limited = r.rate_limited,
        http = args.http,
        lanes = r.lanes.map_or_else(|| "–".to_owned(), |n| n.to_string()),
        per_job = per_job.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}")),
        p50 =
            percentile(&r.latencies_us, 0.5).map_or_else(|| "–".to_owned(), |v| format!("{v:.1}")),
    ));
    if let Some(e) = &r.first_error {
        say(format!("first error: {e}"));
    }
    if r.ok != jobs || r.rate_limited > 0 {
        return Err("not every output came back without a 429".into());
    }
    Ok(())
}

pub(crate) async fn run(args: Args) -> Result<()> {
    if let Some(jobs) = args.scale {
        return scale(jobs, &args).await;
    }
    let mut table = Table::new(&[
        "job",
        "in flight",
        "client",
        "ok",
        "requests/job",
        "p50 ms",
        "p99 ms",
        "CPU ms/job",
    ]);
    for &work_ms in &args.work_ms {
        for &in_flight in &args.in_flight {
            for which in &args.clients {
                // A server per row: each client starts from an empty queue.
                let server =
                    ServerProc::start_stamped(API_KEY, Duration::from_millis(work_ms), false)
                        .await?;
                let cmd = client_command(which, server.base_url(), in_flight, &args)?;
                let Some(cmd) = cmd else {
                    say(format!("skipped {}: not installed", label(which)));
                    server.stop().await;
                    continue;
                };
                let result: Result<ChildResult> =
                    run_json(cmd, Duration::from_secs(args.max_secs)).await;
                server.stop().await;
                let mut r = match result {
                    Ok(r) => r,
                    Err(e) => {
                        say(format!("{} failed: {e}", label(which)));
                        continue;
                    }
                };
                if let Some(e) = &r.first_error {
                    say(format!("{}: {} errors, first: {e}", label(which), r.errors));
                }
                r.latencies_us.sort_unstable();
                #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
                let per_job = |x: f64| if r.ok > 0 { x / r.ok as f64 } else { f64::NAN };
                let fmt = |v: Option<f64>, digits: usize| {
                    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
                };
                #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
                let requests = r.requests.map(|n| per_job(n as f64));
                table.row(vec![
                    format!("{work_ms} ms"),
                    in_flight.to_string(),
                    label(which).to_owned(),
                    format!("{}/{in_flight}", r.ok),
                    fmt(requests, 2),
                    fmt(percentile(&r.latencies_us, 0.5), 1),
                    fmt(percentile(&r.latencies_us, 0.99), 1),
                    fmt(r.cpu_secs.map(|s| per_job(s * 1000.0)), 3),
                ]);
                say(format!(
                    "done: {work_ms} ms, {in_flight} in flight, {}",
                    label(which)
                ));
            }
        }
    }
    say(table.render());
    say(
        "Indicative: one machine, loopback; CPU is the client process's user + system time. \
         Each row names the calls it makes: `run_sync` (ours) and `runSync` (JS) submit with \
         /runsync?wait= and long-poll /status-sync only if the hold runs out; `run + …` submit \
         with /run and then wait. Ours speak HTTP/2 (prior knowledge) unless the row says \
         HTTP/1.1; Python's and JS's clients speak HTTP/1.1.",
    );
    Ok(())
}
