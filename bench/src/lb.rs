//! `bench lb`: runpod-local's load-balancing gateway. Requests/s and latency of a small JSON
//! route called directly on the worker and through the gateway (raw reqwest both), and our
//! client against a raw reqwest loop on the same gateway; `concurrency` requests in flight.
//!
//! Worker, gateway and load generators share this process (one runtime): the numbers are
//! indicative, comparable with each other, and best read on a quiet machine.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use runpod_local::{LbLimits, LbWorker, Server};
use runpod_serverless::lb::LoadBalancer;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Result;
use crate::measure::{Latencies, machine_line, rate};
use crate::report::{Table, Targets, num, ratio, say};

const API_KEY: &str = "bench-key";
const BODY: &str = r#"{"n": 12}"#;

/// Flags of `bench lb`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Requests per measured side.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Requests, one at a time, for the gateway's added latency (unloaded p50).
    #[arg(long, default_value_t = 2_000)]
    latency_requests: u64,
    /// Time limit of each side, in seconds.
    #[arg(long, default_value_t = 30)]
    max_secs: u64,
}

/// `requests` calls of `call` with `concurrency` in flight; (done, elapsed, latencies).
async fn load<F, Fut>(
    call: F,
    requests: u64,
    concurrency: usize,
    limit: Duration,
) -> (u64, Duration, Latencies)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + limit;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (call, next) = (call.clone(), next.clone());
        tasks.spawn(async move {
            let mut lat = Latencies::default();
            let mut ok = 0u64;
            while next.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
                let sent = Instant::now();
                if call().await {
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
    lb.post("/v1/square")
        .body(BODY, "application/json")
        .send()
        .await
        .is_ok()
}

pub(crate) async fn run(args: Args) -> Result<()> {
    let worker = Router::new().route("/ping", get(|| async { "ok" })).route(
        "/v1/square",
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
        .lb_worker(LbWorker::new("bench", &worker_url))
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

    say(format!("# bench lb — {}", machine_line()));
    say(format!(
        "# worker, runpod-local gateway and load generators in one process; {} requests in flight",
        args.concurrency
    ));
    let limit = Duration::from_secs(args.max_secs);
    let http = crate::raw::http()?;
    let direct: Arc<str> = format!("{worker_url}/v1/square").into();
    let via: Arc<str> = format!("{}/v1/square", server.lb_url("bench")).into();
    let config = runpod_serverless::Config::builder()
        .with_api_key(API_KEY)
        .build()?;
    let lb = runpod_serverless::ServerlessClient::builder()
        .with_config(config)
        .with_lb_base_url(server.lb_base_url_template())
        .build()?
        .load_balancer("bench");

    let mut rows = Vec::new();
    let sides: [(&str, u8); 3] = [
        ("raw reqwest -> worker", 0),
        ("raw reqwest -> gateway -> worker", 1),
        ("our client -> gateway -> worker", 2),
    ];
    for (name, side) in sides {
        say(format!("running {name} ..."));
        let run = |n: u64| {
            let (http, direct, via, lb) = (http.clone(), direct.clone(), via.clone(), lb.clone());
            async move {
                match side {
                    0 => {
                        load(
                            move || raw_call(http.clone(), direct.clone()),
                            n,
                            args.concurrency,
                            limit,
                        )
                        .await
                    }
                    1 => {
                        load(
                            move || raw_call(http.clone(), via.clone()),
                            n,
                            args.concurrency,
                            limit,
                        )
                        .await
                    }
                    _ => load(move || sdk_call(lb.clone()), n, args.concurrency, limit).await,
                }
            }
        };
        run(args.requests / 10 + 64).await; // warm-up: open the connections
        let (done, elapsed, lat) = run(args.requests).await;
        rows.push((name, done, elapsed, lat));
    }
    // The added latency, one request at a time: with 64 in flight a p50 is mostly queueing,
    // so it measures throughput rather than what the proxy adds to a request.
    say("running one at a time, direct and through the gateway ...");
    let (http1, direct1, via1) = (http.clone(), direct.clone(), via.clone());
    let (_, _, mut direct_lat) = load(
        move || raw_call(http1.clone(), direct1.clone()),
        args.latency_requests,
        1,
        limit,
    )
    .await;
    let http1 = http.clone();
    let (_, _, mut via_lat) = load(
        move || raw_call(http1.clone(), via1.clone()),
        args.latency_requests,
        1,
        limit,
    )
    .await;
    server.shutdown().await;

    let mut table = Table::new(&["side", "requests", "per second", "p50 ms", "p99 ms"]);
    let mut p50 = Vec::new();
    let mut rps = Vec::new();
    for (name, done, elapsed, mut lat) in rows {
        let p = lat.percentile_ms(50.0);
        p50.push(p);
        rps.push(Some(rate(done, elapsed)));
        table.row(vec![
            name.to_owned(),
            done.to_string(),
            num(Some(rate(done, elapsed)), 0),
            num(p, 3),
            num(lat.percentile_ms(99.0), 3),
        ]);
    }
    say("");
    say(table.render());
    let (direct1, via1) = (direct_lat.percentile_ms(50.0), via_lat.percentile_ms(50.0));
    say(format!(
        "one at a time: p50 {} ms direct, {} ms through the gateway",
        num(direct1, 3),
        num(via1, 3)
    ));
    let added = match (via1, direct1) {
        (Some(via), Some(direct)) => Some(via - direct),
        _ => None,
    };
    let loaded = match (p50[1], p50[0]) {
        (Some(via), Some(direct)) => Some(via - direct),
        _ => None,
    };
    say(format!(
        "p50 difference at {} in flight (queueing included): {} ms",
        args.concurrency,
        num(loaded, 3)
    ));
    let mut targets = Targets::new();
    targets.at_most(
        "gateway's added p50 latency (one at a time)",
        added,
        0.2,
        "ms",
    );
    targets.at_least(
        "our client / raw reqwest on the gateway",
        ratio(rps[2], rps[1]),
        0.9,
        "x",
    );
    say(targets.render());
    Ok(())
}
