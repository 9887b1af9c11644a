//! Shared test helpers: a client aimed at a mock server and a request recorder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::{HttpMockRequest, MockServer};
use runpod_admin::AdminClient;
use runpod_transport::{Config, HttpClient, RetryPolicy};
use serde_json::{Value, json};

pub(crate) const KEY: &str = "test-key";

/// A client for `server` that never retries (tests that want retries say so per call) and has
/// no timers of its own, so it also behaves under paused time.
pub(crate) fn client(server: &MockServer) -> AdminClient {
    client_with(server, RetryPolicy::none())
}

pub(crate) fn client_with(server: &MockServer, retry: RetryPolicy) -> AdminClient {
    let config = Config::builder()
        .with_api_key(KEY)
        .with_rest_base_url(server.base_url())
        .with_graphql_url(server.url("/graphql"))
        .with_retry_policy(retry)
        .with_connect_timeout(None)
        .with_attempt_timeout(None)
        .build()
        .unwrap();
    AdminClient::new(HttpClient::new(config).unwrap())
}

/// The parts of a request the wire tests look at.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// Path as sent (percent-encoding kept).
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    /// The query string exactly as it went over the wire (percent-encoding kept).
    #[serde(skip)]
    pub(crate) raw_query: Option<String>,
    /// Only the headers the API contract is about (not user-agent, host, …).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Value>,
}

const HEADERS: &[&str] = &["authorization", "content-type", "accept", "last-event-id"];

impl Recorded {
    fn from(req: &HttpMockRequest) -> Self {
        let mut headers: Vec<(String, String)> = req
            .headers_vec()
            .iter()
            .filter(|(k, _)| HEADERS.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        headers.sort();
        let body = req.body_ref();
        Self {
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            query: req.query_params(),
            raw_query: req.uri().query().map(str::to_owned),
            headers,
            body: (!body.is_empty()).then(|| {
                serde_json::from_slice(body)
                    .unwrap_or_else(|_| json!(String::from_utf8_lossy(body)))
            }),
        }
    }
}

/// Collects every request a mock matched (through `when.is_true(recorder.matcher())`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder(Arc<Mutex<Vec<Recorded>>>);

impl Recorder {
    pub(crate) fn matcher(&self) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
        let seen = self.0.clone();
        move |req| {
            seen.lock().unwrap().push(Recorded::from(req));
            true
        }
    }

    /// Matches (and records) only requests whose body contains `needle`.
    pub(crate) fn matcher_if_body_has(
        &self,
        needle: String,
    ) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
        let seen = self.0.clone();
        move |req| {
            let hit = String::from_utf8_lossy(req.body_ref()).contains(&needle);
            if hit {
                seen.lock().unwrap().push(Recorded::from(req));
            }
            hit
        }
    }

    pub(crate) fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A response fixture of `tests/fixtures/rest_v2/` (written by `cargo xtask codegen` from the
/// spec's examples).
pub(crate) fn fixture(operation_id: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/rest_v2/{operation_id}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A problem+json error body as REST v2 sends it.
pub(crate) fn problem(status: u16, title: &str, detail: &str) -> Value {
    json!({ "title": title, "status": status, "detail": detail })
}

pub(crate) const SECOND: Duration = Duration::from_secs(1);
