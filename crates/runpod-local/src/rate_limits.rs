//! Runpod's documented per-endpoint rate limits, enforced as a fault (429 beyond them), so that
//! a client's own limiter can be tested against a server that refuses what Runpod refuses.
//!
//! Per endpoint and class, per 10 s / in flight: `/runsync`, `/status` (and `/status-sync`),
//! `/stream` 2 000 / 400 each; `/run` 1 000 / 200; `/cancel` 100 / 20; `/purge-queue` 2 / –
//! (`shared/reference/runpod-serverless-2026.md` §4). Worker routes are not limited.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::faults::Route;

const WINDOW: Duration = Duration::from_secs(10);

/// `(requests per window, in flight)` of a limited route.
fn limit_of(route: Route) -> Option<(usize, Option<usize>)> {
    match route {
        Route::RunSync | Route::Status | Route::StatusSync | Route::Stream => {
            Some((2_000, Some(400)))
        }
        Route::Run => Some((1_000, Some(200))),
        Route::Cancel => Some((100, Some(20))),
        Route::PurgeQueue => Some((2, None)),
        _ => None,
    }
}

/// The class a route counts in: `/status-sync` is a `/status` request.
fn class_of(route: Route) -> Route {
    match route {
        Route::StatusSync => Route::Status,
        other => other,
    }
}

#[derive(Debug, Default)]
struct Usage {
    started: VecDeque<Instant>,
    in_flight: usize,
}

/// Request starts and requests in flight, per endpoint and class.
#[derive(Debug, Default)]
pub(crate) struct RunpodLimits {
    usage: Mutex<HashMap<(String, Route), Usage>>,
}

/// A request admitted under the limits; dropping it ends the request's time in flight.
#[derive(Debug)]
pub(crate) struct Admitted {
    limits: Arc<RunpodLimits>,
    key: (String, Route),
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut usage = self
            .limits
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(u) = usage.get_mut(&self.key) {
            u.in_flight = u.in_flight.saturating_sub(1);
        }
    }
}

impl RunpodLimits {
    /// Admits one request to `route` of the endpoint in `path` (`/v2/{endpoint}/…`): `Ok` with a
    /// guard (or nothing, for an unlimited route), `Err` when it is over a limit.
    pub(crate) fn admit(
        self: &Arc<Self>,
        route: Route,
        path: &str,
    ) -> Result<Option<Admitted>, ()> {
        let Some((per_window, max_in_flight)) = limit_of(route) else {
            return Ok(None);
        };
        let endpoint = path
            .trim_start_matches('/')
            .split('/')
            .nth(1)
            .unwrap_or_default();
        let key = (endpoint.to_owned(), class_of(route));
        let now = Instant::now();
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        let u = usage.entry(key.clone()).or_default();
        while u
            .started
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            u.started.pop_front();
        }
        if u.started.len() >= per_window || max_in_flight.is_some_and(|max| u.in_flight >= max) {
            return Err(());
        }
        u.started.push_back(now);
        u.in_flight += 1;
        Ok(Some(Admitted {
            limits: Arc::clone(self),
            key,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_window_and_the_in_flight_cap_both_refuse() {
        let limits = Arc::new(RunpodLimits::default());
        let path = "/v2/ep/run";
        let held: Vec<_> = (0..200)
            .map(|_| limits.admit(Route::Run, path).unwrap())
            .collect();
        assert!(limits.admit(Route::Run, path).is_err(), "201st in flight");
        // Another endpoint and another class have their own budgets.
        assert!(limits.admit(Route::Run, "/v2/other/run").is_ok());
        assert!(
            limits
                .admit(Route::StatusSync, "/v2/ep/status-sync/j")
                .is_ok()
        );
        drop(held);
        for _ in 0..800 {
            drop(limits.admit(Route::Run, path).unwrap());
        }
        assert!(limits.admit(Route::Run, path).is_err(), "1 001st in 10 s");
        tokio::time::advance(WINDOW).await;
        assert!(limits.admit(Route::Run, path).is_ok());
        assert!(
            limits
                .admit(Route::JobTake, "/v2/ep/job-take/w")
                .unwrap()
                .is_none()
        );
    }
}
