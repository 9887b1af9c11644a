//! The one error type of the SDK, its kinds and the [`Report`] printer.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::api_error::ApiError;
use crate::rate_limit::RateLimit;
use crate::retry::{self, Failure, Retryable};

/// A boxed error usable as a source.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Bodies kept in errors are cut to this many bytes.
pub(crate) const BODY_LIMIT: usize = 4096;

/// Which of the SDK's failures an [`Error`] is. Prefer the `is_*` predicates; match on this
/// when a `match` reads better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Configuration is missing or invalid (no API key, bad URL, bad retry policy).
    Config,
    /// A request argument was rejected before anything was sent.
    InvalidInput,
    /// No connection could be made; the request never reached the server.
    Connect,
    /// An attempt, the whole operation, or a wait for a job ran out of time.
    Timeout,
    /// The connection broke after it was made (reset, closed, incomplete body).
    Network,
    /// The server answered with a non-success HTTP status.
    Status,
    /// A body could not be decoded into the expected type.
    Decode,
    /// A GraphQL response (HTTP 200) carried `errors`.
    GraphQl,
    /// A job ended in `FAILED`.
    JobFailed,
    /// A job ended in `CANCELLED`.
    JobCancelled,
    /// A job ended in `TIMED_OUT` (its execution timeout on the server).
    JobTimedOut,
    /// A resource being waited for (a pod) reached a state it will not leave by itself.
    UnexpectedState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeoutScope {
    Attempt(Duration),
    Operation(Duration),
    Wait,
}

#[derive(Debug, Clone)]
struct Body {
    text: String,
    total_len: usize,
}

struct Inner {
    kind: ErrorKind,
    source: Option<BoxError>,
    message: Option<String>,
    timeout: Option<TimeoutScope>,
    request: Option<String>,
    status: Option<StatusCode>,
    headers: Option<HeaderMap>,
    body: Option<Body>,
    api_error: Option<ApiError>,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    json_path: Option<String>,
    attempts: Option<u32>,
    job_id: Option<String>,
    job_status: Option<String>,
    job_error: Option<Value>,
}

/// The error of every fallible call in the SDK.
///
/// Opaque: ask it with the `is_*` predicates and accessors, or [`kind`](Self::kind). `Display`
/// is a short lowercase phrase; the cause is reached through
/// [`source`](std::error::Error::source), and [`Report`] prints the whole chain with the
/// status, request id and server error detail.
///
/// ```
/// use runpod_transport::{Error, Report};
///
/// let err = Error::invalid_input("ttl must be positive");
/// assert!(err.is_invalid_input());
/// assert!(!err.is_retryable());
/// assert_eq!(err.to_string(), "invalid input: ttl must be positive");
/// assert_eq!(Report(&err).to_string(), "invalid input: ttl must be positive");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                source: None,
                message: None,
                timeout: None,
                request: None,
                status: None,
                headers: None,
                body: None,
                api_error: None,
                retry_after: None,
                request_id: None,
                json_path: None,
                attempts: None,
                job_id: None,
                job_status: None,
                job_error: None,
            }),
        }
    }

    // ----- constructors used inside this crate -----

    pub(crate) fn config(message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorKind::Config);
        e.inner.message = Some(message.into());
        e
    }

    pub(crate) fn config_with_source(
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::config(message).with_source(source)
    }

    pub(crate) fn invalid_input_with_source(
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::invalid_input(message).with_source(source)
    }

    pub(crate) fn from_failure(failure: Failure, source: impl Into<BoxError>) -> Self {
        let kind = match failure {
            Failure::Connect => ErrorKind::Connect,
            Failure::Timeout => ErrorKind::Timeout,
            Failure::Decode => ErrorKind::Decode,
            Failure::Builder => ErrorKind::InvalidInput,
            Failure::Network | Failure::Redirect | Failure::Status(_) => ErrorKind::Network,
        };
        let mut e = Self::new(kind).with_source(source);
        match failure {
            Failure::Builder => e.inner.message = Some("the request could not be built".into()),
            Failure::Redirect => e.inner.message = Some("redirect failed".into()),
            _ => {}
        }
        e
    }

    pub(crate) fn attempt_timeout(after: Duration) -> Self {
        let mut e = Self::new(ErrorKind::Timeout);
        e.inner.timeout = Some(TimeoutScope::Attempt(after));
        e
    }

    pub(crate) fn operation_timeout(after: Duration, last: Option<Error>) -> Self {
        let mut e = Self::new(ErrorKind::Timeout);
        e.inner.timeout = Some(TimeoutScope::Operation(after));
        if let Some(last) = last {
            e = e.with_source(last);
        }
        e
    }

    pub(crate) fn http_status(status: StatusCode, headers: HeaderMap, body: &[u8]) -> Self {
        let mut e = Self::new(ErrorKind::Status);
        e.inner.status = Some(status);
        e.inner.api_error = ApiError::from_body(body);
        e.inner.retry_after = retry_after_of(&headers);
        e.inner.request_id = request_id_of(&headers);
        e.inner.headers = Some(headers);
        e.inner.body = Some(truncate_body(body));
        e
    }

    pub(crate) fn graphql(api_error: ApiError, headers: HeaderMap, body: &[u8]) -> Self {
        let mut e = Self::new(ErrorKind::GraphQl);
        e.inner.status = Some(StatusCode::OK);
        e.inner.api_error = Some(api_error);
        e.inner.request_id = request_id_of(&headers);
        e.inner.headers = Some(headers);
        e.inner.body = Some(truncate_body(body));
        e
    }

    /// A decode failure; `what` names the thing decoded ("response body", "value").
    pub(crate) fn decode(
        what: &'static str,
        err: serde_path_to_error::Error<serde_json::Error>,
        body: &[u8],
    ) -> Self {
        let path = err.path().to_string();
        let mut e = Self::new(ErrorKind::Decode).with_source(err.into_inner());
        e.inner.message = Some(what.to_owned());
        e.inner.json_path = (path != ".").then_some(path);
        e.inner.body = Some(truncate_body(body));
        e
    }

    pub(crate) fn decode_message(what: impl Into<String>, body: &[u8]) -> Self {
        let mut e = Self::new(ErrorKind::Decode);
        e.inner.message = Some(what.into());
        e.inner.body = Some(truncate_body(body));
        e
    }

    /// Adds response context (status, headers, request id) to a decode error.
    pub(crate) fn with_response(mut self, status: StatusCode, headers: &HeaderMap) -> Self {
        self.inner.status.get_or_insert(status);
        if self.inner.request_id.is_none() {
            self.inner.request_id = request_id_of(headers);
        }
        if self.inner.headers.is_none() {
            self.inner.headers = Some(headers.clone());
        }
        self
    }

    pub(crate) fn with_request(mut self, method: &http::Method, path: &str) -> Self {
        self.inner
            .request
            .get_or_insert_with(|| format!("{method} {path}"));
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = Some(attempts);
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The retry classification of this error, if it came from an attempt.
    pub(crate) fn failure(&self) -> Option<Failure> {
        match self.kind() {
            ErrorKind::Connect => Some(Failure::Connect),
            ErrorKind::Network => Some(Failure::Network),
            ErrorKind::Timeout => match self.inner.timeout {
                Some(TimeoutScope::Attempt(_)) | Some(TimeoutScope::Operation(_)) => {
                    Some(Failure::Timeout)
                }
                _ => None,
            },
            ErrorKind::Status => self.inner.status.map(Failure::Status),
            ErrorKind::Decode => Some(Failure::Decode),
            _ => None,
        }
    }

    // ----- public constructors for higher crates -----

    /// A request argument failed validation before anything was sent.
    pub fn invalid_input(message: impl Into<String>) -> Error {
        let mut e = Self::new(ErrorKind::InvalidInput);
        e.inner.message = Some(message.into());
        e
    }

    /// A job reached a failed terminal state: `status` is the wire status (`FAILED`,
    /// `CANCELLED`, `TIMED_OUT`; anything else counts as failed). `error` is the job's error
    /// field; a JSON string holding an object (what the Python worker sends) is parsed.
    ///
    /// ```
    /// use serde_json::json;
    /// let err = runpod_transport::Error::job_ended(
    ///     "job-1",
    ///     "FAILED",
    ///     Some(json!("{\"error_type\": \"ValueError\", \"error_message\": \"bad\"}")),
    /// );
    /// assert!(err.is_job_failed() && err.is_job_outcome());
    /// assert_eq!(err.job_id(), Some("job-1"));
    /// assert_eq!(err.job_error().unwrap()["error_type"], "ValueError");
    /// ```
    pub fn job_ended(job_id: impl Into<String>, status: &str, error: Option<Value>) -> Error {
        let kind = match status {
            "CANCELLED" => ErrorKind::JobCancelled,
            "TIMED_OUT" => ErrorKind::JobTimedOut,
            _ => ErrorKind::JobFailed,
        };
        let mut e = Self::new(kind);
        e.inner.job_id = Some(job_id.into());
        e.inner.job_status = Some(status.to_owned());
        e.inner.job_error = error.filter(|v| !v.is_null()).map(parse_job_error);
        e
    }

    /// A resource being waited for reached a state it will not leave by itself, e.g. a pod
    /// that went to `EXITED` while we waited for `RUNNING`. `resource` names what it is
    /// (`"pod"`); [`job_id`](Self::job_id) holds its id and [`state`](Self::state) the state.
    ///
    /// ```
    /// let e = runpod_transport::Error::unexpected_state("pod", "p1", "EXITED");
    /// assert!(e.is_unexpected_state() && !e.is_job_outcome());
    /// assert_eq!(e.to_string(), "pod p1 reached EXITED");
    /// assert_eq!((e.job_id(), e.state()), (Some("p1"), Some("EXITED")));
    /// ```
    pub fn unexpected_state(resource: &str, id: impl Into<String>, state: &str) -> Error {
        let mut e = Self::new(ErrorKind::UnexpectedState);
        e.inner.message = Some(resource.to_owned());
        e.inner.job_id = Some(id.into());
        e.inner.job_status = Some(state.to_owned());
        e
    }

    /// Waiting for a job ran out of time (the job itself may still be running).
    ///
    /// ```
    /// let err = runpod_transport::Error::wait_timeout("job-1");
    /// assert!(err.is_timeout());
    /// assert_eq!(err.job_id(), Some("job-1"));
    /// ```
    pub fn wait_timeout(job_id: impl Into<String>) -> Error {
        let mut e = Self::new(ErrorKind::Timeout);
        e.inner.timeout = Some(TimeoutScope::Wait);
        e.inner.job_id = Some(job_id.into());
        e
    }

    /// A response stream ended before its end marker: the server (or something between) cut
    /// it. A network failure ([`is_network`](Self::is_network)) whose `Display` is `message`.
    ///
    /// ```
    /// let e = runpod_transport::Error::stream_cut("the event stream ended before [DONE]");
    /// assert!(e.is_network());
    /// assert_eq!(e.to_string(), "the event stream ended before [DONE]");
    /// ```
    pub fn stream_cut(message: impl Into<String>) -> Error {
        let mut e = Self::new(ErrorKind::Network);
        e.inner.message = Some(message.into());
        e
    }

    /// An error the server sent inside a response whose status said success, such as a
    /// `data: {"error": …}` event in an OpenAI stream. [`is_status`](Self::is_status), with the
    /// response's `status`; `body` is parsed like any error body ([`api_error`](Self::api_error)).
    ///
    /// ```
    /// use runpod_transport::{Error, StatusCode};
    /// let e = Error::in_band(StatusCode::OK, br#"{"error": {"message": "bad prompt"}}"#);
    /// assert!(e.is_status() && !e.is_retryable());
    /// assert_eq!(e.api_error().unwrap().message.as_deref(), Some("bad prompt"));
    /// ```
    pub fn in_band(status: StatusCode, body: &[u8]) -> Error {
        Self::http_status(status, HeaderMap::new(), body)
    }

    /// Attaches the id of the job this error concerns.
    #[must_use]
    pub fn with_job_id(mut self, job_id: impl Into<String>) -> Error {
        self.inner.job_id = Some(job_id.into());
        self
    }

    // ----- predicates -----

    /// Which failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// An attempt, the operation deadline, or a wait for a job timed out.
    ///
    /// ```
    /// assert!(runpod_transport::Error::wait_timeout("j").is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// No connection could be made (the request never reached the server).
    ///
    /// ```no_run
    /// # async fn f(client: runpod_transport::HttpClient) {
    /// use runpod_transport::Method;
    /// let url = "https://api.runpod.io/v2/pods/p1";
    /// let Err(e) = client.request(Method::GET, url).send().await else { return };
    /// if e.is_connect() {
    ///     eprintln!("is the endpoint reachable?");
    /// }
    /// # }
    /// ```
    pub fn is_connect(&self) -> bool {
        self.kind() == ErrorKind::Connect
    }

    /// The connection broke after the request was sent (reset, cut-short answer): the server
    /// may or may not have acted on it. For a non-idempotent call such as `/run` this is the
    /// "outcome unknown" case: look the result up rather than resending.
    ///
    /// ```no_run
    /// # async fn f(client: runpod_transport::HttpClient) {
    /// use runpod_transport::Method;
    /// let url = "https://api.runpod.ai/v2/ep/run";
    /// let Err(e) = client.request(Method::POST, url).send().await else { return };
    /// if e.is_network() {
    ///     eprintln!("the job may exist: check before submitting again");
    /// }
    /// # }
    /// ```
    pub fn is_network(&self) -> bool {
        self.kind() == ErrorKind::Network
    }

    /// The server answered with a non-success status; see [`status`](Self::status).
    ///
    /// ```no_run
    /// # async fn f(client: runpod_transport::HttpClient) {
    /// use runpod_transport::Method;
    /// let url = "https://api.runpod.io/v2/pods/p1";
    /// let Err(e) = client.request(Method::GET, url).send().await else { return };
    /// if e.is_status() {
    ///     eprintln!("status {:?}, body {:?}", e.status(), e.body());
    /// }
    /// # }
    /// ```
    pub fn is_status(&self) -> bool {
        self.kind() == ErrorKind::Status
    }

    /// HTTP 429; [`retry_after`](Self::retry_after) says how long to wait.
    ///
    /// ```no_run
    /// # async fn f(client: runpod_transport::HttpClient) {
    /// use runpod_transport::Method;
    /// let url = "https://api.runpod.io/v2/pods/p1";
    /// let Err(e) = client.request(Method::GET, url).send().await else { return };
    /// if e.is_rate_limited() {
    ///     tokio::time::sleep(e.retry_after().unwrap_or_default()).await;
    /// }
    /// # }
    /// ```
    pub fn is_rate_limited(&self) -> bool {
        self.is_status() && self.status() == Some(StatusCode::TOO_MANY_REQUESTS)
    }

    /// HTTP 404.
    ///
    /// ```no_run
    /// # async fn f(client: runpod_transport::HttpClient) {
    /// use runpod_transport::Method;
    /// let url = "https://api.runpod.io/v2/pods/p1";
    /// let Err(e) = client.request(Method::GET, url).send().await else { return };
    /// if e.is_not_found() {
    ///     eprintln!("no such pod");
    /// }
    /// # }
    /// ```
    pub fn is_not_found(&self) -> bool {
        self.is_status() && self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// HTTP 401: the key is missing, wrong or revoked.
    ///
    /// ```no_run
    /// # async fn f(client: runpod_transport::HttpClient) {
    /// use runpod_transport::Method;
    /// let url = "https://api.runpod.io/v2/pods/p1";
    /// let Err(e) = client.request(Method::GET, url).send().await else { return };
    /// if e.is_unauthorized() {
    ///     eprintln!("check RUNPOD_API_KEY");
    /// }
    /// # }
    /// ```
    pub fn is_unauthorized(&self) -> bool {
        self.is_status() && self.status() == Some(StatusCode::UNAUTHORIZED)
    }

    /// HTTP 403: the key is valid but lacks access.
    ///
    /// ```no_run
    /// # async fn f(client: runpod_transport::HttpClient) {
    /// use runpod_transport::Method;
    /// let url = "https://api.runpod.io/v2/pods/p1";
    /// let Err(e) = client.request(Method::GET, url).send().await else { return };
    /// if e.is_forbidden() {
    ///     eprintln!("the key lacks access to this pod");
    /// }
    /// # }
    /// ```
    pub fn is_forbidden(&self) -> bool {
        self.is_status() && self.status() == Some(StatusCode::FORBIDDEN)
    }

    /// A body did not match the expected type; [`body`](Self::body) holds what came.
    ///
    /// ```
    /// let e = runpod_transport::from_value::<u32>(serde_json::json!("x")).unwrap_err();
    /// assert!(e.is_decode());
    /// assert_eq!(e.body(), Some("\"x\""));
    /// ```
    pub fn is_decode(&self) -> bool {
        self.kind() == ErrorKind::Decode
    }

    /// Another attempt may succeed: 408, 429, 5xx, connect failures, attempt timeouts,
    /// broken connections.
    ///
    /// ```
    /// use runpod_transport::Error;
    /// assert!(!Error::invalid_input("x").is_retryable());
    /// assert!(!Error::wait_timeout("job").is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.failure()
            .is_some_and(|f| retry::classify(f) == Retryable::Transient)
    }

    /// Configuration is missing or invalid.
    ///
    /// ```
    /// use runpod_transport::RetryPolicy;
    /// let err = RetryPolicy::builder().with_max_attempts(0).build().unwrap_err();
    /// assert!(err.is_config());
    /// ```
    pub fn is_config(&self) -> bool {
        self.kind() == ErrorKind::Config
    }

    /// An argument was rejected before sending.
    ///
    /// ```
    /// assert!(runpod_transport::Error::invalid_input("ttl < 0").is_invalid_input());
    /// ```
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// A GraphQL response carried `errors`; see [`api_error`](Self::api_error).
    ///
    /// ```no_run
    /// # async fn f<Q: graphql_client::GraphQLQuery>(client: runpod_transport::HttpClient, vars: Q::Variables) {
    /// if let Err(e) = client.graphql::<Q>(vars).send().await
    ///     && e.is_graphql()
    /// {
    ///     for item in &e.api_error().unwrap().errors {
    ///         eprintln!("{item}");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn is_graphql(&self) -> bool {
        self.kind() == ErrorKind::GraphQl
    }

    /// The job ended in `FAILED`; see [`job_error`](Self::job_error).
    ///
    /// ```
    /// let e = runpod_transport::Error::job_ended("j", "FAILED", None);
    /// assert!(e.is_job_failed() && !e.is_job_cancelled());
    /// ```
    pub fn is_job_failed(&self) -> bool {
        self.kind() == ErrorKind::JobFailed
    }

    /// The job was cancelled.
    ///
    /// ```
    /// let e = runpod_transport::Error::job_ended("j", "CANCELLED", None);
    /// assert!(e.is_job_cancelled() && !e.is_job_failed());
    /// ```
    pub fn is_job_cancelled(&self) -> bool {
        self.kind() == ErrorKind::JobCancelled
    }

    /// The job hit its execution timeout on the server.
    ///
    /// ```
    /// let e = runpod_transport::Error::job_ended("j", "TIMED_OUT", None);
    /// assert!(e.is_job_timed_out() && !e.is_timeout());
    /// ```
    pub fn is_job_timed_out(&self) -> bool {
        self.kind() == ErrorKind::JobTimedOut
    }

    /// A resource being waited for reached a state it will not leave by itself; see
    /// [`unexpected_state`](Self::unexpected_state).
    pub fn is_unexpected_state(&self) -> bool {
        self.kind() == ErrorKind::UnexpectedState
    }

    /// The state of the job or resource this error concerns, as the server spelled it.
    pub fn state(&self) -> Option<&str> {
        self.inner.job_status.as_deref()
    }

    /// The job ended unsuccessfully (failed, cancelled or timed out).
    ///
    /// ```
    /// use runpod_transport::Error;
    /// assert!(Error::job_ended("j", "CANCELLED", None).is_job_outcome());
    /// assert!(!Error::wait_timeout("j").is_job_outcome());
    /// ```
    pub fn is_job_outcome(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::JobFailed | ErrorKind::JobCancelled | ErrorKind::JobTimedOut
        )
    }

    // ----- accessors -----

    /// The HTTP status of the response that failed (status, GraphQL and decode errors).
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The server's structured error body, when it sent one.
    pub fn api_error(&self) -> Option<&ApiError> {
        self.inner.api_error.as_ref()
    }

    /// The server's `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The `x-request-id` / `request-id` response header, for support requests.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// The response headers of a failed response.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.inner.headers.as_ref()
    }

    /// The rate-limit headers of a failed response.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.inner
            .headers
            .as_ref()
            .and_then(RateLimit::from_headers)
    }

    /// The raw body (first 4 KiB) of a failed response or of a value that did not decode.
    pub fn body(&self) -> Option<&str> {
        self.inner.body.as_ref().map(|b| b.text.as_str())
    }

    /// The JSON path at which decoding failed (`pods[0].gpuCount`).
    pub fn json_path(&self) -> Option<&str> {
        self.inner.json_path.as_deref()
    }

    /// Attempts made before giving up, when retries were involved.
    pub fn attempts(&self) -> Option<u32> {
        self.inner.attempts
    }

    /// The job this error concerns (job outcomes, waits, and errors tagged with
    /// [`with_job_id`](Self::with_job_id)).
    pub fn job_id(&self) -> Option<&str> {
        self.inner.job_id.as_deref()
    }

    /// The job's error as the worker reported it (a JSON string holding JSON is parsed).
    pub fn job_error(&self) -> Option<&Value> {
        self.inner.job_error.as_ref()
    }

    fn detail_lines(&self, out: &mut Vec<String>) {
        let i = &self.inner;
        if let Some(r) = &i.request {
            out.push(format!("request: {r}"));
        }
        if let Some(s) = i.status
            && self.kind() != ErrorKind::Status
        {
            out.push(format!("status: {s}"));
        }
        if let Some(id) = &i.request_id {
            out.push(format!("request id: {id}"));
        }
        if let Some(n) = i.attempts {
            out.push(format!("attempts: {n}"));
        }
        if let Some(d) = i.retry_after {
            out.push(format!("retry after: {d:?}"));
        }
        if let Some(api) = &i.api_error {
            // Title, detail and message are in the Display line already.
            if let Some(t) = &api.type_ {
                out.push(format!("api error type: {t}"));
            }
            for item in &api.errors {
                out.push(format!("- {item}"));
            }
        }
        if let Some(st) = &i.job_status {
            out.push(format!("job status: {st}"));
        }
        if let Some(je) = &i.job_error {
            out.push(format!("job error: {}", describe_job_error(je)));
        }
        if let Some(b) = &i.body
            && i.api_error.is_none()
            && !b.text.is_empty()
        {
            const SHOWN: usize = 1024;
            let shown = cut_at_char(&b.text, SHOWN);
            let more = if b.total_len > shown.len() {
                format!(" [{} of {} bytes]", shown.len(), b.total_len)
            } else {
                String::new()
            };
            out.push(format!("body: {}{more}", one_line(shown)));
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let msg = i.message.as_deref().unwrap_or_default();
        let job = i
            .job_id
            .as_deref()
            .map(|j| format!(" {j}"))
            .unwrap_or_default();
        match self.kind() {
            ErrorKind::Config => write!(f, "invalid configuration: {msg}"),
            ErrorKind::InvalidInput => write!(f, "invalid input: {msg}"),
            ErrorKind::Connect => f.write_str("failed to connect"),
            ErrorKind::Network if !msg.is_empty() => f.write_str(msg),
            ErrorKind::Network => f.write_str("connection failed during the request"),
            ErrorKind::Timeout => match i.timeout {
                Some(TimeoutScope::Attempt(d)) => {
                    write!(f, "request attempt timed out after {d:?}")
                }
                Some(TimeoutScope::Operation(d)) => {
                    write!(f, "operation deadline of {d:?} exceeded")
                }
                Some(TimeoutScope::Wait) | None => write!(f, "timed out waiting for job{job}"),
            },
            ErrorKind::Status => {
                let status = i.status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                write!(f, "http status {}", status.as_u16())?;
                if let Some(reason) = status.canonical_reason() {
                    write!(f, " ({})", reason.to_lowercase())?;
                }
                if let Some(summary) = i.api_error.as_ref().and_then(|a| status_summary(a, status))
                {
                    write!(f, ": {}", one_line(cut_at_char(&summary, 200)))?;
                }
                Ok(())
            }
            ErrorKind::Decode => {
                write!(
                    f,
                    "failed to decode {}",
                    if msg.is_empty() { "body" } else { msg }
                )?;
                if let Some(p) = &i.json_path {
                    write!(f, " at `{p}`")?;
                }
                Ok(())
            }
            ErrorKind::GraphQl => {
                f.write_str("graphql errors")?;
                if let Some(api) = &i.api_error {
                    write!(f, ": {api}")?;
                }
                Ok(())
            }
            ErrorKind::JobFailed => match i.job_status.as_deref() {
                Some(s) if s != "FAILED" => write!(f, "job{job} ended with status {s}"),
                _ => write!(f, "job{job} failed"),
            },
            ErrorKind::JobCancelled => write!(f, "job{job} was cancelled"),
            ErrorKind::JobTimedOut => write!(f, "job{job} timed out"),
            ErrorKind::UnexpectedState => write!(
                f,
                "{}{job} reached {}",
                i.message.as_deref().unwrap_or("resource"),
                i.job_status.as_deref().unwrap_or("an unexpected state")
            ),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind());
        if let Some(m) = &i.message {
            d.field("message", m);
        }
        if let Some(t) = &i.timeout {
            d.field("timeout", t);
        }
        if let Some(r) = &i.request {
            d.field("request", r);
        }
        if let Some(s) = &i.status {
            d.field("status", s);
        }
        if let Some(a) = &i.api_error {
            d.field("api_error", a);
        }
        if let Some(r) = &i.request_id {
            d.field("request_id", r);
        }
        if let Some(p) = &i.json_path {
            d.field("json_path", p);
        }
        if let Some(j) = &i.job_id {
            d.field("job_id", j);
        }
        if let Some(s) = &i.source {
            d.field("source", s);
        }
        d.finish_non_exhaustive()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Prints an error with its whole source chain on the first line, then what the SDK knows
/// about each [`Error`] in the chain (request, request id, attempts, server error detail, JSON
/// path, job error, body) on indented lines.
///
/// ```
/// use runpod_transport::{Error, Report};
/// let err = Error::wait_timeout("job-1");
/// println!("{}", Report(&err));
/// ```
#[derive(Clone, Copy)]
pub struct Report<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        let mut current: Option<&(dyn StdError + 'static)> = Some(self.0);
        let mut first = true;
        while let Some(err) = current {
            if !first {
                f.write_str(": ")?;
            }
            write!(f, "{err}")?;
            if let Some(ours) = err.downcast_ref::<Error>() {
                ours.detail_lines(&mut lines);
            }
            first = false;
            current = err.source();
        }
        for line in lines {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// The server's explanation, without a title that merely repeats the status reason.
fn status_summary(api: &ApiError, status: StatusCode) -> Option<String> {
    let reason = status.canonical_reason().unwrap_or_default();
    match &api.title {
        Some(t) if t.eq_ignore_ascii_case(reason) => api
            .detail
            .clone()
            .or_else(|| api.message.clone())
            .or_else(|| api.errors.first().map(|e| e.message.clone())),
        _ => api.summary(),
    }
}

fn parse_job_error(v: Value) -> Value {
    if let Value::String(s) = &v
        && let Ok(parsed @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(s)
    {
        return parsed;
    }
    v
}

fn describe_job_error(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let text = match (s("error_type"), s("error_message")) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (None, Some(m)) => m.to_owned(),
        _ => match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    };
    one_line(cut_at_char(&text, 1024))
}

pub(crate) fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let date = headers
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok());
    retry::parse_retry_after(value, date, retry::wall_clock)
}

fn request_id_of(headers: &HeaderMap) -> Option<String> {
    ["x-request-id", "request-id"]
        .iter()
        .find_map(|h| headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn truncate_body(body: &[u8]) -> Body {
    let cut = &body[..body.len().min(BODY_LIMIT)];
    let text = match std::str::from_utf8(cut) {
        Ok(s) => s.to_owned(),
        // Either invalid UTF-8 or a character split by the cut: keep the valid prefix, and
        // mark the rest lossy only when the prefix is not just a split character.
        Err(e) if cut.len() - e.valid_up_to() < 4 && e.error_len().is_none() => {
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(cut).into_owned(),
    };
    Body {
        text,
        total_len: body.len(),
    }
}

fn cut_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn one_line(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_error() -> Error {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            n: u32,
        }
        let body = br#"{"n":"x"}"#;
        let mut de = serde_json::Deserializer::from_slice(body);
        let err = serde_path_to_error::deserialize::<_, T>(&mut de).unwrap_err();
        Error::decode("response body", err, body)
    }

    fn one_of_each_kind() -> Vec<Error> {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused by peer");
        vec![
            Error::config("no API key"),
            Error::config_with_source("cannot read ~/.runpod/config.toml", io()),
            Error::invalid_input("bad"),
            Error::invalid_input_with_source("cannot encode the request body", io()),
            Error::from_failure(Failure::Connect, io()),
            Error::from_failure(Failure::Network, io()),
            Error::from_failure(Failure::Redirect, io()),
            Error::from_failure(Failure::Builder, io()),
            Error::from_failure(Failure::Decode, io()),
            Error::attempt_timeout(Duration::from_secs(30)),
            Error::operation_timeout(
                Duration::from_secs(1),
                Some(Error::http_status(
                    StatusCode::BAD_GATEWAY,
                    HeaderMap::new(),
                    b"x",
                )),
            ),
            Error::wait_timeout("job-1"),
            Error::http_status(
                StatusCode::NOT_FOUND,
                HeaderMap::new(),
                br#"{"message":"pod not found"}"#,
            ),
            Error::graphql(
                ApiError::from_value(&json!({"errors":[{"message":"boom"}]})).unwrap(),
                HeaderMap::new(),
                b"{}",
            ),
            decode_error(),
            Error::decode_message("graphql response without data", b"{}"),
            Error::job_ended("j", "FAILED", Some(json!("oops"))),
            Error::job_ended("j", "CANCELLED", None),
            Error::job_ended("j", "TIMED_OUT", None),
            Error::unexpected_state("pod", "p1", "EXITED"),
        ]
    }

    #[test]
    fn display_is_lowercase_and_never_repeats_the_source() {
        let mut kinds = std::collections::HashSet::new();
        for e in one_of_each_kind() {
            kinds.insert(e.kind());
            let shown = e.to_string();
            assert!(!shown.is_empty());
            assert!(
                shown.starts_with(|c: char| c.is_lowercase()),
                "display should start lowercase: {shown}"
            );
            if let Some(src) = e.source() {
                assert!(
                    !shown.contains(&src.to_string()),
                    "{shown:?} repeats its source {src}"
                );
            }
        }
        for k in [
            ErrorKind::Config,
            ErrorKind::InvalidInput,
            ErrorKind::Connect,
            ErrorKind::Timeout,
            ErrorKind::Network,
            ErrorKind::Status,
            ErrorKind::Decode,
            ErrorKind::GraphQl,
            ErrorKind::JobFailed,
            ErrorKind::JobCancelled,
            ErrorKind::JobTimedOut,
            ErrorKind::UnexpectedState,
        ] {
            assert!(kinds.contains(&k), "no sample for {k:?}");
        }
    }

    #[test]
    fn report_prints_the_chain() {
        let e = Error::operation_timeout(
            Duration::from_secs(1),
            Some(Error::http_status(
                StatusCode::SERVICE_UNAVAILABLE,
                HeaderMap::new(),
                br#"{"error":"no workers"}"#,
            )),
        );
        assert_eq!(
            Report(&e).to_string(),
            "operation deadline of 1s exceeded: http status 503 (service unavailable): no workers"
        );
    }

    #[test]
    fn job_error_string_is_parsed() {
        let e = Error::job_ended(
            "j",
            "FAILED",
            Some(json!(
                "{\"error_type\": \"ValueError\", \"error_message\": \"bad input\"}"
            )),
        );
        assert_eq!(e.job_error().unwrap()["error_message"], "bad input");
        assert!(
            Report(&e)
                .to_string()
                .contains("job error: ValueError: bad input")
        );
        // A plain string stays a string.
        let e = Error::job_ended("j", "FAILED", Some(json!("plain")));
        assert_eq!(e.job_error(), Some(&json!("plain")));
        // `null` counts as no error.
        assert_eq!(
            Error::job_ended("j", "FAILED", Some(Value::Null)).job_error(),
            None
        );
        // Unknown terminal statuses count as failed and say so.
        let e = Error::job_ended("j", "WEIRD", None);
        assert!(e.is_job_failed());
        assert_eq!(e.to_string(), "job j ended with status WEIRD");
    }

    #[test]
    fn predicates() {
        let s =
            |n: u16| Error::http_status(StatusCode::from_u16(n).unwrap(), HeaderMap::new(), b"");
        assert!(s(429).is_rate_limited() && s(429).is_retryable());
        assert!(s(404).is_not_found() && !s(404).is_retryable());
        assert!(s(401).is_unauthorized());
        assert!(s(403).is_forbidden());
        assert!(s(503).is_retryable() && s(503).is_status());
        assert!(Error::attempt_timeout(Duration::from_secs(1)).is_retryable());
        assert!(!Error::wait_timeout("j").is_retryable());
        assert!(Error::wait_timeout("j").with_job_id("k").job_id() == Some("k"));
        assert!(Error::config("x").is_config());
        assert!(decode_error().is_decode() && !decode_error().is_retryable());
        assert_eq!(decode_error().json_path(), Some("n"));
    }

    #[test]
    fn body_is_truncated_to_4k_on_a_char_boundary() {
        let mut body = "é".repeat(3000).into_bytes(); // 6000 bytes, 2-byte chars
        body.push(b'!');
        let b = truncate_body(&body);
        assert_eq!(b.text.len(), 4096);
        assert_eq!(b.total_len, 6001);
        let body = [b'a'; 4095]
            .iter()
            .copied()
            .chain("é".bytes())
            .collect::<Vec<_>>();
        assert_eq!(truncate_body(&body).text.len(), 4095);
        assert_eq!(truncate_body(&[0xff, b'a']).text, "\u{fffd}a");
    }

    #[test]
    fn error_is_send_sync_static() {
        fn f<T: Send + Sync + 'static + StdError>() {}
        f::<Error>();
    }
}
