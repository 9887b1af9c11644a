//! The load-balancing gateway: `/lb/{endpoint_id}/{path}` proxied to registered workers.
//!
//! Runpod's load-balancing endpoints (REST v2 `type: LOAD_BALANCER`) send plain HTTP requests
//! straight to a worker's own server. Locally, workers are registered by URL
//! ([`LbWorker`], `--lb ENDPOINT=URL`) or started from a command ([`LbSpawn`], `--lb-spawn`);
//! a poller per worker reads its health route with Runpod's
//! rules (200 healthy, 204 initializing, anything else or no answer unhealthy), and requests go
//! only to healthy workers, with the `X-Runpod-Worker-Id` affinity modes.
//!
//! What the hosted platform does not document, and what this gateway chose:
//! - "no workers available" is answered `503` with `{"error": "no workers available"}`, at once when no worker is healthy or starting, or after the worker wait
//!   ([`LbLimits::worker_wait`], default 2 min) while one is still initializing.
//! - A worker whose health route fails is out of the pool: strict affinity to it answers 404
//!   `affinity_worker_gone`. It comes back when its health route answers 200 again.
//! - `strict-resume` behaves as `strict`: nothing is ever scaled down locally.
//! - The caller's `Authorization` and `X-Runpod-Worker-Id` headers are not forwarded to the
//!   worker (the key is the caller's Runpod key, not the worker's business).

mod proxy;
mod spawn;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::faults::ParseError;

pub(crate) use proxy::router;
pub use spawn::LbSpawn;
pub(crate) use spawn::start as start_processes;

/// The header that carries affinity requests and names the worker that answered.
pub(crate) const WORKER_ID_HEADER: &str = "x-runpod-worker-id";

/// The health route a worker serves when it names none (`HEALTH_CHECK_PATH`'s default).
const DEFAULT_HEALTH_PATH: &str = "/ping";

/// A worker of a load-balancing endpoint, reached at its base URL.
///
/// The command-line form is `ENDPOINT=URL[,health=PATH_OR_URL][,id=WORKER_ID]`: the health
/// route defaults to `URL` + `/ping` (as `HEALTH_CHECK_PATH` does on Runpod); a path is joined
/// to `URL`, a full URL is used as is (a worker whose `PORT_HEALTH` differs from its `PORT`).
///
/// ```
/// let worker: runpod_local::LbWorker = "my-lb=http://127.0.0.1:8080,health=/healthz".parse().unwrap();
/// assert_eq!(worker.endpoint_id(), "my-lb");
/// assert_eq!(worker.health_url(), "http://127.0.0.1:8080/healthz");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbWorker {
    endpoint_id: String,
    url: String,
    health: Option<String>,
    id: Option<String>,
    /// Set for a worker runpod-local starts itself ([`LbSpawn`]).
    launch: Option<spawn::Launch>,
}

/// Why `id` cannot name a load-balancing endpoint, if it cannot.
fn check_endpoint_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.contains('/') {
        return Err("the endpoint id must be non-empty and contain no `/`");
    }
    Ok(())
}

impl LbWorker {
    /// A worker of `endpoint_id` whose HTTP server is at `url` (`http://HOST:PORT`).
    pub fn new(endpoint_id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            endpoint_id: endpoint_id.into(),
            url: url.into().trim_end_matches('/').to_owned(),
            health: None,
            id: None,
            launch: None,
        }
    }

    /// The health route: a path (joined to the worker's URL) or a full URL. Default `/ping`.
    #[must_use]
    pub fn health(mut self, path_or_url: impl Into<String>) -> Self {
        self.health = Some(path_or_url.into());
        self
    }

    /// The worker id answered in `X-Runpod-Worker-Id` (default `{endpoint_id}-w{n}`, `n`
    /// counting this endpoint's workers from 1 in registration order).
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The endpoint this worker serves.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// The worker's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL its health is read from.
    pub fn health_url(&self) -> String {
        match self.health.as_deref() {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.to_owned()
            }
            Some(path) => format!("{}/{}", self.url, path.trim_start_matches('/')),
            None => format!("{}{DEFAULT_HEALTH_PATH}", self.url),
        }
    }
}

impl FromStr for LbWorker {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ParseError(format!("invalid load-balancing worker `{s}`: {why}"));
        let (endpoint_id, rest) = s
            .split_once('=')
            .ok_or_else(|| bad("expected ENDPOINT=URL"))?;
        let mut parts = rest.split(',');
        let url = parts.next().unwrap_or_default();
        check_endpoint_id(endpoint_id).map_err(&bad)?;
        if !url.starts_with("http://") {
            return Err(bad("the worker URL must start with http://"));
        }
        let mut worker = LbWorker::new(endpoint_id, url);
        for option in parts {
            match option.split_once('=') {
                Some(("health", value)) if !value.is_empty() => worker = worker.health(value),
                Some(("id", value)) if !value.is_empty() => worker = worker.id(value),
                _ => return Err(bad(&format!("unknown option `{option}` (health=, id=)"))),
            }
        }
        worker
            .health_url()
            .parse::<Uri>()
            .map_err(|e| bad(&e.to_string()))?;
        worker.url.parse::<Uri>().map_err(|e| bad(&e.to_string()))?;
        Ok(worker)
    }
}

/// Limits and waits of the gateway. Defaults are Runpod's documented ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LbLimits {
    /// Largest request body forwarded (default 30 MB, read as MiB); larger ones get 413.
    pub max_request_bytes: usize,
    /// Largest response body passed back (default 30 MiB); a longer one is cut off.
    pub max_response_bytes: usize,
    /// Time for a whole request, answer body included (default 5.5 min); 504 when it is over
    /// before the answer's head, the answer is cut off when over during its body.
    pub request_timeout: Duration,
    /// How long a request waits for a worker that is still initializing (default 2 min).
    pub worker_wait: Duration,
    /// How long a `strict` request waits for its worker to be healthy before 400
    /// `worker_timeout` (default 5 min).
    pub strict_wait: Duration,
    /// Time between two health reads of a worker (default 1 s).
    pub health_interval: Duration,
}

impl Default for LbLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 30 * 1024 * 1024,
            max_response_bytes: 30 * 1024 * 1024,
            request_timeout: Duration::from_millis(330_000),
            worker_wait: Duration::from_secs(120),
            strict_wait: Duration::from_secs(300),
            health_interval: Duration::from_secs(1),
        }
    }
}

impl LbLimits {
    /// Runpod's limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`max_request_bytes`](Self::max_request_bytes).
    #[must_use]
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// See [`max_response_bytes`](Self::max_response_bytes).
    #[must_use]
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// See [`request_timeout`](Self::request_timeout).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// See [`worker_wait`](Self::worker_wait).
    #[must_use]
    pub fn worker_wait(mut self, wait: Duration) -> Self {
        self.worker_wait = wait;
        self
    }

    /// See [`strict_wait`](Self::strict_wait).
    #[must_use]
    pub fn strict_wait(mut self, wait: Duration) -> Self {
        self.strict_wait = wait;
        self
    }

    /// See [`health_interval`](Self::health_interval).
    #[must_use]
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }
}

/// A worker's health as last read from its health route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Health {
    /// Not read yet.
    Unknown = 0,
    /// 204.
    Initializing = 1,
    /// 200.
    Healthy = 2,
    /// Anything else, or no answer.
    Unhealthy = 3,
}

impl Health {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Health::Initializing,
            2 => Health::Healthy,
            3 => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }

    /// Whether the worker may still become healthy soon.
    fn is_starting(self) -> bool {
        matches!(self, Health::Unknown | Health::Initializing)
    }
}

/// One registered worker and its current health.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) id: String,
    pub(crate) base: String,
    health_url: Uri,
    health: AtomicU8,
    /// The process of a worker runpod-local started.
    process: Option<spawn::Process>,
}

impl Slot {
    pub(crate) fn health(&self) -> Health {
        Health::from_u8(self.health.load(Ordering::Acquire))
    }

    /// Notes that the health route answered (with `status`), which a spawned worker's process
    /// does once it is listening.
    fn answered(&self, status: u16) -> u16 {
        if let Some(process) = &self.process {
            process.answered();
        }
        status
    }
}

/// Counts of an endpoint's workers by health, as logged and announced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LbCounts {
    /// Workers answering 200.
    pub healthy: usize,
    /// Workers answering 204, or not read yet.
    pub initializing: usize,
    /// Workers answering anything else, or not answering.
    pub unhealthy: usize,
}

impl fmt::Display for LbCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} healthy, {} initializing, {} unhealthy",
            self.healthy, self.initializing, self.unhealthy
        )
    }
}

/// The changes of the load-balancing workers' health counts, from
/// [`RunningServer::lb_watch`](crate::RunningServer::lb_watch).
#[derive(Debug)]
pub struct LbWatch {
    gateway: Arc<Gateway>,
    changes: watch::Receiver<()>,
    shutdown: CancellationToken,
    last: BTreeMap<String, LbCounts>,
}

impl LbWatch {
    pub(crate) fn new(gateway: Arc<Gateway>, shutdown: CancellationToken) -> Self {
        let last = gateway
            .endpoint_ids()
            .map(|id| (id.to_owned(), gateway.counts(id)))
            .collect();
        Self {
            changes: gateway.subscribe(),
            gateway,
            shutdown,
            last,
        }
    }

    /// Waits until the counts of some endpoints differ from when this watch was made or last
    /// answered, and returns those endpoints with their counts; `None` once the server stops.
    pub async fn changed(&mut self) -> Option<Vec<(String, LbCounts)>> {
        loop {
            tokio::select! {
                changed = self.changes.changed() => changed.ok()?,
                () = self.shutdown.cancelled() => return None,
            }
            let mut changed = Vec::new();
            for id in self.gateway.endpoint_ids() {
                let counts = self.gateway.counts(id);
                if self.last.insert(id.to_owned(), counts) != Some(counts) {
                    changed.push((id.to_owned(), counts));
                }
            }
            if !changed.is_empty() {
                return Some(changed);
            }
        }
    }
}

pub(crate) type HttpClient = Client<HttpConnector, Body>;

/// The gateway's shared state: workers per endpoint, the client that reaches them, the limits.
#[derive(Debug)]
pub(crate) struct Gateway {
    endpoints: BTreeMap<String, Vec<Arc<Slot>>>,
    changed: watch::Sender<()>,
    pub(crate) client: HttpClient,
    pub(crate) limits: LbLimits,
    pub(crate) api_key: Option<String>,
    next: AtomicUsize,
}

impl Gateway {
    pub(crate) fn new(
        workers: &[LbWorker],
        limits: LbLimits,
        api_key: Option<String>,
    ) -> Result<Self, ParseError> {
        let mut endpoints: BTreeMap<String, Vec<Arc<Slot>>> = BTreeMap::new();
        for worker in workers {
            let slots = endpoints.entry(worker.endpoint_id.clone()).or_default();
            let id = worker
                .id
                .clone()
                .unwrap_or_else(|| format!("{}-w{}", worker.endpoint_id, slots.len() + 1));
            let health_url = worker.health_url();
            let health_url = health_url
                .parse::<Uri>()
                .map_err(|e| ParseError(format!("invalid health URL `{health_url}`: {e}")))?;
            slots.push(Arc::new(Slot {
                id,
                base: worker.url.clone(),
                health_url,
                health: AtomicU8::new(Health::Unknown as u8),
                process: worker.launch.clone().map(spawn::Process::new),
            }));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            endpoints,
            changed: watch::channel(()).0,
            client,
            limits,
            api_key,
            next: AtomicUsize::new(0),
        })
    }

    /// Whether any worker is registered (otherwise no poller runs).
    pub(crate) fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The endpoint ids with workers.
    pub(crate) fn endpoint_ids(&self) -> impl Iterator<Item = &str> {
        self.endpoints.keys().map(String::as_str)
    }

    pub(crate) fn workers(&self, endpoint_id: &str) -> Option<&[Arc<Slot>]> {
        self.endpoints.get(endpoint_id).map(Vec::as_slice)
    }

    pub(crate) fn counts(&self, endpoint_id: &str) -> LbCounts {
        let mut counts = LbCounts::default();
        for slot in self.workers(endpoint_id).unwrap_or_default() {
            match slot.health() {
                Health::Healthy => counts.healthy += 1,
                Health::Unknown | Health::Initializing => counts.initializing += 1,
                Health::Unhealthy => counts.unhealthy += 1,
            }
        }
        counts
    }

    /// A receiver woken on every health change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<()> {
        self.changed.subscribe()
    }

    /// A healthy worker of `workers`, taking turns.
    pub(crate) fn pick(&self, workers: &[Arc<Slot>]) -> Option<Arc<Slot>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..workers.len())
            .map(|i| &workers[(start + i) % workers.len()])
            .find(|slot| slot.health() == Health::Healthy)
            .cloned()
    }

    /// Starts one health poller per worker; they stop with `shutdown`.
    pub(crate) fn start_pollers(self: &Arc<Self>, shutdown: &CancellationToken) {
        for (endpoint_id, slots) in &self.endpoints {
            for slot in slots {
                tokio::spawn(poll_health(
                    self.clone(),
                    endpoint_id.clone(),
                    slot.clone(),
                    shutdown.clone(),
                ));
            }
        }
    }

    fn set_health(&self, endpoint_id: &str, slot: &Slot, health: Health, detail: &str) {
        let before = Health::from_u8(slot.health.swap(health as u8, Ordering::AcqRel));
        if before != health {
            let counts = self.counts(endpoint_id);
            if health == Health::Unhealthy {
                tracing::warn!(endpoint_id, worker_id = %slot.id, detail, %counts, "lb worker unhealthy");
            } else {
                tracing::info!(endpoint_id, worker_id = %slot.id, ?health, %counts, "lb worker health changed");
            }
            self.changed.send_replace(());
        }
    }
}

async fn poll_health(
    gateway: Arc<Gateway>,
    endpoint_id: String,
    slot: Arc<Slot>,
    shutdown: CancellationToken,
) {
    let timeout = gateway.limits.health_interval.max(Duration::from_secs(2));
    loop {
        let request = axum::http::Request::get(slot.health_url.clone()).body(Body::empty());
        let (health, detail) = match request {
            Err(error) => (Health::Unhealthy, error.to_string()),
            Ok(request) => {
                match tokio::time::timeout(timeout, gateway.client.request(request)).await {
                    Ok(Ok(response)) => match slot.answered(response.status().as_u16()) {
                        200 => (Health::Healthy, String::new()),
                        204 => (Health::Initializing, String::new()),
                        status => (Health::Unhealthy, format!("health route answered {status}")),
                    },
                    Ok(Err(_))
                        if slot
                            .process
                            .as_ref()
                            .is_some_and(spawn::Process::is_starting) =>
                    {
                        (Health::Initializing, String::new())
                    }
                    Ok(Err(error)) => (Health::Unhealthy, format!("health route failed: {error}")),
                    Err(_) => (Health::Unhealthy, "health route timed out".to_owned()),
                }
            }
        };
        gateway.set_health(&endpoint_id, &slot, health, &detail);
        tokio::select! {
            () = tokio::time::sleep(gateway.limits.health_interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_specs_parse_with_their_options() {
        let worker: LbWorker = "ep=http://127.0.0.1:9000/".parse().unwrap();
        assert_eq!(worker.url(), "http://127.0.0.1:9000");
        assert_eq!(worker.health_url(), "http://127.0.0.1:9000/ping");
        let worker: LbWorker = "ep=http://h:1,health=http://h:2/up,id=w7".parse().unwrap();
        assert_eq!(worker.health_url(), "http://h:2/up");
        assert_eq!(worker.id.as_deref(), Some("w7"));
        for bad in [
            "ep",
            "=http://h:1",
            "ep=ftp://h",
            "ep=http://h:1,color=red",
            "a/b=http://h",
        ] {
            assert!(bad.parse::<LbWorker>().is_err(), "{bad}");
        }
    }

    #[test]
    fn default_worker_ids_count_per_endpoint() {
        let gateway = Gateway::new(
            &[
                LbWorker::new("a", "http://h:1"),
                LbWorker::new("b", "http://h:2"),
                LbWorker::new("a", "http://h:3"),
            ],
            LbLimits::default(),
            None,
        )
        .unwrap();
        let ids: Vec<_> = gateway
            .workers("a")
            .unwrap()
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, ["a-w1", "a-w2"]);
        assert_eq!(gateway.counts("a").initializing, 2);
    }
}
