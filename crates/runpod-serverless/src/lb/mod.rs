//! Load-balancing endpoints: plain HTTP to a worker's own server, with worker affinity.
//!
//! A load-balancing endpoint (REST v2 `type: LOAD_BALANCER`) has no job queue: a request to
//! `https://{endpoint_id}.api.runpod.ai/{path}` goes straight to one of its workers, with any
//! method, the caller's own body and the worker's own answer. Every answer names the worker
//! that served it in `X-Runpod-Worker-Id`; the same header on a request asks for a worker
//! ([`Affinity`](crate::lb::Affinity)).
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! # async fn demo() -> runpod::serverless::Result<()> {
//! use runpod::serverless::ServerlessClient;
//! use runpod::serverless::lb::Affinity;
//!
//! let lb = ServerlessClient::from_env()?.load_balancer("my-lb-endpoint");
//! let answer = lb.post("/v1/sessions").json(&serde_json::json!({"user": "ada"})).send().await?;
//! let session: serde_json::Value = answer.json()?;
//! // Keep talking to the worker that holds the session.
//! let worker = answer.worker_id().unwrap_or_default().to_owned();
//! let next = lb
//!     .get("/v1/sessions/1")
//!     .affinity(Affinity::strict(worker))
//!     .send()
//!     .await?;
//! # let _ = (session, next);
//! # Ok(()) }
//! ```
//!
//! **Base URL.** `https://{endpoint_id}.api.runpod.ai` by default; the template (with the
//! literal `{endpoint_id}`) moves with `RUNPOD_LB_BASE_URL` or
//! [`ServerlessClientBuilder::with_lb_base_url`](crate::ServerlessClientBuilder::with_lb_base_url),
//! e.g. `http://127.0.0.1:8000/lb/{endpoint_id}` for `runpod-local`. A template without
//! `{endpoint_id}` is used as it is (a gateway for one endpoint).
//!
//! **Cold starts.** While an endpoint scales from zero Runpod answers
//! `{"error": "no workers available"}`. Such a request never reached a worker, so it is sent
//! again whatever its method: by default up to 4 tries in all, 5 s apart, within the request's
//! [`timeout`](crate::lb::LbRequest::timeout) ([`ColdStart`](crate::lb::ColdStart)). Other failures follow transport's rules:
//! GET, HEAD, PUT, DELETE, OPTIONS are retried on 5xx, 429 and broken connections; POST and
//! PATCH only when they provably did not arrive (connect failure, 429). A streamed request body
//! cannot be replayed and is sent once.
//!
//! **Limits** (Runpod's, enforced by its gateway, not checked here): request and answer bodies up
//! to 30 MB each, 5.5 min of processing per request, up to 2 min waiting for a worker. Set
//! [`timeout`](crate::lb::LbRequest::timeout) for a bound of your own.
//!
//! **WebSocket** (`wss://{endpoint_id}.api.runpod.ai/{path}`, same `Authorization: Bearer`
//! header) is not wrapped: it would add a WebSocket stack to every user of this crate for one
//! call. With `tokio-tungstenite`, build the request from
//! [`LoadBalancer::url`](crate::lb::LoadBalancer::url) with `http` replaced by `ws`, add the `Authorization` header (and
//! `X-Runpod-Worker-Id` for affinity), and open it with a timeout of about 60 s so that a scale
//! from zero fits.

mod request;

pub use request::{LbRequest, LbResponse, LbStreamingResponse};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use runpod_transport::{Error, HttpClient, Method, RequestBuilder, UrlBase};

/// Runpod's load-balancing URL template.
pub const DEFAULT_LB_BASE_URL: &str = "https://{endpoint_id}.api.runpod.ai";

/// The environment variable that moves [`DEFAULT_LB_BASE_URL`].
pub const LB_BASE_URL_ENV: &str = "RUNPOD_LB_BASE_URL";

/// The header naming the worker that answered, and the affinity a request asks for.
pub const WORKER_ID_HEADER: &str = "x-runpod-worker-id";

/// Which worker a request should go to (`X-Runpod-Worker-Id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Affinity {
    /// Any worker (no header).
    #[default]
    None,
    /// This worker if it is available, any other otherwise (`<id>`).
    Prefer(String),
    /// Only this worker: Runpod waits about 5 min for it, then answers 400 `worker_timeout`
    /// ([`LbErrorExt::is_worker_timeout`]); 404 `affinity_worker_gone` when it no longer
    /// exists ([`LbErrorExt::is_affinity_worker_gone`]) (`strict <id>`).
    Strict(String),
    /// As [`Strict`](Self::Strict), and resumes the worker if it was scaled down
    /// (`strict-resume <id>`).
    StrictResume(String),
}

impl Affinity {
    /// [`Affinity::Prefer`].
    pub fn prefer(worker_id: impl Into<String>) -> Self {
        Affinity::Prefer(worker_id.into())
    }

    /// [`Affinity::Strict`].
    pub fn strict(worker_id: impl Into<String>) -> Self {
        Affinity::Strict(worker_id.into())
    }

    /// [`Affinity::StrictResume`].
    pub fn strict_resume(worker_id: impl Into<String>) -> Self {
        Affinity::StrictResume(worker_id.into())
    }

    /// The `X-Runpod-Worker-Id` value, `None` for no header.
    pub fn header_value(&self) -> Option<String> {
        match self {
            Affinity::None => None,
            Affinity::Prefer(id) => Some(id.clone()),
            Affinity::Strict(id) => Some(format!("strict {id}")),
            Affinity::StrictResume(id) => Some(format!("strict-resume {id}")),
        }
    }
}

/// How requests ride out a scale from zero ("no workers available").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColdStart {
    /// Tries in all, the first included (default 4; Runpod asks for at least 3 retries).
    pub attempts: u32,
    /// Wait between two tries (default 5 s; Runpod says 5–10 s).
    pub delay: Duration,
}

impl Default for ColdStart {
    fn default() -> Self {
        Self {
            attempts: 4,
            delay: Duration::from_secs(5),
        }
    }
}

impl ColdStart {
    /// No cold-start retries: "no workers available" is returned at once.
    pub fn disabled() -> Self {
        Self {
            attempts: 1,
            delay: Duration::ZERO,
        }
    }
}

/// Predicates for the errors only load-balancing endpoints give.
pub trait LbErrorExt {
    /// 400 `worker_timeout`: a `strict` worker did not become available in time. Also matches
    /// the problem-details form `{"status": 400, "detail": "timed out waiting for worker"}`.
    fn is_worker_timeout(&self) -> bool;
    /// 404 `affinity_worker_gone`: the `strict` worker no longer exists.
    fn is_affinity_worker_gone(&self) -> bool;
    /// `{"error": "no workers available"}`: the endpoint is scaling from zero (after the
    /// cold-start retries, when it comes from [`LbRequest::send`]).
    fn is_no_workers_available(&self) -> bool;
    /// The `X-Runpod-Worker-Id` of the answer this error came from, if any.
    fn worker_id(&self) -> Option<&str>;
}

fn error_text(err: &Error) -> Option<String> {
    let api = err.api_error()?;
    api.message
        .clone()
        .or_else(|| api.detail.clone())
        .map(|s| s.trim().to_ascii_lowercase())
}

impl LbErrorExt for Error {
    fn is_worker_timeout(&self) -> bool {
        self.status().is_some_and(|s| s.as_u16() == 400)
            && error_text(self).is_some_and(|t| {
                t == "worker_timeout" || t.contains("timed out waiting for worker")
            })
    }

    fn is_affinity_worker_gone(&self) -> bool {
        self.status().is_some_and(|s| s.as_u16() == 404)
            && error_text(self).is_some_and(|t| t == "affinity_worker_gone")
    }

    fn is_no_workers_available(&self) -> bool {
        // The answer may also come wrapped in an operation timeout's last failure.
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = current {
            if let Some(err) = err.downcast_ref::<Error>()
                && error_text(err).is_some_and(|t| t == "no workers available")
            {
                return true;
            }
            current = err.source();
        }
        false
    }

    fn worker_id(&self) -> Option<&str> {
        self.headers()?.get(WORKER_ID_HEADER)?.to_str().ok()
    }
}

/// A load-balancing endpoint: requests to `{base}/{path}`. Cheap to clone.
#[derive(Clone)]
pub struct LoadBalancer {
    /// Shared by the handle's clones and by every request made from it (a request holds the
    /// handle), so that making a request copies no strings.
    shared: Arc<Shared>,
    cold_start: ColdStart,
}

struct Shared {
    http: HttpClient,
    endpoint_id: String,
    base: String,
    /// `base` parsed once; `None` when it is not a valid URL (each request then reports it).
    parsed: Option<UrlBase>,
}

impl fmt::Debug for LoadBalancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadBalancer")
            .field("endpoint_id", &self.shared.endpoint_id)
            .field("base", &self.shared.base)
            .field("cold_start", &self.cold_start)
            .finish_non_exhaustive()
    }
}

/// The base URL of `endpoint_id` from a template.
pub(crate) fn resolve_base(template: &str, endpoint_id: &str) -> String {
    template
        .replace("{endpoint_id}", endpoint_id)
        .trim_end_matches('/')
        .to_owned()
}

impl LoadBalancer {
    pub(crate) fn new(http: HttpClient, endpoint_id: String, template: Option<&str>) -> Self {
        let from_env = std::env::var(LB_BASE_URL_ENV)
            .ok()
            .filter(|v| !v.is_empty());
        let template = template
            .map(str::to_owned)
            .or(from_env)
            .unwrap_or_else(|| DEFAULT_LB_BASE_URL.to_owned());
        let base = resolve_base(&template, &endpoint_id);
        Self {
            shared: Arc::new(Shared {
                parsed: UrlBase::parse(&base).ok(),
                base,
                http,
                endpoint_id,
            }),
            cold_start: ColdStart::default(),
        }
    }

    /// The same endpoint with another cold-start policy.
    #[must_use]
    pub fn with_cold_start(mut self, cold_start: ColdStart) -> Self {
        self.cold_start = cold_start;
        self
    }

    /// The endpoint id.
    pub fn endpoint_id(&self) -> &str {
        &self.shared.endpoint_id
    }

    /// The base URL requests go below (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.shared.base
    }

    /// The absolute URL of `path` (with or without its leading `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.shared.base, path.trim_start_matches('/'))
    }

    /// A transport request to `path` below the base: joined to the base parsed once, unless
    /// `path` carries a query or fragment (or the base did not parse), which the whole URL
    /// parse handles (and reports).
    pub(crate) fn transport_request(&self, method: Method, path: &str) -> RequestBuilder {
        match &self.shared.parsed {
            Some(base) if !path.contains(['?', '#']) => {
                self.shared.http.request_below(method, base, path)
            }
            _ => self.shared.http.request(method, self.url(path)),
        }
    }

    /// A request with any method.
    pub fn request(&self, method: runpod_transport::Method, path: &str) -> LbRequest {
        LbRequest::new(self.clone(), method, path)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> LbRequest {
        self.request(runpod_transport::Method::GET, path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> LbRequest {
        self.request(runpod_transport::Method::POST, path)
    }

    /// `PUT path`.
    pub fn put(&self, path: &str) -> LbRequest {
        self.request(runpod_transport::Method::PUT, path)
    }

    /// `PATCH path`.
    pub fn patch(&self, path: &str) -> LbRequest {
        self.request(runpod_transport::Method::PATCH, path)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> LbRequest {
        self.request(runpod_transport::Method::DELETE, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_header_values() {
        assert_eq!(Affinity::None.header_value(), None);
        assert_eq!(Affinity::prefer("w1").header_value().as_deref(), Some("w1"));
        assert_eq!(
            Affinity::strict("w1").header_value().as_deref(),
            Some("strict w1")
        );
        assert_eq!(
            Affinity::strict_resume("w1").header_value().as_deref(),
            Some("strict-resume w1")
        );
    }

    /// Paths joined to the base parsed once give the URL that parsing the whole URL gives
    /// (what every request did before), odd paths included; a query in the path still works.
    #[test]
    fn paths_below_the_parsed_base_equal_the_whole_url() {
        let http = HttpClient::new(
            runpod_transport::Config::builder()
                .with_api_key("k")
                .build()
                .unwrap(),
        )
        .unwrap();
        let template = Some("http://127.0.0.1:9/lb/{endpoint_id}/");
        let fast = LoadBalancer::new(http.clone(), "ep".into(), template);
        assert!(fast.shared.parsed.is_some());
        let mut whole = LoadBalancer::new(http, "ep".into(), template);
        Arc::get_mut(&mut whole.shared).unwrap().parsed = None;
        let url = |lb: &LoadBalancer, path: &str| {
            format!("{:?}", lb.transport_request(Method::GET, path))
        };
        for path in [
            "/v1/echo",
            "v1/echo",
            "",
            "/",
            "//double//slash",
            "/v1/a b/é",
            "/v1/../x",
            "/v1/%2F%2e%2E/y",
            "/v1/x\\y",
            "/v1/x?a=1&b=%20",
            "/v1/x#frag",
        ] {
            assert_eq!(url(&fast, path), url(&whole, path), "{path}");
        }
        assert!(url(&fast, "/v1/a b/é").contains("\"/lb/ep/v1/a%20b/%C3%A9\""));
        assert!(url(&fast, "/v1/x?a=1").contains("\"/lb/ep/v1/x\""));
    }

    #[test]
    fn base_urls_come_from_the_template() {
        assert_eq!(
            resolve_base(DEFAULT_LB_BASE_URL, "abc"),
            "https://abc.api.runpod.ai"
        );
        assert_eq!(
            resolve_base("http://127.0.0.1:8000/lb/{endpoint_id}/", "abc"),
            "http://127.0.0.1:8000/lb/abc"
        );
        assert_eq!(resolve_base("http://gw:1", "abc"), "http://gw:1");
    }
}
