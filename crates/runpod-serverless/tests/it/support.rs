//! Shared helpers: a client pointed at a mock server, request capture, waiting for hits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::{HttpMockRequest, Mock, MockServer};
use runpod_serverless::{Config, PollPolicy, RateLimits, ServerlessClient};
use runpod_transport::RetryPolicy;
use serde_json::Value;

pub(crate) const KEY: &str = "test-key";
pub(crate) const EP: &str = "ep-1";

/// Transport config for tests: fast retries without jitter, and no per-attempt or connect timer
/// (paused-time tests would otherwise jump straight to it while a loopback answer is in flight).
pub(crate) fn config(server: &MockServer) -> Config {
    Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(server.url("/v2"))
        .with_retry_policy(fast_retries())
        .with_attempt_timeout(None)
        .with_connect_timeout(None)
        .build()
        .unwrap()
}

pub(crate) fn fast_retries() -> RetryPolicy {
    RetryPolicy::builder()
        .with_max_attempts(3)
        .with_initial_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(5))
        .with_jitter(false)
        .build()
        .unwrap()
}

/// A client with quick polling and no client-side limits.
pub(crate) fn client(server: &MockServer) -> ServerlessClient {
    client_with(config(server), fast_poll())
}

/// A client with this config and poll policy, and no client-side limits.
pub(crate) fn client_with(config: Config, poll: PollPolicy) -> ServerlessClient {
    ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(poll)
        .with_rate_limits(RateLimits::disabled())
        .build()
        .unwrap()
}

pub(crate) fn fast_poll() -> PollPolicy {
    PollPolicy::fixed(Duration::from_millis(2))
}

/// `/v2/{EP}/{rest}`.
pub(crate) fn path(rest: &str) -> String {
    format!("/v2/{EP}/{rest}")
}

/// `method /v2/{EP}/{rest}` answers `status` with no body.
pub(crate) async fn answers_status<'a>(
    server: &'a MockServer,
    method: &str,
    rest: &str,
    status: u16,
) -> Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(method).path(path(rest));
            then.status(status);
        })
        .await
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) authorization: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

impl Seen {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Records every request whose method and path match (checked inside, because httpmock may ask
/// a custom matcher about requests meant for other mocks).
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub(crate) fn matcher(
        &self,
        method: &'static str,
        path: String,
    ) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
        let seen = Arc::clone(&self.seen);
        move |req: &HttpMockRequest| {
            if req.method_str().eq_ignore_ascii_case(method) && req.uri().path() == path {
                let headers = req.headers();
                let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().push(Seen {
                    method: req.method_str().to_owned(),
                    uri: req
                        .uri()
                        .path_and_query()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    authorization: header("authorization"),
                    user_agent: header("user-agent"),
                    content_type: header("content-type"),
                    body: req.body_vec(),
                });
            }
            true
        }
    }

    pub(crate) fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn only(&self) -> Seen {
        let all = self.all();
        assert_eq!(all.len(), 1, "expected exactly one request, saw {all:#?}");
        all.into_iter().next().unwrap()
    }
}

/// Checks the headers every client call carries.
pub(crate) fn assert_client_headers(seen: &Seen, config: &Config) {
    assert_eq!(
        seen.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str()),
        "{seen:?}"
    );
    assert_eq!(
        seen.user_agent.as_deref(),
        Some(config.user_agent()),
        "{seen:?}"
    );
}

/// Waits (bounded) until a mock was hit at least `n` times.
pub(crate) async fn calls_at_least(mock: &Mock<'_>, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while mock.calls_async().await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "mock not hit {n} times in time"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `GET /status/{id}` answering 200 with `body`.
pub(crate) async fn status_answers<'a>(server: &'a MockServer, id: &str, body: Value) -> Mock<'a> {
    let p = path(&format!("status/{id}"));
    server
        .mock_async(|when, then| {
            when.method("GET").path(p);
            then.status(200).json_body(body);
        })
        .await
}

/// A job object as the queue API returns it.
pub(crate) fn job(id: &str, status: &str) -> Value {
    serde_json::json!({"id": id, "status": status})
}

/// Collects a stream that must end by itself; a stream that polls forever fails the test
/// instead of hanging it.
pub(crate) async fn collect_ending<S: futures_util::Stream + Unpin>(stream: S) -> Vec<S::Item> {
    use futures_util::StreamExt as _;
    tokio::time::timeout(Duration::from_secs(20), stream.collect())
        .await
        .expect("the stream did not end")
}
