//! The one error type of the SDK, its kinds and the [`Report`] printer.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use runpod_types::serverless::JobStatus;
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
    /// A redirect could not be followed (too many, or to a URL that cannot be requested).
    Redirect,
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

/// How far a timeout reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeoutScope {
    Attempt(Duration),
    Operation(Duration),
    /// Waiting for a job (its id is the error's job id).
    Wait,
}

/// A body kept in an error: its first [`BODY_LIMIT`] bytes, and how long it was.
#[derive(Debug, Clone)]
struct Body {
    text: String,
    total_len: usize,
}

/// What the SDK knows about the HTTP exchange an error happened in. Every field is optional
/// because an error may come before a response (connect, timeout) or without a request at all
/// (a value decoded by [`from_value`](crate::from_value)).
#[derive(Debug, Default)]
struct Exchange {
    /// Method and path (never the query: its values may be anything the caller passed).
    request: Option<(Method, String)>,
    status: Option<StatusCode>,
    headers: Option<HeaderMap>,
    request_id: Option<String>,
    /// The server's structured error body, when it sent one.
    api_error: Option<ApiError>,
    /// The raw body of a failed response.
    body: Option<Body>,
    /// Attempts made, when retries were involved.
    attempts: Option<u32>,
    retry_after: Option<Duration>,
}

/// What the failure itself is about: one variant per family of kinds.
#[derive(Debug)]
enum Detail {
    /// `Config`, `InvalidInput`: what is wrong.
    Message(String),
    /// `Connect`, `Network`, `Redirect`: what was tried, and why it failed in plain words.
    Connection {
        /// `host:port`.
        target: Option<String>,
        reason: String,
    },
    Timeout(TimeoutScope),
    /// `Status`, `GraphQl`: everything is in the exchange.
    Response,
    Decode(Decode),
    /// `JobFailed`, `JobCancelled`, `JobTimedOut` (the job id is the error's job id).
    Job {
        status: JobStatus,
        /// The worker's error; a JSON string holding JSON is parsed.
        error: Option<Value>,
    },
    /// `UnexpectedState`.
    Resource {
        resource: String,
        id: String,
        state: String,
    },
}

/// A value that did not decode: where, what was expected there, and what came.
#[derive(Debug)]
struct Decode {
    /// What was being decoded (`response body`, `graphql data`, `value`).
    what: String,
    /// The JSON path of the mismatch (`pods[0].gpuCount`); `None` at the root.
    path: Option<String>,
    /// The decoder's explanation, without its position (`invalid type: string "x", expected
    /// u32`, `missing field `prompt``).
    message: Option<String>,
    /// What was expected at the path (`u32`, `a sequence`), when the decoder said.
    expected: Option<String>,
    /// Line and column in the body, when decoding from bytes.
    position: Option<(usize, usize)>,
    body: Body,
}

struct Inner {
    kind: ErrorKind,
    source: Option<BoxError>,
    detail: Detail,
    exchange: Exchange,
    /// The job this error concerns: job outcomes, waits, and errors tagged with
    /// [`Error::with_job_id`].
    job_id: Option<String>,
}

/// The error of every fallible call in the SDK.
///
/// Opaque: ask it with the `is_*` predicates and accessors, or [`kind`](Self::kind). `Display`
/// is a short lowercase phrase; the cause is reached through
/// [`source`](std::error::Error::source), and [`Report`] prints the whole chain with the
/// status, request id and server error detail. `Debug` prints the same report, so that
/// `fn main() -> Result<(), Error>` and `unwrap()` show something a person can act on.
///
/// ```
/// # use runpod_transport::__runpod as runpod;
/// use runpod::transport::{Error, Report};
///
/// let err = Error::invalid_input("ttl must be positive");
/// assert!(err.is_invalid_input());
/// assert!(!err.is_retryable());
/// assert_eq!(err.to_string(), "invalid input: ttl must be positive");
/// assert_eq!(Report(&err).to_string(), "invalid input: ttl must be positive");
/// assert_eq!(format!("{err:?}"), "invalid input: ttl must be positive");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

impl Error {
    fn new(kind: ErrorKind, detail: Detail) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                source: None,
                detail,
                exchange: Exchange::default(),
                job_id: None,
            }),
        }
    }

    // ----- constructors used inside this crate -----

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, Detail::Message(message.into()))
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

    /// A failure of the HTTP stack, told in plain words: what was tried (`host:port`) and why
    /// it failed, without the stack's own layers (`error sending request`, `client error
    /// (Connect)`) or type names.
    pub(crate) fn from_reqwest(err: &reqwest::Error) -> Self {
        let failure = retry::failure_of(err);
        let target = err.url().and_then(|u| {
            let host = u.host_str()?;
            Some(match u.port_or_known_default() {
                Some(port) if host.contains(':') => format!("[{host}]:{port}"),
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        });
        let reason = plain_reason(err);
        let kind = match failure {
            Failure::Connect => ErrorKind::Connect,
            Failure::Timeout => {
                return Self::new(ErrorKind::Timeout, Detail::Connection { target, reason });
            }
            Failure::Redirect => ErrorKind::Redirect,
            Failure::Builder => {
                return Self::invalid_input(format!("the request could not be built: {reason}"));
            }
            Failure::Network | Failure::Decode | Failure::Status(_) => ErrorKind::Network,
        };
        Self::new(kind, Detail::Connection { target, reason })
    }

    /// A connection failure of `kind` (`Connect`, `Network`, `Redirect`) with its reason.
    #[cfg(test)]
    pub(crate) fn connection(kind: ErrorKind, target: Option<&str>, reason: &str) -> Self {
        Self::new(
            kind,
            Detail::Connection {
                target: target.map(str::to_owned),
                reason: reason.to_owned(),
            },
        )
    }

    pub(crate) fn attempt_timeout(after: Duration) -> Self {
        Self::new(
            ErrorKind::Timeout,
            Detail::Timeout(TimeoutScope::Attempt(after)),
        )
    }

    pub(crate) fn operation_timeout(after: Duration, last: Option<Error>) -> Self {
        let mut e = Self::new(
            ErrorKind::Timeout,
            Detail::Timeout(TimeoutScope::Operation(after)),
        );
        if let Some(last) = last {
            e = e.with_source(last);
        }
        e
    }

    pub(crate) fn http_status(status: StatusCode, headers: HeaderMap, body: &[u8]) -> Self {
        let mut e = Self::new(ErrorKind::Status, Detail::Response);
        let x = &mut e.inner.exchange;
        x.status = Some(status);
        x.api_error = ApiError::from_body(body);
        x.retry_after = retry_after_of(&headers);
        x.request_id = request_id_of(&headers);
        x.headers = Some(headers);
        x.body = Some(truncate_body(body));
        e
    }

    pub(crate) fn graphql(api_error: ApiError, headers: HeaderMap, body: &[u8]) -> Self {
        let mut e = Self::new(ErrorKind::GraphQl, Detail::Response);
        let x = &mut e.inner.exchange;
        x.status = Some(StatusCode::OK);
        x.api_error = Some(api_error);
        x.request_id = request_id_of(&headers);
        x.headers = Some(headers);
        x.body = Some(truncate_body(body));
        e
    }

    /// A decode failure; `what` names the thing decoded ("response body", "value").
    pub(crate) fn decode(
        what: &'static str,
        err: serde_path_to_error::Error<serde_json::Error>,
        body: &[u8],
    ) -> Self {
        let path = err.path().to_string();
        let err = err.into_inner();
        let mut d = decode_detail(what, &err, body);
        d.path = (path != ".").then_some(path);
        Self::new(ErrorKind::Decode, Detail::Decode(d))
    }

    /// A body that is not what was expected as a whole (trailing characters, no `data`).
    pub(crate) fn decode_message(
        what: impl Into<String>,
        message: impl Into<String>,
        body: &[u8],
    ) -> Self {
        Self::new(
            ErrorKind::Decode,
            Detail::Decode(Decode {
                what: what.into(),
                path: None,
                message: Some(message.into()),
                expected: None,
                position: None,
                body: truncate_body(body),
            }),
        )
    }

    /// A decode failure of a whole body, from the decoder's error (no path).
    pub(crate) fn decode_json(what: &'static str, err: &serde_json::Error, body: &[u8]) -> Self {
        Self::new(
            ErrorKind::Decode,
            Detail::Decode(decode_detail(what, err, body)),
        )
    }

    /// Adds response context (status, headers, request id) to a decode error.
    pub(crate) fn with_response(mut self, status: StatusCode, headers: &HeaderMap) -> Self {
        let x = &mut self.inner.exchange;
        x.status.get_or_insert(status);
        if x.request_id.is_none() {
            x.request_id = request_id_of(headers);
        }
        if x.headers.is_none() {
            x.headers = Some(headers.clone());
        }
        self
    }

    pub(crate) fn with_request(mut self, method: &Method, path: &str) -> Self {
        self.inner
            .exchange
            .request
            .get_or_insert_with(|| (method.clone(), path.to_owned()));
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.exchange.attempts = Some(attempts);
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
            ErrorKind::Redirect => Some(Failure::Redirect),
            ErrorKind::Timeout => match self.inner.detail {
                Detail::Timeout(TimeoutScope::Wait) => None,
                _ => Some(Failure::Timeout),
            },
            ErrorKind::Status => self.inner.exchange.status.map(Failure::Status),
            ErrorKind::Decode => Some(Failure::Decode),
            _ => None,
        }
    }

    // ----- public constructors for higher crates -----

    /// A request argument failed validation before anything was sent.
    pub fn invalid_input(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::InvalidInput, Detail::Message(message.into()))
    }

    /// A job reached a failed terminal state: `status` is the wire status (`FAILED`,
    /// `CANCELLED`, `TIMED_OUT`; anything else counts as failed). `error` is the job's error
    /// field; a JSON string holding an object (what the Python worker sends) is parsed.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// use serde_json::json;
    /// let err = runpod::Error::job_ended(
    ///     "job-1",
    ///     "FAILED",
    ///     Some(json!("{\"error_type\": \"ValueError\", \"error_message\": \"bad\"}")),
    /// );
    /// assert!(err.is_job_failed() && err.is_job_outcome());
    /// assert_eq!(err.job_id(), Some("job-1"));
    /// assert_eq!(err.job_error().unwrap()["error_type"], "ValueError");
    /// assert_eq!(err.to_string(), "job job-1: failed: ValueError: bad");
    /// ```
    pub fn job_ended(job_id: impl Into<String>, status: &str, error: Option<Value>) -> Error {
        let status = JobStatus::from(status);
        let kind = match status {
            JobStatus::Cancelled => ErrorKind::JobCancelled,
            JobStatus::TimedOut => ErrorKind::JobTimedOut,
            _ => ErrorKind::JobFailed,
        };
        let error = error.filter(|v| !v.is_null()).map(parse_job_error);
        let mut e = Self::new(kind, Detail::Job { status, error });
        e.inner.job_id = Some(job_id.into());
        e
    }

    /// A resource being waited for reached a state it will not leave by itself, e.g. a pod
    /// that went to `EXITED` while we waited for `RUNNING`. `resource` names what it is
    /// (`"pod"`); [`resource_id`](Self::resource_id) holds its id and [`state`](Self::state)
    /// the state.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::Error::unexpected_state("pod", "p1", "EXITED");
    /// assert!(e.is_unexpected_state() && !e.is_job_outcome());
    /// assert_eq!(e.to_string(), "pod p1 reached EXITED");
    /// assert_eq!(e.resource(), Some("pod"));
    /// assert_eq!((e.resource_id(), e.state()), (Some("p1"), Some("EXITED")));
    /// assert_eq!(e.job_id(), None);
    /// ```
    pub fn unexpected_state(resource: &str, id: impl Into<String>, state: &str) -> Error {
        Self::new(
            ErrorKind::UnexpectedState,
            Detail::Resource {
                resource: resource.to_owned(),
                id: id.into(),
                state: state.to_owned(),
            },
        )
    }

    /// Waiting for a job ran out of time (the job itself may still be running).
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// let err = runpod::Error::wait_timeout("job-1");
    /// assert!(err.is_timeout());
    /// assert_eq!(err.job_id(), Some("job-1"));
    /// ```
    pub fn wait_timeout(job_id: impl Into<String>) -> Error {
        let mut e = Self::new(ErrorKind::Timeout, Detail::Timeout(TimeoutScope::Wait));
        e.inner.job_id = Some(job_id.into());
        e
    }

    /// A response stream ended before its end marker: the server (or something between) cut
    /// it. A network failure ([`is_network`](Self::is_network)) whose `Display` is `message`.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::transport::Error::stream_cut("the event stream ended before [DONE]");
    /// assert!(e.is_network());
    /// assert_eq!(e.to_string(), "the event stream ended before [DONE]");
    /// ```
    pub fn stream_cut(message: impl Into<String>) -> Error {
        Self::new(ErrorKind::Network, Detail::Message(message.into()))
    }

    /// An error the server sent inside a response whose status said success, such as a
    /// `data: {"error": …}` event in an OpenAI stream. [`is_status`](Self::is_status), with the
    /// response's `status`; `body` is parsed like any error body ([`api_error`](Self::api_error)).
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// use runpod::transport::{Error, StatusCode};
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
    /// # use runpod_transport::__runpod as runpod;
    /// assert!(runpod::Error::wait_timeout("j").is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// No connection could be made (the request never reached the server).
    ///
    /// ```no_run
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f(client: runpod::HttpClient) {
    /// use runpod::transport::Method;
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
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f(client: runpod::HttpClient) {
    /// use runpod::transport::Method;
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

    /// A redirect could not be followed (too many redirects, or an unusable target).
    pub fn is_redirect(&self) -> bool {
        self.kind() == ErrorKind::Redirect
    }

    /// The server answered with a non-success status; see [`status`](Self::status).
    ///
    /// ```no_run
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f(client: runpod::HttpClient) {
    /// use runpod::transport::Method;
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
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f(client: runpod::HttpClient) {
    /// use runpod::transport::Method;
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
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f(client: runpod::HttpClient) {
    /// use runpod::transport::Method;
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
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f(client: runpod::HttpClient) {
    /// use runpod::transport::Method;
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
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f(client: runpod::HttpClient) {
    /// use runpod::transport::Method;
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
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::transport::from_value::<u32>(serde_json::json!("x")).unwrap_err();
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
    /// # use runpod_transport::__runpod as runpod;
    /// use runpod::Error;
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
    /// # use runpod_transport::__runpod as runpod;
    /// use runpod::RetryPolicy;
    /// let err = RetryPolicy::builder().with_max_attempts(0).build().unwrap_err();
    /// assert!(err.is_config());
    /// ```
    pub fn is_config(&self) -> bool {
        self.kind() == ErrorKind::Config
    }

    /// An argument was rejected before sending.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// assert!(runpod::Error::invalid_input("ttl < 0").is_invalid_input());
    /// ```
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// A GraphQL response carried `errors`; see [`api_error`](Self::api_error).
    ///
    /// ```no_run
    /// # use runpod_transport::__runpod as runpod;
    /// # async fn f<Q: graphql_client::GraphQLQuery>(client: runpod::HttpClient, vars: Q::Variables) {
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
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::Error::job_ended("j", "FAILED", None);
    /// assert!(e.is_job_failed() && !e.is_job_cancelled());
    /// ```
    pub fn is_job_failed(&self) -> bool {
        self.kind() == ErrorKind::JobFailed
    }

    /// The job was cancelled.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::Error::job_ended("j", "CANCELLED", None);
    /// assert!(e.is_job_cancelled() && !e.is_job_failed());
    /// ```
    pub fn is_job_cancelled(&self) -> bool {
        self.kind() == ErrorKind::JobCancelled
    }

    /// The job hit its execution timeout on the server.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::Error::job_ended("j", "TIMED_OUT", None);
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

    /// The job ended unsuccessfully (failed, cancelled or timed out).
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// use runpod::Error;
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
        self.inner.exchange.status
    }

    /// The request that failed: its method and path (never the query).
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::Error::invalid_input("x");
    /// assert_eq!(e.request(), None);
    /// ```
    pub fn request(&self) -> Option<(&Method, &str)> {
        self.inner
            .exchange
            .request
            .as_ref()
            .map(|(m, p)| (m, p.as_str()))
    }

    /// The server's structured error body, when it sent one.
    pub fn api_error(&self) -> Option<&ApiError> {
        self.inner.exchange.api_error.as_ref()
    }

    /// The server's `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.exchange.retry_after
    }

    /// The `x-request-id` / `request-id` response header, for support requests.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.exchange.request_id.as_deref()
    }

    /// The response headers of a failed response.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.inner.exchange.headers.as_ref()
    }

    /// The rate-limit headers of a failed response.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.headers().and_then(RateLimit::from_headers)
    }

    /// The raw body (first 4 KiB) of a failed response or of a value that did not decode.
    pub fn body(&self) -> Option<&str> {
        let body = match &self.inner.detail {
            Detail::Decode(d) => Some(&d.body),
            _ => self.inner.exchange.body.as_ref(),
        };
        body.map(|b| b.text.as_str())
    }

    /// The JSON path at which decoding failed (`pods[0].gpuCount`).
    pub fn json_path(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Decode(d) => d.path.as_deref(),
            _ => None,
        }
    }

    /// What the decoder expected at [`json_path`](Self::json_path) (`u32`, `a sequence`),
    /// when it said.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::transport::from_value::<Vec<u32>>(serde_json::json!([1, "x"])).unwrap_err();
    /// assert_eq!((e.json_path(), e.expected()), (Some("[1]"), Some("u32")));
    /// ```
    pub fn expected(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Decode(d) => d.expected.as_deref(),
            _ => None,
        }
    }

    /// The decoder's explanation of a decode error, without its position: `invalid type:
    /// string "x", expected u32`, ``missing field `prompt` ``.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// let e = runpod::transport::from_value::<u32>(serde_json::json!("x")).unwrap_err();
    /// assert_eq!(e.decode_reason(), Some("invalid type: string \"x\", expected u32"));
    /// ```
    pub fn decode_reason(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Decode(d) => d.message.as_deref(),
            _ => None,
        }
    }

    /// `host:port` of a connection that failed or broke.
    pub fn target(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Connection { target, .. } => target.as_deref(),
            _ => None,
        }
    }

    /// Attempts made before giving up, when retries were involved.
    pub fn attempts(&self) -> Option<u32> {
        self.inner.exchange.attempts
    }

    /// The job this error concerns (job outcomes, waits, and errors tagged with
    /// [`with_job_id`](Self::with_job_id)).
    pub fn job_id(&self) -> Option<&str> {
        self.inner.job_id.as_deref()
    }

    /// The status a job ended with (job outcomes only).
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// use runpod::transport::{Error, JobStatus};
    /// let e = Error::job_ended("j", "CANCELLED", None);
    /// assert_eq!(e.job_status(), Some(&JobStatus::Cancelled));
    /// ```
    pub fn job_status(&self) -> Option<&JobStatus> {
        match &self.inner.detail {
            Detail::Job { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The job's error as the worker reported it (a JSON string holding JSON is parsed).
    pub fn job_error(&self) -> Option<&Value> {
        match &self.inner.detail {
            Detail::Job { error, .. } => error.as_ref(),
            _ => None,
        }
    }

    /// The job's error in one line (at most 1 KiB): `ValueError: bad input` for the Python
    /// worker's error document, else the string the worker sent or its JSON.
    ///
    /// ```
    /// # use runpod_transport::__runpod as runpod;
    /// use serde_json::json;
    /// let e = runpod::transport::Error::job_ended(
    ///     "j",
    ///     "FAILED",
    ///     Some(json!({"error_type": "InvalidInput", "error_message": "missing field prompt"})),
    /// );
    /// assert_eq!(e.job_error_summary().as_deref(), Some("InvalidInput: missing field prompt"));
    /// ```
    pub fn job_error_summary(&self) -> Option<String> {
        self.job_error().map(|e| describe_job_error(e, 1024))
    }

    /// What kind of resource reached an unexpected state (`"pod"`).
    pub fn resource(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Resource { resource, .. } => Some(resource),
            _ => None,
        }
    }

    /// The id of the resource that reached an unexpected state.
    pub fn resource_id(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Resource { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The state of the job or resource this error concerns, as the server spelled it.
    pub fn state(&self) -> Option<&str> {
        match &self.inner.detail {
            Detail::Job { status, .. } => Some(status.as_str()),
            Detail::Resource { state, .. } => Some(state),
            _ => None,
        }
    }

    fn detail_lines(&self, out: &mut Vec<String>) {
        let x = &self.inner.exchange;
        if let Some((method, path)) = &x.request {
            out.push(format!("request: {method} {path}"));
        }
        if let Some(s) = x.status
            && self.kind() != ErrorKind::Status
        {
            out.push(format!("status: {s}"));
        }
        if let Some(id) = &x.request_id {
            out.push(format!("request id: {id}"));
        }
        if let Some(n) = x.attempts {
            out.push(format!("attempts: {n}"));
        }
        if let Some(d) = x.retry_after {
            out.push(format!("retry after: {}", HumanDuration(d)));
        }
        if let Some(api) = &x.api_error {
            // Title, detail and message are in the Display line already.
            if let Some(t) = &api.type_ {
                out.push(format!("api error type: {t}"));
            }
            for item in &api.errors {
                out.push(format!("- {item}"));
            }
        }
        if let Detail::Job {
            error: Some(error), ..
        } = &self.inner.detail
        {
            // The Display line has the error cut short; the whole of it (1 KiB) goes here
            // when it did not fit.
            let whole = describe_job_error(error, 1024);
            if whole.len() > JOB_ERROR_SHOWN {
                out.push(format!("job error: {whole}"));
            }
        }
        let body = match &self.inner.detail {
            Detail::Decode(d) => {
                if let Some((line, column)) = d.position {
                    out.push(format!("at line {line}, column {column}"));
                }
                Some(&d.body)
            }
            _ if x.api_error.is_none() => x.body.as_ref(),
            _ => None,
        };
        if let Some(b) = body
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

/// How much of a job's error its `Display` shows.
const JOB_ERROR_SHOWN: usize = 300;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let job = i
            .job_id
            .as_deref()
            .map(|j| format!(" {j}"))
            .unwrap_or_default();
        match (&i.detail, self.kind()) {
            (Detail::Message(m), ErrorKind::Config) => write!(f, "invalid configuration: {m}"),
            // A cut stream (`stream_cut`) says itself what broke.
            (Detail::Message(m), ErrorKind::Network) => write!(f, "{m}"),
            (Detail::Message(m), _) => write!(f, "invalid input: {m}"),
            (Detail::Connection { target, reason }, kind) => {
                let to = target
                    .as_deref()
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default();
                match kind {
                    ErrorKind::Connect => write!(f, "connect to{to}: {reason}"),
                    ErrorKind::Redirect => write!(f, "redirect from{to} failed: {reason}"),
                    ErrorKind::Timeout => write!(f, "request to{to} timed out: {reason}"),
                    _ => write!(f, "connection to{to} broke during the request: {reason}"),
                }
            }
            (Detail::Timeout(TimeoutScope::Attempt(d)), _) => {
                write!(f, "request attempt timed out after {}", HumanDuration(*d))
            }
            (Detail::Timeout(TimeoutScope::Operation(d)), _) => {
                write!(f, "operation deadline of {} exceeded", HumanDuration(*d))
            }
            (Detail::Timeout(TimeoutScope::Wait), _) => write!(f, "timed out waiting for job{job}"),
            (Detail::Response, ErrorKind::GraphQl) => {
                f.write_str("graphql errors")?;
                if let Some(api) = &i.exchange.api_error {
                    write!(f, ": {api}")?;
                }
                Ok(())
            }
            (Detail::Response, _) => {
                let status = i
                    .exchange
                    .status
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                write!(f, "http status {}", status.as_u16())?;
                if let Some(reason) = status.canonical_reason() {
                    write!(f, " ({})", reason.to_lowercase())?;
                }
                if let Some(summary) = i
                    .exchange
                    .api_error
                    .as_ref()
                    .and_then(|a| status_summary(a, status))
                {
                    write!(f, ": {}", one_line(cut_at_char(&summary, 200)))?;
                }
                Ok(())
            }
            (Detail::Decode(d), _) => {
                write!(f, "failed to decode {}", d.what)?;
                if let Some(p) = &d.path {
                    write!(f, " at `{p}`")?;
                }
                if let Some(m) = &d.message {
                    write!(f, ": {}", one_line(cut_at_char(m, 300)))?;
                }
                Ok(())
            }
            (Detail::Job { status, error }, kind) => {
                let why = error
                    .as_ref()
                    .map(|e| describe_job_error(e, JOB_ERROR_SHOWN));
                match (kind, why) {
                    (ErrorKind::JobCancelled, None) => return write!(f, "job{job} was cancelled"),
                    (ErrorKind::JobCancelled, Some(w)) => {
                        return write!(f, "job{job} was cancelled: {w}");
                    }
                    (ErrorKind::JobTimedOut, None) => return write!(f, "job{job} timed out"),
                    (ErrorKind::JobTimedOut, Some(w)) => {
                        return write!(f, "job{job} timed out: {w}");
                    }
                    _ => {}
                }
                match (status, error) {
                    (JobStatus::Failed, Some(e)) => write!(
                        f,
                        "job{job}: failed: {}",
                        describe_job_error(e, JOB_ERROR_SHOWN)
                    ),
                    (JobStatus::Failed, None) => write!(f, "job{job} failed"),
                    (other, Some(e)) => write!(
                        f,
                        "job{job} ended with status {other}: {}",
                        describe_job_error(e, JOB_ERROR_SHOWN)
                    ),
                    (other, None) => write!(f, "job{job} ended with status {other}"),
                }
            }
            (
                Detail::Resource {
                    resource,
                    id,
                    state,
                },
                _,
            ) => {
                write!(f, "{resource} {id} reached {state}")
            }
        }
    }
}

/// The report (as [`Report`] prints it), so that `fn main() -> Result<(), Error>`, `unwrap()`
/// and `{:?}` in logs show what happened rather than the error's insides.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Report(self), f)
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
/// # use runpod_transport::__runpod as runpod;
/// use runpod::transport::{Error, Report};
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

/// The worker's error in one line of at most `max` bytes: `ValueError: bad input` (the Python
/// worker's `error_type` and `error_message`), the string it sent, or its JSON.
fn describe_job_error(v: &Value, max: usize) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let text = match (s("error_type"), s("error_message")) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (None, Some(m)) => m.to_owned(),
        _ => match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    };
    let line = one_line(&text);
    if line.len() <= max {
        return line;
    }
    format!("{}…", cut_at_char(&line, max))
}

/// The HTTP stack's failure in plain words: the innermost cause, which says what happened
/// (`connection refused`, `invalid peer certificate: UnknownIssuer`), without the layers that
/// only say where (`error sending request`, `client error (Connect)`).
fn plain_reason(err: &reqwest::Error) -> String {
    let mut innermost: &(dyn StdError + 'static) = err;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    if let Some(io) = innermost.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind as K;
        let known = match io.kind() {
            K::ConnectionRefused => Some("connection refused"),
            K::ConnectionReset => Some("connection reset by the peer"),
            K::ConnectionAborted => Some("connection aborted"),
            K::TimedOut => Some("timed out"),
            K::UnexpectedEof => Some("the connection closed early"),
            K::BrokenPipe => Some("broken pipe"),
            K::AddrNotAvailable => Some("address not available"),
            K::HostUnreachable => Some("host unreachable"),
            K::NetworkUnreachable => Some("network unreachable"),
            _ => None,
        };
        if let Some(known) = known {
            return known.to_owned();
        }
    }
    let text = innermost.to_string();
    // `Connection refused (os error 111)`: the number helps no one.
    let text = match text.find(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    };
    lowercase_first(&text)
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        // `Name or service…` but not `TLS…`.
        Some(c) if c.is_uppercase() && !chars.next().is_some_and(char::is_uppercase) => {
            c.to_lowercase().chain(s[c.len_utf8()..].chars()).collect()
        }
        _ => s.to_owned(),
    }
}

/// What a decoder's error says: its message without the position (kept apart), and what was
/// expected, from serde's `invalid type: …, expected …` form.
fn decode_detail(what: &'static str, err: &serde_json::Error, body: &[u8]) -> Decode {
    let mut message = err.to_string();
    let position = (err.line() > 0).then(|| (err.line(), err.column()));
    if let Some((line, column)) = position {
        let suffix = format!(" at line {line} column {column}");
        if message.ends_with(&suffix) {
            message.truncate(message.len() - suffix.len());
        }
    }
    let expected = message.split_once(", expected ").map(|(_, e)| e.to_owned());
    Decode {
        what: what.to_owned(),
        path: None,
        message: Some(message),
        expected,
        position,
        body: truncate_body(body),
    }
}

/// A duration for people: `250 ms`, `1 s`, `1.5 s`, `2 min 5 s`, `1 h 30 min`.
///
/// ```
/// # use runpod_transport::__runpod as runpod;
/// use std::time::Duration;
/// use runpod::transport::HumanDuration;
///
/// let show = |ms| HumanDuration(Duration::from_millis(ms)).to_string();
/// assert_eq!(show(250), "250 ms");
/// assert_eq!(show(1000), "1 s");
/// assert_eq!(show(1500), "1.5 s");
/// assert_eq!(show(125_000), "2 min 5 s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0 s");
        }
        if d < Duration::from_millis(1) {
            return write!(f, "{} µs", d.as_micros().max(1));
        }
        // Rounded to the millisecond: `999.956579ms` reads as `1 s`.
        let ms = (d.as_nanos() + 500_000) / 1_000_000;
        if ms < 1000 {
            return write!(f, "{ms} ms");
        }
        if ms < 60_000 {
            let (s, frac) = (ms / 1000, ms % 1000);
            if frac == 0 {
                return write!(f, "{s} s");
            }
            let frac = format!("{frac:03}");
            return write!(f, "{s}.{} s", frac.trim_end_matches('0'));
        }
        let secs = (ms + 500) / 1000;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        match (h, m, s) {
            (0, m, 0) => write!(f, "{m} min"),
            (0, m, s) => write!(f, "{m} min {s} s"),
            (h, 0, _) => write!(f, "{h} h"),
            (h, m, _) => write!(f, "{h} h {m} min"),
        }
    }
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
            Error::connection(
                ErrorKind::Connect,
                Some("127.0.0.1:8000"),
                "connection refused",
            ),
            Error::connection(
                ErrorKind::Network,
                Some("h:443"),
                "connection reset by the peer",
            ),
            Error::connection(ErrorKind::Redirect, Some("h:443"), "too many redirects"),
            Error::connection(ErrorKind::Timeout, None, "operation timed out"),
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
            Error::decode_message(
                "graphql response",
                "it has neither `data` nor `errors`",
                b"{}",
            ),
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
            ErrorKind::Redirect,
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
            "operation deadline of 1 s exceeded: http status 503 (service unavailable): no workers"
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
        assert_eq!(e.to_string(), "job j: failed: ValueError: bad input");
        assert_eq!(
            Report(&e).to_string(),
            "job j: failed: ValueError: bad input"
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
        assert_eq!(e.job_status(), Some(&JobStatus::Unknown("WEIRD".into())));
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

    /// Every kind's context comes back through its accessors, and no accessor answers for
    /// another kind's context.
    #[test]
    fn every_kind_s_context_is_reachable_through_its_accessors() {
        // Config / InvalidInput: the message.
        let e = Error::config("no API key");
        assert_eq!(e.to_string(), "invalid configuration: no API key");
        assert_eq!((e.status(), e.job_id(), e.resource()), (None, None, None));

        // Connect / Network / Redirect: target and reason, plus the request when sent.
        let e = Error::connection(
            ErrorKind::Connect,
            Some("127.0.0.1:8000"),
            "connection refused",
        )
        .with_request(&Method::GET, "/v2/ep/health")
        .with_attempts(3);
        assert_eq!(e.target(), Some("127.0.0.1:8000"));
        assert_eq!(e.request(), Some((&Method::GET, "/v2/ep/health")));
        assert_eq!(e.attempts(), Some(3));
        assert_eq!(
            e.to_string(),
            "connect to 127.0.0.1:8000: connection refused"
        );
        let e = Error::connection(ErrorKind::Redirect, Some("h:443"), "too many redirects");
        assert!(e.is_redirect() && !e.is_network() && !e.is_retryable());

        // Timeout: the wait's job id; an operation timeout's last failure as its source.
        assert_eq!(Error::wait_timeout("j9").job_id(), Some("j9"));
        let last = Error::http_status(StatusCode::BAD_GATEWAY, HeaderMap::new(), b"x");
        let e = Error::operation_timeout(Duration::from_millis(250), Some(last));
        assert_eq!(e.to_string(), "operation deadline of 250 ms exceeded");
        let src = e.source().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(src.status(), Some(StatusCode::BAD_GATEWAY));

        // Status: the whole exchange.
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "req-1".parse().unwrap());
        headers.insert("retry-after", "7".parse().unwrap());
        let e = Error::http_status(
            StatusCode::TOO_MANY_REQUESTS,
            headers,
            br#"{"title":"Too Many Requests","detail":"slow down"}"#,
        )
        .with_request(&Method::POST, "/v2/ep/run")
        .with_attempts(2);
        assert_eq!(e.status(), Some(StatusCode::TOO_MANY_REQUESTS));
        assert_eq!(e.request(), Some((&Method::POST, "/v2/ep/run")));
        assert_eq!(e.request_id(), Some("req-1"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.attempts(), Some(2));
        assert_eq!(e.api_error().unwrap().detail.as_deref(), Some("slow down"));
        assert!(e.headers().unwrap().contains_key("x-request-id"));
        assert!(e.body().unwrap().contains("slow down"));
        assert_eq!(
            (e.json_path(), e.job_error(), e.state()),
            (None, None, None)
        );

        // GraphQL: the parsed errors and the body.
        let api = ApiError::from_value(&json!({"errors":[{"message":"boom"}]})).unwrap();
        let e = Error::graphql(api, HeaderMap::new(), b"{\"errors\":[]}");
        assert_eq!(e.status(), Some(StatusCode::OK));
        assert_eq!(e.api_error().unwrap().errors[0].message, "boom");
        assert!(e.body().is_some());

        // Decode: path, expectation, body, and the response it came in.
        let e = decode_error().with_response(StatusCode::OK, &HeaderMap::new());
        assert_eq!((e.json_path(), e.expected()), (Some("n"), Some("u32")));
        assert_eq!(e.body(), Some(r#"{"n":"x"}"#));
        assert_eq!(e.status(), Some(StatusCode::OK));
        assert_eq!(
            e.to_string(),
            "failed to decode response body at `n`: invalid type: string \"x\", expected u32"
        );

        // Job outcome: id, typed status, the worker's error.
        let e = Error::job_ended(
            "j1",
            "FAILED",
            Some(json!({"error_type": "InvalidInput", "error_message": "missing field prompt"})),
        );
        assert_eq!(e.job_id(), Some("j1"));
        assert_eq!(e.job_status(), Some(&JobStatus::Failed));
        assert_eq!(e.state(), Some("FAILED"));
        assert_eq!(e.job_error().unwrap()["error_type"], "InvalidInput");
        assert_eq!(e.resource(), None);

        // Resource state: kind, id, state; not a job.
        let e = Error::unexpected_state("pod", "p1", "EXITED");
        assert_eq!(
            (e.resource(), e.resource_id(), e.state()),
            (Some("pod"), Some("p1"), Some("EXITED"))
        );
        assert_eq!((e.job_id(), e.job_status()), (None, None));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let show = |d: Duration| HumanDuration(d).to_string();
        assert_eq!(show(Duration::ZERO), "0 s");
        assert_eq!(show(Duration::from_micros(40)), "40 µs");
        assert_eq!(show(Duration::from_millis(250)), "250 ms");
        assert_eq!(show(Duration::from_nanos(999_956_579)), "1 s");
        assert_eq!(show(Duration::from_secs(1)), "1 s");
        assert_eq!(show(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(show(Duration::from_millis(12_250)), "12.25 s");
        assert_eq!(show(Duration::from_secs(60)), "1 min");
        assert_eq!(show(Duration::from_secs(90)), "1 min 30 s");
        assert_eq!(show(Duration::from_secs(3600)), "1 h");
        assert_eq!(show(Duration::from_secs(5400)), "1 h 30 min");
    }

    #[test]
    fn debug_is_the_report() {
        let e = Error::job_ended(
            "3f",
            "FAILED",
            Some(json!(
                "{\"error_type\": \"InvalidInput\", \"error_message\": \"missing field prompt\"}"
            )),
        );
        assert_eq!(
            format!("{e:?}"),
            "job 3f: failed: InvalidInput: missing field prompt"
        );
        let e = Error::http_status(StatusCode::NOT_FOUND, HeaderMap::new(), b"nope")
            .with_request(&Method::GET, "/v2/pods/p1");
        assert_eq!(
            format!("{e:?}"),
            "http status 404 (not found)\n  request: GET /v2/pods/p1\n  body: nope"
        );
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
