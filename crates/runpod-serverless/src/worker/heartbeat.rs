//! The heartbeat, on its own OS thread with its own small runtime, so a handler that blocks
//! the worker's threads cannot make the platform think the worker died.

use std::time::Duration;

use runpod_transport::{Config, HttpClient, Method, Report, RetryPolicy};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::report::RUNPOD_VERSION;
use super::supervise::JobTable;
use super::urls::WorkerUrls;

/// A running heartbeat thread.
pub(crate) struct Heartbeat {
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts pinging now and then every `interval`: `GET ping?job_id=<held ids>&runpod_version=…`.
    pub(crate) fn start(
        config: Config,
        urls: WorkerUrls,
        interval: Duration,
        jobs: JobTable,
    ) -> std::io::Result<Self> {
        let stop = CancellationToken::new();
        let thread_stop = stop.clone();
        let span = tracing::info_span!(parent: tracing::Span::current(), "heartbeat");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("runpod-heartbeat".into())
            .spawn(move || {
                let _entered = span.enter();
                runtime.block_on(beat(config, urls, interval, jobs, thread_stop));
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn beat(
    config: Config,
    urls: WorkerUrls,
    interval: Duration,
    jobs: JobTable,
    stop: CancellationToken,
) {
    let client = match HttpClient::new(config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %Report(&e), "heartbeat HTTP client could not be built; no heartbeat");
            return;
        }
    };
    // Twice the interval, as the Python worker, but never absurdly short or long.
    let attempt_timeout = (interval * 2).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        let Some(url) = urls.ping(&jobs.ids(), RUNPOD_VERSION) else {
            break;
        };
        let request = client
            .request(Method::GET, url)
            .with_retry(RetryPolicy::none())
            .with_attempt_timeout(Some(attempt_timeout));
        // Each ping in its own task: a slow server must not push the next ping back.
        tokio::spawn(async move {
            if let Err(e) = request.send().await {
                tracing::warn!(error = %Report(&e), "heartbeat ping failed");
            }
        });
    }
}
