//! The lossy proxy between runpod-local and everything that talks to it, and its ledger.
//!
//! runpod-local injects faults *before* a request reaches its handler, so its faults never lose
//! a committed request. Real networks also lose answers *after* the server acted: the job was
//! queued, the result stored, but the response never arrived. The proxy adds exactly that: it
//! forwards a request, reads the whole answer, and then sometimes closes the connection instead
//! of passing the answer on ("lost response").
//!
//! Because every request passes through it, the proxy is also the soak's witness of what the
//! server did: which `/run` bodies (by the nonce in their input) it accepted and under which job
//! ids, and which jobs each worker took and reported. The client side never reads the server's
//! internals; it reconciles against this ledger, as an application would against its own
//! records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Bodies larger than runpod-local accepts are not expected in the soak.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Share of answers lost after the server handled the request, per route segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct LostResponses {
    rates: BTreeMap<&'static str, f64>,
}

impl LostResponses {
    pub(crate) fn new(routes: &[&'static str], rate: f64) -> Self {
        Self {
            rates: routes.iter().map(|r| (*r, rate)).collect(),
        }
    }

    fn rate(&self, route: &str) -> f64 {
        self.rates.get(route).copied().unwrap_or(0.0)
    }

    pub(crate) fn describe(&self) -> String {
        let routes: Vec<&str> = self
            .rates
            .iter()
            .filter(|(_, r)| **r > 0.0)
            .map(|(k, _)| *k)
            .collect();
        match self.rates.values().find(|r| **r > 0.0) {
            Some(rate) => format!("{} {:.1}%", routes.join("/"), rate * 100.0),
            None => "none".to_owned(),
        }
    }
}

/// Per-route counts of what passed through the proxy.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteStats {
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) too_many_requests: u64,
    pub(crate) server_errors: u64,
    pub(crate) other_status: u64,
    /// runpod-local closed the connection without answering (its `drop` fault).
    pub(crate) dropped_by_server: u64,
    /// The proxy closed the connection after the server had answered.
    pub(crate) lost_responses: u64,
}

/// What the server accepted on `/run` for one nonce.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunRecord {
    /// `/run` requests with this nonce that reached the proxy.
    pub(crate) received: u32,
    /// Of those, still waiting for the server's answer.
    pub(crate) in_flight: u32,
    /// Job ids the server created for this nonce (more than one is a duplicate submission).
    pub(crate) accepted: Vec<String>,
    /// `/run` requests with this nonce that arrived after the server had accepted one.
    pub(crate) received_after_accept: u32,
}

#[derive(Debug, Default)]
struct State {
    routes: BTreeMap<String, RouteStats>,
    runs: HashMap<String, RunRecord>,
    /// Jobs each worker took and has not yet reported successfully.
    held: HashMap<String, HashSet<String>>,
}

/// Everything the proxy saw. Cheap to share.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    state: Mutex<State>,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server's record for `nonce` once no `/run` with it is in flight.
    pub(crate) async fn settled(&self, nonce: &str) -> RunRecord {
        // A client error arrives after the proxy settled the request, except when the client
        // gave up first (attempt timeout); then wait for the server's late answer.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let record = self.lock().runs.get(nonce).cloned().unwrap_or_default();
            if record.in_flight == 0 || tokio::time::Instant::now() >= deadline {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) fn runs(&self) -> HashMap<String, RunRecord> {
        self.lock().runs.clone()
    }

    pub(crate) fn routes(&self) -> BTreeMap<String, RouteStats> {
        self.lock().routes.clone()
    }

    /// The jobs `worker` took and has not reported.
    pub(crate) fn held_by(&self, worker: &str) -> HashSet<String> {
        self.lock().held.get(worker).cloned().unwrap_or_default()
    }

    fn run_received(&self, nonce: &str) {
        let mut state = self.lock();
        let record = state.runs.entry(nonce.to_owned()).or_default();
        record.received += 1;
        record.in_flight += 1;
        if !record.accepted.is_empty() {
            record.received_after_accept += 1;
        }
    }

    fn run_settled(&self, nonce: &str, job_id: Option<String>) {
        let mut state = self.lock();
        let record = state.runs.entry(nonce.to_owned()).or_default();
        record.in_flight = record.in_flight.saturating_sub(1);
        record.accepted.extend(job_id);
    }

    fn took(&self, worker: &str, jobs: Vec<String>) {
        let mut state = self.lock();
        state
            .held
            .entry(worker.to_owned())
            .or_default()
            .extend(jobs);
    }

    fn reported(&self, worker: &str, job: &str) {
        if let Some(held) = self.lock().held.get_mut(worker) {
            held.remove(job);
        }
    }

    fn count(&self, route: &str, update: impl FnOnce(&mut RouteStats)) {
        update(self.lock().routes.entry(route.to_owned()).or_default());
    }
}

/// The error that makes hyper close the client's connection without an answer.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by the soak proxy")
    }
}

impl std::error::Error for Dropped {}

struct Shared {
    upstream: SocketAddr,
    client: Client<HttpConnector, Body>,
    ledger: Arc<Ledger>,
    lost: LostResponses,
    rng: Mutex<fastrand::Rng>,
}

/// A running proxy; stops accepting when dropped.
#[derive(Debug)]
pub(crate) struct Proxy {
    addr: SocketAddr,
    ledger: Arc<Ledger>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards everything to `upstream`.
    pub(crate) async fn start(
        upstream: SocketAddr,
        lost: LostResponses,
        seed: u64,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ledger = Arc::new(Ledger::default());
        let shared = Arc::new(Shared {
            upstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
            ledger: ledger.clone(),
            lost,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        });
        let task = tokio::spawn(accept_loop(listener, shared));
        Ok(Self { addr, ledger, task })
    }

    /// `http://HOST:PORT`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { forward(&shared, request).await }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// `/v2/{endpoint}/{route}/{a}/{b}` → (`route`, `a`, `b`).
fn split_path(path: &str) -> (String, Option<String>, Option<String>) {
    let mut segments = path.trim_start_matches('/').split('/').skip(2);
    let route = segments.next().unwrap_or_default().to_owned();
    let a = segments.next().map(str::to_owned);
    let b = segments.next().map(str::to_owned);
    (route, a, b)
}

fn nonce_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/input/echo/nonce")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn job_ids(body: &[u8]) -> Vec<String> {
    let id = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_owned);
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items.iter().filter_map(id).collect(),
        Ok(v @ Value::Object(_)) => id(&v).into_iter().collect(),
        _ => Vec::new(),
    }
}

async fn forward(shared: &Shared, request: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let (route, a, b) = split_path(request.uri().path());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(Body::new(body), BODY_LIMIT)
        .await
        .map_err(|_| Dropped)?;
    shared.ledger.count(&route, |s| s.requests += 1);
    let nonce = (route == "run").then(|| nonce_of(&body)).flatten();
    if let Some(n) = &nonce {
        shared.ledger.run_received(n);
    }

    let mut upstream = Request::builder()
        .method(parts.method)
        .uri(format!("http://{}{path_and_query}", shared.upstream));
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding"
        ) {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(upstream) = upstream.body(Body::from(body)) else {
        settle(shared, nonce.as_deref(), None);
        return Err(Dropped);
    };
    let answer = match shared.client.request(upstream).await {
        Ok(answer) => answer,
        Err(_) => {
            settle(shared, nonce.as_deref(), None);
            shared.ledger.count(&route, |s| s.dropped_by_server += 1);
            return Err(Dropped);
        }
    };
    let (answer_parts, answer_body) = answer.into_parts();
    let answer_body = match axum::body::to_bytes(Body::new(answer_body), BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            settle(shared, nonce.as_deref(), None);
            shared.ledger.count(&route, |s| s.dropped_by_server += 1);
            return Err(Dropped);
        }
    };
    let status = answer_parts.status;
    if status.is_success() {
        match (route.as_str(), &a, &b) {
            ("job-take" | "job-take-batch", Some(worker), _) => {
                shared.ledger.took(worker, job_ids(&answer_body));
            }
            ("job-done", Some(worker), Some(job)) => shared.ledger.reported(worker, job),
            _ => {}
        }
    }
    let job_id = (route == "run" && status.is_success())
        .then(|| job_ids(&answer_body).into_iter().next())
        .flatten();
    settle(shared, nonce.as_deref(), job_id);
    shared.ledger.count(&route, |s| match status.as_u16() {
        200..=299 => s.ok += 1,
        429 => s.too_many_requests += 1,
        500..=599 => s.server_errors += 1,
        _ => s.other_status += 1,
    });

    let rate = shared.lost.rate(&route);
    let lose = rate > 0.0 && {
        let mut rng = shared.rng.lock().unwrap_or_else(PoisonError::into_inner);
        rng.f64() < rate
    };
    if lose {
        shared.ledger.count(&route, |s| s.lost_responses += 1);
        return Err(Dropped);
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &answer_parts.headers {
        if !matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding"
        ) {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(answer_body)).map_err(|_| Dropped)
}

fn settle(shared: &Shared, nonce: Option<&str>, job_id: Option<String>) {
    if let Some(n) = nonce {
        shared.ledger.run_settled(n, job_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_route_and_ids() {
        assert_eq!(
            split_path("/v2/ep/job-done/w1/j1"),
            (
                "job-done".to_owned(),
                Some("w1".to_owned()),
                Some("j1".to_owned())
            )
        );
        assert_eq!(split_path("/v2/ep/run"), ("run".to_owned(), None, None));
    }

    #[test]
    fn take_bodies_yield_their_ids() {
        assert_eq!(job_ids(br#"{"id":"a","input":1}"#), ["a"]);
        assert_eq!(job_ids(br#"[{"id":"a"},{"id":"b"}]"#), ["a", "b"]);
        assert!(job_ids(b"").is_empty());
    }

    #[test]
    fn nonce_is_read_from_the_echo_input() {
        assert_eq!(
            nonce_of(br#"{"input":{"echo":{"nonce":"n-1"}}}"#).as_deref(),
            Some("n-1")
        );
        assert_eq!(nonce_of(br#"{"input":{}}"#), None);
    }
}
