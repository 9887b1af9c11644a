//! Client-side rate limits per endpoint, so that many concurrent jobs queue up locally instead
//! of turning into a storm of 429 answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A route of the queue API, for [`RateLimits::with_limit`]: the route table generated from
/// the protocol schema, shared with the worker runtime and runpod-local. Limits set on worker
/// routes have no effect (the client never calls them).
pub use runpod_types::serverless::Route;

/// Room for one entry per route.
const ROUTES: usize = Route::ALL.len();

/// The limit of one route: at most `requests` started in any window of `per`, and optionally at
/// most `max_concurrent` in flight at once.
///
/// A request count of 0 is raised to 1; a zero window disables the rate part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLimit {
    requests: u32,
    per: Duration,
    max_concurrent: Option<u32>,
}

impl RouteLimit {
    /// At most `requests` requests started in any window of length `per`.
    #[must_use]
    pub fn new(requests: u32, per: Duration) -> Self {
        Self {
            requests: requests.max(1),
            per,
            max_concurrent: None,
        }
    }

    /// Also at most `n` requests of this route in flight at once (0 is raised to 1).
    #[must_use]
    pub fn with_max_concurrent(mut self, n: u32) -> Self {
        self.max_concurrent = Some(n.max(1));
        self
    }

    /// Requests allowed per window.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The window length.
    pub fn per(&self) -> Duration {
        self.per
    }

    /// Requests allowed in flight at once, if limited.
    pub fn max_concurrent(&self) -> Option<u32> {
        self.max_concurrent
    }
}

/// Client-side rate limits, applied per endpoint id and shared by every clone of the
/// [`ServerlessClient`](crate::ServerlessClient) they were configured on.
///
/// The default ([`RateLimits::auto`]) applies Runpod's documented per-endpoint limits only when
/// the serverless base URL's host is `api.runpod.ai`, and nothing for local or custom servers:
///
/// | Route | Requests per 10 s | In flight |
/// |---|---|---|
/// | `/run` | 1000 | 200 |
/// | `/runsync` | 2000 | 400 |
/// | `/status` | 2000 | 400 |
/// | `/stream` | 2000 | 400 |
/// | `/cancel` | 100 | 20 |
/// | `/purge-queue` | 2 | – |
/// | `/openai/*` | 2000 | 400 |
///
/// `/retry` and `/health` have no documented limit and are not limited. Runpod raises an
/// endpoint's limits with its running workers (`max(base, workers × per-worker limit)`), so an
/// endpoint with many workers may want higher numbers ([`with_limit`](Self::with_limit)) or
/// none ([`disabled`](Self::disabled)). The server stays the authority: a 429 it still sends is
/// retried by the transport after `Retry-After`.
///
/// ```
/// # use runpod_serverless::__runpod as runpod;
/// use std::time::Duration;
/// use runpod::serverless::{RateLimits, Route, RouteLimit};
///
/// // Runpod's limits, but twice the documented /status rate (an endpoint with many workers).
/// let limits = RateLimits::runpod()
///     .with_limit(Route::Status, Some(RouteLimit::new(4000, Duration::from_secs(10))));
/// assert!(limits.limit(Route::Run).is_some());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// `None`: decide from the base URL's host.
    enabled: Option<bool>,
    routes: [Option<RouteLimit>; ROUTES],
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::auto()
    }
}

impl RateLimits {
    /// Runpod's documented limits when the base URL's host is `api.runpod.ai`, else none.
    pub fn auto() -> Self {
        Self {
            enabled: None,
            ..Self::runpod()
        }
    }

    /// Runpod's documented limits, whatever the base URL.
    pub fn runpod() -> Self {
        let ten = Duration::from_secs(10);
        let mut routes = [None; ROUTES];
        routes[Route::Run.index()] = Some(RouteLimit::new(1000, ten).with_max_concurrent(200));
        routes[Route::RunSync.index()] = Some(RouteLimit::new(2000, ten).with_max_concurrent(400));
        routes[Route::Status.index()] = Some(RouteLimit::new(2000, ten).with_max_concurrent(400));
        routes[Route::Stream.index()] = Some(RouteLimit::new(2000, ten).with_max_concurrent(400));
        routes[Route::Cancel.index()] = Some(RouteLimit::new(100, ten).with_max_concurrent(20));
        routes[Route::OpenAi.index()] = Some(RouteLimit::new(2000, ten).with_max_concurrent(400));
        routes[Route::PurgeQueue.index()] = Some(RouteLimit::new(2, ten));
        Self {
            enabled: Some(true),
            routes,
        }
    }

    /// No client-side limits.
    pub fn disabled() -> Self {
        Self {
            enabled: Some(false),
            routes: [None; ROUTES],
        }
    }

    /// Sets (or with `None` removes) one route's limit. This turns the limits on whatever the
    /// base URL: configured limits always apply.
    #[must_use]
    pub fn with_limit(mut self, route: Route, limit: Option<RouteLimit>) -> Self {
        self.routes[route.index()] = limit;
        self.enabled = Some(true);
        self
    }

    /// The limit configured for a route.
    pub fn limit(&self, route: Route) -> Option<RouteLimit> {
        self.routes[route.index()]
    }

    /// Whether these limits apply to a serverless base URL.
    pub(crate) fn applies_to(&self, serverless_base_url: &str) -> bool {
        match self.enabled {
            Some(on) => on && self.routes.iter().any(Option::is_some),
            None => crate::routes::host_of(serverless_base_url).as_deref() == Some("api.runpod.ai"),
        }
    }
}

/// The live limiter of one endpoint, shared by all handles to it.
#[derive(Debug)]
pub(crate) struct EndpointLimiter {
    gates: Vec<Option<Gate>>,
}

/// Holds a concurrency slot until dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    _slot: Option<OwnedSemaphorePermit>,
}

#[derive(Debug)]
struct Gate {
    window: Option<SlidingWindow>,
    in_flight: Option<Arc<Semaphore>>,
}

impl EndpointLimiter {
    pub(crate) fn new(limits: &RateLimits) -> Self {
        let gates = Route::ALL
            .iter()
            .map(|route| {
                limits.limit(*route).map(|l| Gate {
                    window: (!l.per.is_zero())
                        .then(|| SlidingWindow::new(l.requests, l.per + transit_margin(l.per))),
                    in_flight: l
                        .max_concurrent
                        .map(|n| Arc::new(Semaphore::new(n as usize))),
                })
            })
            .collect();
        Self { gates }
    }

    /// Whether every in-flight slot of `route` is taken now, so that a request on it would
    /// queue in the client (`run_sync` then submits through `/run` instead).
    pub(crate) fn is_full(&self, route: Route) -> bool {
        self.gates
            .get(route.index())
            .and_then(Option::as_ref)
            .and_then(|gate| gate.in_flight.as_ref())
            .is_some_and(|slots| slots.available_permits() == 0)
    }

    /// Waits until a request on `route` may start; keep the permit while it is in flight.
    pub(crate) async fn acquire(&self, route: Route) -> Permit {
        let Some(gate) = self.gates.get(route.index()).and_then(Option::as_ref) else {
            return Permit { _slot: None };
        };
        // The in-flight slot first, the window's after: a request sent as soon as its window
        // slot comes counts in the server's window where it counts in ours. The other order
        // let a request reserve its window slot, queue for an in-flight slot, and reach the
        // server seconds later, inside a window the server had already filled: a 429.
        let slot = match &gate.in_flight {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(sem) => Arc::clone(sem).acquire_owned().await.ok(),
            None => None,
        };
        if let Some(window) = &gate.window {
            let at = window.reserve(Instant::now());
            if at > Instant::now() {
                tracing::debug!(
                    ?route,
                    wait_ms = (at - Instant::now()).as_millis(),
                    "client-side rate limit"
                );
                tokio::time::sleep_until(at).await;
            }
        }
        Permit { _slot: slot }
    }
}

/// What the limiter adds to a window: requests reach the server later than the limiter lets
/// them go, and not equally late (a burst's first requests open connections; later ones reuse
/// them). Counted from the grants, an exact window can let a request through while the
/// server's window, counted from arrivals, still holds a late arrival of the previous burst: a
/// 429. A window 1/20 longer (0.5 s of 10 s) leaves room for that spread.
fn transit_margin(per: Duration) -> Duration {
    per / 20
}

/// An exact sliding-window log: at most `limit` grants in any window of length `per`.
///
/// Each caller reserves its slot up front (possibly in the future) and sleeps until then, so
/// waiters are served first come first served and do not wake up together to race. A caller
/// that gives up while sleeping leaves its slot unused, which errs on the safe side.
#[derive(Debug)]
struct SlidingWindow {
    limit: usize,
    per: Duration,
    /// Grant times, non-decreasing; the ones in the future are reservations.
    grants: Mutex<VecDeque<Instant>>,
}

impl SlidingWindow {
    fn new(limit: u32, per: Duration) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
        Self {
            limit,
            per,
            grants: Mutex::new(VecDeque::new()),
        }
    }

    /// Reserves the earliest instant ≥ `now` that keeps every window within the limit.
    fn reserve(&self, now: Instant) -> Instant {
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        while grants.front().is_some_and(|&t| t + self.per <= now) {
            grants.pop_front();
        }
        let mut at = now;
        if grants.len() >= self.limit {
            // The grant `limit` places back must have left the window.
            at = at.max(grants[grants.len() - self.limit] + self.per);
        }
        if let Some(&last) = grants.back() {
            at = at.max(last);
        }
        grants.push_back(at);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn auto_applies_only_to_runpods_host() {
        let auto = RateLimits::default();
        assert!(auto.applies_to("https://api.runpod.ai/v2"));
        assert!(auto.applies_to("https://API.RUNPOD.AI:443/v2"));
        assert!(!auto.applies_to("http://127.0.0.1:8000/v2"));
        assert!(!auto.applies_to("https://api.runpod.ai.example.com/v2"));
        assert!(!RateLimits::disabled().applies_to("https://api.runpod.ai/v2"));
        assert!(RateLimits::runpod().applies_to("http://127.0.0.1:8000/v2"));
        let custom = RateLimits::auto().with_limit(Route::Run, Some(RouteLimit::new(1, secs(1))));
        assert!(custom.applies_to("http://localhost/v2"));
        // Removing every limit leaves nothing to apply.
        let none = Route::ALL
            .iter()
            .fold(RateLimits::runpod(), |l, r| l.with_limit(*r, None));
        assert!(!none.applies_to("https://api.runpod.ai/v2"));
    }

    #[test]
    fn documented_defaults() {
        let l = RateLimits::runpod();
        let run = l.limit(Route::Run).unwrap();
        assert_eq!(
            (run.requests(), run.per(), run.max_concurrent()),
            (1000, secs(10), Some(200))
        );
        assert_eq!(l.limit(Route::RunSync).unwrap().requests(), 2000);
        assert_eq!(l.limit(Route::Status).unwrap().requests(), 2000);
        assert_eq!(l.limit(Route::Stream).unwrap().requests(), 2000);
        assert_eq!(l.limit(Route::Cancel).unwrap().requests(), 100);
        assert_eq!(l.limit(Route::PurgeQueue).unwrap().requests(), 2);
        let openai = l.limit(Route::OpenAi).unwrap();
        assert_eq!(
            (openai.requests(), openai.per(), openai.max_concurrent()),
            (2000, secs(10), Some(400))
        );
        assert_eq!(l.limit(Route::Retry), None);
        assert_eq!(l.limit(Route::Health), None);
    }

    #[tokio::test(start_paused = true)]
    async fn window_never_grants_more_than_the_limit() {
        let w = SlidingWindow::new(3, secs(10));
        let t0 = Instant::now();
        let got: Vec<Duration> = (0..8).map(|_| w.reserve(t0) - t0).collect();
        assert_eq!(got, [0, 0, 0, 10, 10, 10, 20, 20].map(secs));
        // Later arrivals queue behind the reservations.
        assert_eq!(w.reserve(t0 + secs(1)) - t0, secs(20));
        assert_eq!(w.reserve(t0 + secs(1)) - t0, secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn window_slides_rather_than_resets() {
        let w = SlidingWindow::new(2, secs(10));
        let t0 = Instant::now();
        assert_eq!(w.reserve(t0) - t0, secs(0));
        assert_eq!(w.reserve(t0 + secs(6)) - t0, secs(6));
        // The first grant leaves the window at 10 s, the second only at 16 s.
        assert_eq!(w.reserve(t0 + secs(7)) - t0, secs(10));
        assert_eq!(w.reserve(t0 + secs(11)) - t0, secs(16));
        // Old grants are forgotten.
        assert_eq!(w.reserve(t0 + secs(60)) - t0, secs(60));
        assert_eq!(w.grants.lock().unwrap().len(), 1);
    }

    /// When each of `n` concurrent `/status` waiters was let through, from now, sorted.
    async fn status_grant_times(limiter: &Arc<EndpointLimiter>, n: usize) -> Vec<Duration> {
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let limiter = Arc::clone(limiter);
                tokio::spawn(async move {
                    let _p = limiter.acquire(Route::Status).await;
                    Instant::now() - t0
                })
            })
            .collect();
        let mut when = Vec::new();
        for t in tasks {
            when.push(t.await.unwrap());
        }
        when.sort();
        when
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_sleeps_on_the_paused_clock() {
        let limits =
            RateLimits::disabled().with_limit(Route::Status, Some(RouteLimit::new(2, secs(10))));
        let limiter = Arc::new(EndpointLimiter::new(&limits));
        let when = status_grant_times(&limiter, 5).await;
        let window = secs(10) + transit_margin(secs(10));
        assert_eq!(when, [secs(0), secs(0), window, window, window * 2]);
        // Unlimited routes never wait.
        let before = Instant::now();
        let _p = limiter.acquire(Route::Run).await;
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_limit_holds_until_the_permit_drops() {
        let limits = RateLimits::disabled().with_limit(
            Route::RunSync,
            Some(RouteLimit::new(100, secs(10)).with_max_concurrent(1)),
        );
        let limiter = Arc::new(EndpointLimiter::new(&limits));
        let first = limiter.acquire(Route::RunSync).await;
        let l2 = Arc::clone(&limiter);
        let second = tokio::spawn(async move {
            let _p = l2.acquire(Route::RunSync).await;
            Instant::now()
        });
        tokio::time::sleep(secs(5)).await;
        assert!(
            !second.is_finished(),
            "second request started while the first was in flight"
        );
        let released = Instant::now();
        drop(first);
        assert_eq!(second.await.unwrap(), released);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_queued_for_an_in_flight_slot_counts_when_it_is_sent() {
        // 2 per 10 s, 1 in flight. B queues behind A (held 12 s); had B taken its window slot
        // while queued (at 0), C and D could follow at once and three requests would reach the
        // server within 0.2 s.
        let limits = RateLimits::disabled().with_limit(
            Route::Run,
            Some(RouteLimit::new(2, secs(10)).with_max_concurrent(1)),
        );
        let limiter = Arc::new(EndpointLimiter::new(&limits));
        let t0 = Instant::now();
        let a = limiter.acquire(Route::Run).await;
        let l2 = Arc::clone(&limiter);
        let b = tokio::spawn(async move {
            let permit = l2.acquire(Route::Run).await;
            (Instant::now() - t0, permit)
        });
        tokio::time::sleep(secs(12)).await;
        drop(a);
        let (b_at, b_permit) = b.await.unwrap();
        assert_eq!(b_at, secs(12));
        drop(b_permit);
        let c = limiter.acquire(Route::Run).await;
        assert_eq!(Instant::now() - t0, secs(12), "C: the window holds only B");
        drop(c);
        let _d = limiter.acquire(Route::Run).await;
        assert_eq!(
            Instant::now() - t0,
            secs(22) + transit_margin(secs(10)),
            "D: B and C fill the window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn thousands_of_waiters_stay_within_the_documented_status_limit() {
        let limiter = Arc::new(EndpointLimiter::new(&RateLimits::runpod()));
        let when = status_grant_times(&limiter, 5000).await;
        // Count the grants in every 10 s window starting at a grant.
        let max_in_window = when
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                when[i..]
                    .iter()
                    .take_while(|&&t| t < start + secs(10))
                    .count()
            })
            .max()
            .unwrap();
        assert_eq!(max_in_window, 2000);
        assert_eq!(
            *when.last().unwrap(),
            (secs(10) + transit_margin(secs(10))) * 2
        );
    }
}
