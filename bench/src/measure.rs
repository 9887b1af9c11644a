//! What the benches measure besides wall time: peak RSS from `/proc`, latency percentiles,
//! and the machine they ran on.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio::time::Instant;

/// Peak resident set size (`VmHWM`, KiB) of `pid`, or of this process for `None`.
/// `None` when the process is gone or `/proc` is unavailable.
pub(crate) fn peak_rss_kib(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Current resident set size (`VmRSS`, KiB) of `pid`; `None` when unreadable.
pub(crate) fn current_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system, all threads) this process has used so far, from `/proc/self/stat`
/// (clock ticks of 10 ms: Linux's `USER_HZ` is 100 on every mainstream architecture).
pub(crate) fn cpu_time() -> Option<Duration> {
    cpu_time_of(None)
}

/// [`cpu_time`] of `pid`, or of this process for `None`.
pub(crate) fn cpu_time_of(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (`state`).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// `pid` and every process below it (the Python worker forks a heartbeat process).
pub(crate) fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let at = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{at}/task")) {
            for task in tasks.flatten() {
                let children =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                out.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        i += 1;
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Peak RSS of the process and of each of its descendants, in KiB: `(own, tree total)`.
/// The total adds peaks that may not coincide, so it is an upper bound.
pub(crate) fn tree_peak_rss_kib(pid: u32) -> (Option<u64>, Option<u64>) {
    let own = peak_rss_kib(Some(pid));
    let all: Vec<u64> = process_tree(pid)
        .into_iter()
        .filter_map(|p| peak_rss_kib(Some(p)))
        .collect();
    let total = (!all.is_empty()).then(|| all.iter().sum());
    (own, total)
}

/// KiB as decimal megabytes (the unit of the targets).
pub(crate) fn mb(kib: u64) -> f64 {
    // Exact for every realistic RSS (far below 2^52).
    #[allow(clippy::cast_precision_loss, reason = "RSS values are far below 2^52")]
    let bytes = (kib * 1024) as f64;
    bytes / 1_000_000.0
}

/// Items per second.
pub(crate) fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    let count = count as f64;
    if secs > 0.0 { count / secs } else { 0.0 }
}

/// Latency percentiles from per-request samples (microseconds).
#[derive(Debug, Default)]
pub(crate) struct Latencies {
    samples: Vec<u32>,
}

impl Latencies {
    pub(crate) fn record(&mut self, d: Duration) {
        self.samples
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub(crate) fn merge(&mut self, other: Self) {
        self.samples.extend(other.samples);
    }

    /// The `p`-th percentile (0–100), in milliseconds.
    pub(crate) fn percentile_ms(&mut self, p: f64) -> Option<f64> {
        if self.samples.is_empty() {
            return None;
        }
        self.samples.sort_unstable();
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "an index into a vector of at most millions of samples"
        )]
        let idx = (((self.samples.len() - 1) as f64) * p / 100.0).round() as usize;
        Some(f64::from(self.samples[idx]) / 1000.0)
    }
}

/// One line naming when and where the numbers were taken.
pub(crate) fn machine_line() -> String {
    #[allow(
        clippy::disallowed_methods,
        reason = "the report's date is the real wall-clock date"
    )]
    let now = SystemTime::now();
    let date = httpdate::fmt_http_date(now);
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let build = if cfg!(debug_assertions) {
        "DEBUG build: not representative, use --release"
    } else {
        "release build"
    };
    // Other work on the machine skews every number: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    format!("{date}; {cores} cores ({cpu}); load average {load} at start; {build}; loopback only")
}

/// `requests` calls of `call` with `concurrency` in flight, each task starting its next call when
/// its last one answered, until `limit`; (calls that succeeded, elapsed, their latencies).
pub(crate) async fn closed_loop<F, Fut>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_peak_rss_is_readable() {
        let kib = peak_rss_kib(None).unwrap();
        assert!(kib > 0);
        assert_eq!(process_tree(std::process::id())[0], std::process::id());
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_time().unwrap();
        let mut x = 0u64;
        while cpu_time().unwrap() < before + Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(x > 0);
    }

    #[test]
    fn percentiles_pick_from_sorted_samples() {
        let mut l = Latencies::default();
        for ms in [5, 1, 3, 2, 4] {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile_ms(0.0), Some(1.0));
        assert_eq!(l.percentile_ms(50.0), Some(3.0));
        assert_eq!(l.percentile_ms(100.0), Some(5.0));
        assert_eq!(Latencies::default().percentile_ms(50.0), None);
    }

    #[test]
    fn units() {
        assert!((mb(1000) - 1.024).abs() < 1e-9);
        assert!((rate(10, Duration::from_secs(2)) - 5.0).abs() < 1e-9);
        assert!(rate(10, Duration::ZERO).abs() < f64::EPSILON);
    }
}
