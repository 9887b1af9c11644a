//! `bench lb`: runpod-local's load-balancing gateway. Requests/s and latency of a small JSON
//! route called directly on the worker and through the gateway (raw reqwest both), and our
//! client against a raw reqwest loop on the same gateway; `concurrency` requests in flight.
//!
//! The worker and the gateway run in this process; every load runs in a process of its own
//! (hidden `lb-load`), so that each client's CPU time per request is its own. The sides run
//! `rounds` times, interleaved; a single run on two shared cores moves by ±15 %, so the target
//! takes the median of the per-round ratios (ours over raw, run back to back) and every round
//! is printed.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use runpod_local::{LbLimits, LbWorker, RunningServer, Server};
use runpod_serverless::lb::LoadBalancer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::Result;
use crate::measure::{Latencies, closed_loop, cpu_time, machine_line, rate};
use crate::procs;
use crate::report::{Table, Targets, num, ratio, say};

const API_KEY: &str = "bench-key";
const BODY: &str = r#"{"n": 12}"#;
/// The load-balancing endpoint id the gateway serves.
const ENDPOINT: &str = "bench";
const ROUTE: &str = "/v1/square";

/// Flags of `bench lb`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Requests per run of each side.
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Requests, one at a time, for the gateway's added latency (unloaded p50).
    #[arg(long, default_value_t = 2_000)]
    latency_requests: u64,
    /// Time limit of each run, in seconds.
    #[arg(long, default_value_t = 30)]
    max_secs: u64,
    /// Timed runs of each side, interleaved (the order of ours and raw alternates by round);
    /// tables show the median run, the target the median of the per-round ratios.
    #[arg(long, default_value_t = 7)]
    rounds: usize,
}

/// Who sends the requests of one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Side {
    /// Raw reqwest straight to the worker.
    Direct,
    /// Raw reqwest through the gateway.
    Raw,
    /// Our `load_balancer` client through the gateway.
    Sdk,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Self::Direct => "raw reqwest -> worker",
            Self::Raw => "raw reqwest -> gateway -> worker",
            Self::Sdk => "our client -> gateway -> worker",
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Raw => "raw",
            Self::Sdk => "sdk",
        }
    }
}

/// Flags of the hidden `lb-load`: one load, in its own process.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LoadArgs {
    #[arg(long, value_enum)]
    side: Side,
    /// The worker's base URL (`http://127.0.0.1:PORT`).
    #[arg(long)]
    worker_url: String,
    /// The gateway's LB base URL template (with `{endpoint_id}`).
    #[arg(long)]
    lb_template: String,
    #[arg(long)]
    requests: u64,
    #[arg(long)]
    concurrency: usize,
    /// Untimed requests first (connections, allocator, lazy statics).
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    #[arg(long, default_value_t = 30)]
    max_secs: u64,
}

/// What `lb-load` prints (its last stdout line).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LoadResult {
    ok: u64,
    secs: f64,
    /// CPU time (user + system) of the load process during the timed requests.
    cpu_secs: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

impl LoadResult {
    fn per_sec(&self) -> f64 {
        rate(self.ok, Duration::from_secs_f64(self.secs))
    }

    /// Client CPU microseconds per request.
    fn cpu_us(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
        let n = self.ok as f64;
        (self.ok > 0).then_some(self.cpu_secs? * 1e6 / n)
    }
}

/// What `lb-serve` prints: where the worker and the gateway listen.
#[derive(Debug, Serialize, Deserialize)]
struct Listening {
    worker_url: String,
    lb_template: String,
}

async fn raw_call(http: reqwest::Client, url: Arc<str>) -> bool {
    let sent = http
        .post(&*url)
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        _ => false,
    }
}

async fn sdk_call(lb: LoadBalancer) -> bool {
    lb.post(ROUTE)
        .body(BODY, "application/json")
        .send()
        .await
        .is_ok()
}

/// One side's load at `requests` and `concurrency`: warm-up, then the timed requests.
async fn load_side(a: &LoadArgs, requests: u64) -> Result<(u64, Duration, Latencies)> {
    let limit = Duration::from_secs(a.max_secs);
    Ok(match a.side {
        Side::Direct | Side::Raw => {
            let http = crate::raw::http()?;
            let url: Arc<str> = if a.side == Side::Direct {
                format!("{}{ROUTE}", a.worker_url).into()
            } else {
                let base = a.lb_template.replace("{endpoint_id}", ENDPOINT);
                format!("{}{ROUTE}", base.trim_end_matches('/')).into()
            };
            let call = move || raw_call(http.clone(), url.clone());
            closed_loop(call, requests, a.concurrency, limit).await
        }
        Side::Sdk => {
            let lb = sdk_client(&a.lb_template)?;
            closed_loop(move || sdk_call(lb.clone()), requests, a.concurrency, limit).await
        }
    })
}

fn sdk_client(template: &str) -> Result<LoadBalancer> {
    let config = runpod_serverless::Config::builder()
        .with_api_key(API_KEY)
        .build()?;
    Ok(runpod_serverless::ServerlessClient::builder()
        .with_config(config)
        .with_lb_base_url(template)
        .build()?
        .load_balancer(ENDPOINT))
}

/// `lb-load`: one side's load in its own process; prints a [`LoadResult`].
pub(crate) async fn child_load(a: LoadArgs) -> Result<()> {
    if a.warmup > 0 {
        load_side(&a, a.warmup).await?;
    }
    let cpu_before = cpu_time();
    let (ok, elapsed, mut lat) = load_side(&a, a.requests).await?;
    let cpu_secs = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| (after - before).as_secs_f64());
    let result = LoadResult {
        ok,
        secs: elapsed.as_secs_f64(),
        cpu_secs,
        p50_ms: lat.percentile_ms(50.0),
        p99_ms: lat.percentile_ms(99.0),
    };
    say(serde_json::to_string(&result)?);
    Ok(())
}

/// The bench worker (`POST /v1/square`) and runpod-local's gateway in front of it, once the
/// gateway has seen the worker healthy.
async fn start_gateway() -> Result<(String, RunningServer)> {
    let worker = Router::new().route("/ping", get(|| async { "ok" })).route(
        ROUTE,
        post(|axum::Json(v): axum::Json<Value>| async move {
            let n = v["n"].as_i64().unwrap_or(0);
            axum::Json(json!({ "square": n * n }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let worker_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, worker).await });
    let server = Server::builder()
        .api_key(API_KEY)
        .lb_worker(LbWorker::new(ENDPOINT, &worker_url))
        .lb_limits(LbLimits::new().health_interval(Duration::from_millis(100)))
        .bind("127.0.0.1:0")
        .await?;
    let ready = Instant::now() + Duration::from_secs(10);
    while server
        .lb_counts()
        .first()
        .is_none_or(|(_, c)| c.healthy == 0)
    {
        if Instant::now() > ready {
            return Err("the bench worker never became healthy".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((worker_url, server))
}

/// `lb-serve`: the worker and the gateway alone, until stdin closes (to profile one client
/// process against them, e.g. `valgrind --tool=callgrind runpod-bench lb-load …`).
pub(crate) async fn serve() -> Result<()> {
    let (worker_url, server) = start_gateway().await?;
    say(serde_json::to_string(&Listening {
        worker_url,
        lb_template: server.lb_base_url_template(),
    })?);
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
    })
    .await??;
    server.shutdown().await;
    Ok(())
}

/// Runs one `lb-load` process.
async fn run_child(
    side: Side,
    listening: &Listening,
    requests: u64,
    concurrency: usize,
    warmup: u64,
    max_secs: u64,
) -> Result<LoadResult> {
    let mut cmd = Command::new(procs::this_exe()?);
    cmd.arg("lb-load")
        .args(["--side", side.flag()])
        .args(["--worker-url", &listening.worker_url])
        .args(["--lb-template", &listening.lb_template])
        .args(["--requests", &requests.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--warmup", &warmup.to_string()])
        .args(["--max-secs", &max_secs.to_string()]);
    procs::run_json(cmd, Duration::from_secs(max_secs * 2 + 30)).await
}

/// The median of `values` (upper median for an even count); `None` when empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

pub(crate) async fn run(args: Args) -> Result<()> {
    let (worker_url, server) = start_gateway().await?;
    let listening = Listening {
        worker_url,
        lb_template: server.lb_base_url_template(),
    };
    let rounds = args.rounds.max(1);
    say(format!("# bench lb — {}", machine_line()));
    say(format!(
        "# worker and runpod-local gateway in this process, each load in its own process; \
         {} requests per run, {} in flight, {rounds} interleaved rounds (+ {} warm-up requests per run)",
        args.requests,
        args.concurrency,
        args.requests / 10 + 64
    ));
    let warmup = args.requests / 10 + 64;
    let mut runs: [Vec<LoadResult>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut round_ratios = Vec::new();
    for round in 0..rounds {
        // Ours and raw back to back, their order alternating, so that a drift of the machine's
        // load favours neither.
        let order = if round % 2 == 0 {
            [Side::Direct, Side::Raw, Side::Sdk]
        } else {
            [Side::Direct, Side::Sdk, Side::Raw]
        };
        let mut this_round: [Option<f64>; 3] = [None; 3];
        let mut cpu: [Option<f64>; 3] = [None; 3];
        for side in order {
            let r = run_child(
                side,
                &listening,
                args.requests,
                args.concurrency,
                warmup,
                args.max_secs,
            )
            .await?;
            let i = side as usize;
            this_round[i] = Some(r.per_sec());
            cpu[i] = r.cpu_us();
            runs[i].push(r);
        }
        let r = ratio(
            this_round[Side::Sdk as usize],
            this_round[Side::Raw as usize],
        );
        if let Some(r) = r {
            round_ratios.push(r);
        }
        say(format!(
            "round {}: direct {}/s; gateway: raw {}/s ({} µs CPU/request), ours {}/s ({} µs); ours/raw {}",
            round + 1,
            num(this_round[0], 0),
            num(this_round[1], 0),
            num(cpu[1], 1),
            num(this_round[2], 0),
            num(cpu[2], 1),
            num(r, 3),
        ));
    }
    // The added latency, one request at a time: with 64 in flight a p50 is mostly queueing,
    // so it measures throughput rather than what the proxy adds to a request.
    say("running one at a time, direct and through the gateway ...");
    let one = |side| {
        run_child(
            side,
            &listening,
            args.latency_requests,
            1,
            64,
            args.max_secs,
        )
    };
    let direct1 = one(Side::Direct).await?.p50_ms;
    let via1 = one(Side::Raw).await?.p50_ms;
    server.shutdown().await;

    let mut table = Table::new(&[
        "side",
        "requests",
        "per second (median)",
        "min-max",
        "p50 ms",
        "p99 ms",
        "client CPU µs/request",
    ]);
    let mut medians: [Option<&LoadResult>; 3] = [None; 3];
    let mut cpu_medians: [Option<f64>; 3] = [None; 3];
    for side in [Side::Direct, Side::Raw, Side::Sdk] {
        let i = side as usize;
        let mut sorted: Vec<&LoadResult> = runs[i].iter().collect();
        sorted.sort_by(|a, b| a.per_sec().total_cmp(&b.per_sec()));
        let mid = sorted.get(sorted.len() / 2).copied();
        medians[i] = mid;
        cpu_medians[i] = median(runs[i].iter().filter_map(LoadResult::cpu_us).collect());
        table.row(vec![
            side.name().to_owned(),
            mid.map_or_else(|| "-".to_owned(), |r| r.ok.to_string()),
            num(mid.map(LoadResult::per_sec), 0),
            format!(
                "{}-{}",
                num(sorted.first().map(|r| r.per_sec()), 0),
                num(sorted.last().map(|r| r.per_sec()), 0)
            ),
            num(mid.and_then(|r| r.p50_ms), 3),
            num(mid.and_then(|r| r.p99_ms), 3),
            num(cpu_medians[i], 1),
        ]);
    }
    say("");
    say(table.render());
    say(format!(
        "one at a time: p50 {} ms direct, {} ms through the gateway",
        num(direct1, 3),
        num(via1, 3)
    ));
    let added = match (via1, direct1) {
        (Some(via), Some(direct)) => Some(via - direct),
        _ => None,
    };
    let p50 = |i: usize| medians[i].and_then(|r| r.p50_ms);
    let loaded = match (p50(1), p50(0)) {
        (Some(via), Some(direct)) => Some(via - direct),
        _ => None,
    };
    say(format!(
        "p50 difference at {} in flight (queueing included): {} ms",
        args.concurrency,
        num(loaded, 3)
    ));
    let spread = (
        round_ratios.iter().copied().reduce(f64::min),
        round_ratios.iter().copied().reduce(f64::max),
    );
    let ratio_of_rounds = median(round_ratios.clone());
    say(format!(
        "ours / raw on the gateway: {}x, the median of {} per-round ratios ({}x-{}x); ratio of the \
         median runs {}x; client CPU per request, ours / raw: {}x (median runs of each)",
        num(ratio_of_rounds, 3),
        round_ratios.len(),
        num(spread.0, 3),
        num(spread.1, 3),
        num(
            ratio(
                medians[2].map(LoadResult::per_sec),
                medians[1].map(LoadResult::per_sec)
            ),
            3
        ),
        num(ratio(cpu_medians[2], cpu_medians[1]), 2),
    ));
    let mut targets = Targets::new();
    targets.at_most(
        "gateway's added p50 latency (one at a time)",
        added,
        0.2,
        "ms",
    );
    targets.at_least(
        "our client / raw reqwest on the gateway (median of per-round ratios)",
        ratio_of_rounds,
        0.9,
        "x",
    );
    say(targets.render());
    if targets.any_failed() {
        say("some targets were missed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_value() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0]), Some(3.0));
        assert_eq!(median(vec![0.83, 1.08, 0.95]), Some(0.95));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(3.0));
    }
}
