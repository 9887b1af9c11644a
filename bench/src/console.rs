//! `bench local --console`: what one open console page costs runpod-local.
//!
//! The page is simulated as the real one behaves: one live feed (`GET /_local/v1/events`, read
//! as it comes) and the first page of the job list fetched every second. The run → take → done
//! cycle is measured in rounds with and without the page, alternating which goes first (ABBA),
//! on one server; the ratio of the median rates is the page's cost. Target: at most 5 % fewer
//! jobs per second with the page open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Result;
use crate::measure::cpu_time_of;
use crate::procs::ServerProc;
use crate::raw::{self, InstantWorker, Target};
use crate::report::{Table, num, say};

/// The most throughput one open page may cost.
const BUDGET: f64 = 0.05;

/// One simulated console page.
struct Page {
    tasks: JoinSet<()>,
    feed_bytes: Arc<AtomicU64>,
    resyncs: Arc<AtomicU64>,
    lists: Arc<AtomicU64>,
}

impl Page {
    fn open(http: &reqwest::Client, base_url: &str, api_key: &str) -> Self {
        let feed_bytes = Arc::new(AtomicU64::new(0));
        let resyncs = Arc::new(AtomicU64::new(0));
        let lists = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        {
            let (http, url, key) = (
                http.clone(),
                format!("{base_url}/_local/v1/events"),
                api_key.to_owned(),
            );
            let (bytes, resyncs) = (feed_bytes.clone(), resyncs.clone());
            tasks.spawn(async move {
                let Ok(mut response) = http.get(&url).bearer_auth(&key).send().await else {
                    return;
                };
                while let Ok(Some(chunk)) = response.chunk().await {
                    bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    // What the page would parse: every event, whole.
                    let text = String::from_utf8_lossy(&chunk);
                    let n = text.matches("event: resync").count() as u64;
                    resyncs.fetch_add(n, Ordering::Relaxed);
                }
            });
        }
        {
            let (http, url, key, lists) = (
                http.clone(),
                format!("{base_url}/_local/v1/jobs?offset=0&limit=100"),
                api_key.to_owned(),
                lists.clone(),
            );
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let sent = http.get(&url).bearer_auth(&key).send().await;
                    if let Ok(response) = sent
                        && response.status().is_success()
                        && response.bytes().await.is_ok()
                    {
                        lists.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        Self {
            tasks,
            feed_bytes,
            resyncs,
            lists,
        }
    }

    async fn close(mut self) -> (u64, u64, u64) {
        self.tasks.shutdown().await;
        (
            self.feed_bytes.load(Ordering::Relaxed),
            self.resyncs.load(Ordering::Relaxed),
            self.lists.load(Ordering::Relaxed),
        )
    }
}

/// One measured cycle: jobs per second, and the server's CPU time per job in µs.
struct Measured {
    rate: f64,
    cpu_us_per_job: Option<f64>,
}

/// `jobs` jobs through run → take → done on a fresh endpoint.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per phase; the bench's flags"
)]
async fn cycle(
    server: &ServerProc,
    http: &reqwest::Client,
    base: &Target,
    endpoint: String,
    jobs: u64,
    concurrency: usize,
    worker_loops: usize,
    limit: Duration,
) -> Result<Measured> {
    let target = Target {
        endpoint,
        ..base.clone()
    };
    let worker = InstantWorker::start(http, &target, worker_loops, 64, Duration::ZERO);
    let cpu_before = cpu_time_of(Some(server.pid()));
    let start = Instant::now();
    tokio::time::timeout(limit, raw::fill_queue(http, &target, jobs, concurrency))
        .await
        .map_err(|_| "the console bench ran out of time submitting")??;
    let all_done = worker
        .wait_done(jobs, limit.saturating_sub(start.elapsed()))
        .await;
    let elapsed = start.elapsed();
    let cpu_after = cpu_time_of(Some(server.pid()));
    worker.stop().await;
    if !all_done {
        return Err("the console bench ran out of time waiting for results".into());
    }
    let cpu_us_per_job = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => {
            Some(after.saturating_sub(before).as_secs_f64() * 1e6 / jobs as f64)
        }
        _ => None,
    };
    Ok(Measured {
        rate: crate::measure::rate(jobs, elapsed),
        cpu_us_per_job,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Runs the comparison; returns whether it met the budget.
pub(crate) async fn run(
    api_key: &str,
    jobs: u64,
    rounds: usize,
    concurrency: usize,
    worker_loops: usize,
    limit: Duration,
) -> Result<bool> {
    say(format!(
        "[console] {rounds} rounds of {jobs} jobs run -> take -> done, with and without one open console page (ABBA)"
    ));
    let server = ServerProc::start_with(
        api_key,
        Duration::from_secs(1),
        Duration::from_secs(60),
        None,
        &[],
    )
    .await?;
    let http = raw::http()?;
    let base = Target {
        base_url: server.base_url().to_owned(),
        endpoint: String::new(),
        api_key: api_key.to_owned(),
    };
    // Warm-up: connections and allocator pools.
    cycle(
        &server,
        &http,
        &base,
        "console-warm".to_owned(),
        jobs / 4,
        concurrency,
        worker_loops,
        limit,
    )
    .await?;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let (mut cpu_without, mut cpu_with) = (Vec::new(), Vec::new());
    let (mut feed_bytes, mut resyncs, mut lists) = (0, 0, 0);
    for round in 0..rounds {
        let page_first = round % 2 == 1;
        for with_page in [page_first, !page_first] {
            let endpoint = format!(
                "console-{round}-{}",
                if with_page { "page" } else { "none" }
            );
            let page = with_page.then(|| Page::open(&http, server.base_url(), api_key));
            if page.is_some() {
                // Let the feed connect before the load starts.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let measured = cycle(
                &server,
                &http,
                &base,
                endpoint,
                jobs,
                concurrency,
                worker_loops,
                limit,
            )
            .await?;
            if let Some(page) = page {
                let (bytes, r, l) = page.close().await;
                feed_bytes += bytes;
                resyncs += r;
                lists += l;
                with.push(measured.rate);
                cpu_with.extend(measured.cpu_us_per_job);
            } else {
                without.push(measured.rate);
                cpu_without.extend(measured.cpu_us_per_job);
            }
        }
    }
    server.stop().await;
    let ratios: Vec<f64> = with.iter().zip(&without).map(|(w, o)| w / o).collect();
    let (median_without, median_with) = (median(&mut without.clone()), median(&mut with.clone()));
    let ratio = median_with / median_without;
    let mut table = Table::new(&["page", "median jobs/s", "rounds (jobs/s)"]);
    let list = |v: &[f64]| {
        v.iter()
            .map(|r| num(Some(*r), 0))
            .collect::<Vec<_>>()
            .join(" ")
    };
    table.row(vec![
        "closed".to_owned(),
        num(Some(median_without), 0),
        list(&without),
    ]);
    table.row(vec![
        "open".to_owned(),
        num(Some(median_with), 0),
        list(&with),
    ]);
    say("");
    say(table.render());
    say(format!(
        "per-round ratios (open / closed): {}",
        ratios
            .iter()
            .map(|r| num(Some(*r), 3))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    say(format!(
        "the page received {} KB of events ({resyncs} resync) and {lists} job lists",
        feed_bytes / 1024
    ));
    if !cpu_with.is_empty() && !cpu_without.is_empty() {
        // Steadier than the rates on a shared machine: the server's own CPU time per job.
        let (closed, open) = (median(&mut cpu_without), median(&mut cpu_with));
        say(format!(
            "runpod-local CPU per job (median): {} µs closed, {} µs open: {} × (not judged)",
            num(Some(closed), 1),
            num(Some(open), 1),
            num(Some(open / closed), 3)
        ));
    }
    let pass = ratio >= 1.0 - BUDGET;
    say(format!(
        "console page cost: throughput ratio {} (median with / median without): {} (budget: at most {} % lower)",
        num(Some(ratio), 3),
        if pass { "PASS" } else { "FAIL" },
        BUDGET * 100.0
    ));
    Ok(pass)
}
