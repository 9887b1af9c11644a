//! Request builder, the attempt/retry/timeout loop, and the server-sent-events stream.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::retry::{self, Failure};
use crate::sending::{JsonFuture, ResponseFuture, Running};
use crate::sse::{SseEvent, SseParser};
use crate::{Auth, Error, HttpClient, Response, RetryPolicy};

/// A request being built; finish it with [`send`](Self::send), [`send_json`](Self::send_json)
/// or [`send_sse`](Self::send_sse).
///
/// Problems found while building (a bad header, a body that cannot be encoded) are reported
/// by `send` as [`Error::is_invalid_input`], before anything is sent.
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: HttpClient,
    method: Method,
    url: Option<Url>,
    headers: HeaderMap,
    body: Option<Bytes>,
    auth: Auth,
    idempotent: Option<bool>,
    retry: Option<RetryPolicy>,
    attempt_timeout: Option<Option<Duration>>,
    operation_timeout: Option<Option<Duration>>,
    operation: Option<&'static str>,
    error: Option<Error>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("path", &self.url.as_ref().map(Url::path))
            .field("auth", &self.auth)
            .field("idempotent", &self.idempotent)
            .field("retry", &self.retry)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    pub(crate) fn new(client: HttpClient, method: Method, url: &str) -> Self {
        Self::with_url(client, method, crate::url_base::parse_http_url(url))
    }

    /// A request to an already parsed (and checked) URL.
    pub(crate) fn with_url(client: HttpClient, method: Method, url: Result<Url, Error>) -> Self {
        let (url, error) = match url {
            Ok(url) => (Some(url), None),
            Err(e) => (None, Some(e)),
        };
        Self {
            client,
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            auth: Auth::Bearer,
            idempotent: None,
            retry: None,
            attempt_timeout: None,
            operation_timeout: None,
            operation: None,
            error,
        }
    }

    fn fail(&mut self, err: Error) {
        self.error.get_or_insert(err);
    }

    /// How to authenticate (default [`Auth::Bearer`] with the configured key).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Appends `key=value` to the query string (percent-encoded).
    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        if let Some(url) = &mut self.url {
            url.query_pairs_mut().append_pair(key, &value.to_string());
        }
        self
    }

    /// Sets a header, replacing an earlier value. Headers whose name suggests a secret are
    /// marked sensitive so that they are never logged.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(mut value)) => {
                if is_secret_header(&name) {
                    value.set_sensitive(true);
                }
                self.headers.insert(name, value);
            }
            // The value may be a secret: name the header only.
            (Err(_), _) => self.fail(Error::invalid_input(format!(
                "`{name}` is not a valid header name"
            ))),
            (_, Err(_)) => self.fail(Error::invalid_input(format!(
                "the value of header `{name}` has characters not allowed in a header"
            ))),
        }
        self
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                self.body = Some(Bytes::from(bytes));
            }
            Err(e) => self.fail(Error::invalid_input_with_source(
                "cannot encode the request body as JSON",
                e,
            )),
        }
        self
    }

    /// A raw body with its content type.
    pub fn body(mut self, bytes: impl Into<Bytes>, content_type: &str) -> Self {
        match HeaderValue::from_str(content_type) {
            Ok(v) => {
                self.headers.insert(header::CONTENT_TYPE, v);
                self.body = Some(bytes.into());
            }
            Err(_) => self.fail(Error::invalid_input(format!(
                "`{content_type}` is not a valid content type"
            ))),
        }
        self
    }

    /// Whether sending twice is harmless. Default: GET, HEAD, PUT, DELETE, OPTIONS and TRACE
    /// are; POST and PATCH are not. Non-idempotent requests are retried only after a connect
    /// failure (the request never left) or a 429.
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = Some(yes);
        self
    }

    /// The retry policy for this request (default: the config's).
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Per-attempt timeout; `None` for none (long polls). Default: the config's.
    pub fn with_attempt_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Timeout over all attempts and backoff; `None` for none. Default: the config's.
    pub fn with_operation_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    pub(crate) fn operation_name(mut self, name: &'static str) -> Self {
        self.operation = Some(name);
        self
    }

    /// Sends the request, retrying per the policy. A 2xx status (204 included) is `Ok`; any
    /// other status is an error carrying the status, headers, the parsed error body and the
    /// first 4 KiB of the raw body.
    ///
    /// The request is prepared (headers, authentication) when `send` is called; the returned
    /// future only holds what it needs to run it, which keeps every caller's future small.
    pub fn send(self) -> ResponseFuture {
        ResponseFuture::new(self.prepare())
    }

    /// Sends and decodes the JSON body into `T`.
    pub fn send_json<T: DeserializeOwned>(self) -> JsonFuture<T> {
        JsonFuture::new(self.send())
    }

    /// Opens a server-sent-events stream.
    ///
    /// The first connection is retried like any request. When the connection breaks
    /// mid-stream it reconnects, sending `Last-Event-ID`, after the server's `retry:` delay
    /// (capped at the policy's `max_retry_after`) or the policy's backoff; consecutive
    /// failed reconnects are bounded by the policy's attempts. The stream ends when the
    /// server closes it cleanly or answers 204. The attempt timeout covers only the wait for
    /// response headers; an operation timeout bounds the whole stream.
    pub fn send_sse(mut self) -> impl Stream<Item = Result<SseEvent, Error>> + Send + 'static {
        self.headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        self.headers
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let prepared = self.prepare();
        async_stream::stream! {
            let mut prepared = match prepared {
                Ok(p) => p,
                Err(e) => {
                    yield Err(e);
                    return;
                }
            };
            let deadline = prepared.operation_timeout.map(|d| (Instant::now() + d, d));
            // The deadline covers the whole stream, so each connection gets none of its own.
            prepared.operation_timeout = None;
            let policy = prepared.retry_policy().clone();
            let mut rng = policy.rng();
            let mut parser = SseParser::new();
            let mut broken_in_a_row = 0u32;
            loop {
                if let Some(id) = parser.last_event_id()
                    && let Ok(v) = HeaderValue::from_str(id)
                {
                    prepared.headers.insert(HeaderName::from_static("last-event-id"), v);
                }
                let connect = Running::start(prepared.clone(), true);
                let connected = match deadline {
                    Some((at, d)) => tokio::time::timeout_at(at, connect)
                        .await
                        .unwrap_or_else(|_| Err(Error::operation_timeout(d, None))),
                    None => connect.await,
                };
                let response = match connected {
                    Ok(Outcome::Stream(r)) => r,
                    Ok(Outcome::Full(_)) => return,
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                };
                if response.status() == StatusCode::NO_CONTENT {
                    return; // the server's way of saying "do not reconnect"
                }
                let mut body = response.bytes_stream();
                let broke = loop {
                    let next = match deadline {
                        Some((at, d)) => match tokio::time::timeout_at(at, body.next()).await {
                            Ok(next) => next,
                            Err(_) => {
                                yield Err(Error::operation_timeout(d, None)
                                    .with_request(&prepared.method, prepared.url.path()));
                                return;
                            }
                        },
                        None => body.next().await,
                    };
                    match next {
                        Some(Ok(chunk)) => {
                            for event in parser.feed(&chunk) {
                                broken_in_a_row = 0;
                                yield Ok(event);
                            }
                        }
                        Some(Err(e)) => break e,
                        None => return, // clean end of stream
                    }
                };
                broken_in_a_row += 1;
                let err = Error::from_failure(retry::failure_of(&broke), broke.without_url())
                    .with_request(&prepared.method, prepared.url.path());
                if broken_in_a_row >= policy.max_attempts() {
                    yield Err(err.with_attempts(broken_in_a_row));
                    return;
                }
                parser.discard_partial();
                let delay = policy.delay(broken_in_a_row, parser.reconnect_delay(), &mut rng);
                tracing::debug!(
                    path = %prepared.url.path(),
                    error = %err,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    last_event_id = parser.last_event_id(),
                    "event stream broke; reconnecting"
                );
                if let Some((at, d)) = deadline
                    && Instant::now() + delay >= at
                {
                    yield Err(Error::operation_timeout(d, Some(err)));
                    return;
                }
                tokio::time::sleep(delay).await;
            }
        }
    }

    fn prepare(self) -> Result<Prepared, Error> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let Some(url) = self.url else {
            return Err(Error::invalid_input("the URL is not valid"));
        };
        let config = self.client.config();
        let mut headers = self.headers;
        if !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        }
        if !headers.contains_key(header::AUTHORIZATION) {
            let value = match &self.auth {
                // Made once per client: every request sends it.
                Auth::Bearer => self.client.bearer()?,
                Auth::Raw(key) => Some(crate::client::auth_header(key.expose())?),
                Auth::None => None,
            };
            if let Some(value) = value {
                headers.insert(header::AUTHORIZATION, value);
            }
        }
        let idempotent = self.idempotent.unwrap_or(matches!(
            self.method,
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::DELETE
                | Method::OPTIONS
                | Method::TRACE
        ));
        Ok(Prepared {
            retry: self.retry.map(Box::new),
            attempt_timeout: self.attempt_timeout.unwrap_or(config.attempt_timeout()),
            operation_timeout: self.operation_timeout.unwrap_or(config.operation_timeout()),
            client: self.client,
            method: self.method,
            url,
            headers,
            body: self.body,
            idempotent,
            operation: self.operation,
        })
    }
}

fn is_secret_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || n.contains("key")
        || n.contains("token")
        || n.contains("secret")
}

/// What the retry loop has done so far, for an operation timeout that interrupts it.
#[derive(Default)]
struct Progress {
    attempts: u32,
    last_error: Option<Error>,
}

pub(crate) enum Outcome {
    Full(Response),
    Stream(reqwest::Response),
}

#[derive(Clone)]
pub(crate) struct Prepared {
    client: HttpClient,
    pub(crate) method: Method,
    pub(crate) url: Url,
    headers: HeaderMap,
    body: Option<Bytes>,
    idempotent: bool,
    /// A policy of this request's own; `None`: the client's (kept there, not copied into every
    /// request's future).
    retry: Option<Box<RetryPolicy>>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) operation_timeout: Option<Duration>,
    pub(crate) operation: Option<&'static str>,
}

impl Prepared {
    fn retry_policy(&self) -> &RetryPolicy {
        self.retry
            .as_deref()
            .unwrap_or_else(|| self.client.config().retry_policy())
    }

    /// The retry loop after the first attempt failed with `err`.
    pub(crate) async fn retry_after_first(
        &self,
        err: Error,
        stream: bool,
        start: Instant,
    ) -> Result<Outcome, Error> {
        let mut progress = Progress {
            attempts: 1,
            last_error: None,
        };
        self.retry_after(err, stream, start, &mut progress).await
    }

    /// Every attempt under the operation timeout `limit`.
    pub(crate) async fn timed(
        &self,
        limit: Duration,
        stream: bool,
        start: Instant,
    ) -> Result<Outcome, Error> {
        let mut progress = Progress::default();
        let attempts = async {
            progress.attempts = 1;
            match self.attempt(stream, 1).await {
                Ok(outcome) => Ok(outcome),
                Err(err) => self.retry_after(err, stream, start, &mut progress).await,
            }
        };
        match tokio::time::timeout(limit, attempts).await {
            Ok(result) => result,
            Err(_) => {
                let err = Error::operation_timeout(limit, progress.last_error.take());
                Err(if progress.attempts > 1 {
                    err.with_attempts(progress.attempts)
                } else {
                    err
                })
            }
        }
    }

    /// The retry loop after attempt `progress.attempts` failed with `err`: backs off and tries
    /// again while the error is retryable and attempts remain.
    async fn retry_after(
        &self,
        mut err: Error,
        stream: bool,
        start: Instant,
        progress: &mut Progress,
    ) -> Result<Outcome, Error> {
        let policy = self.retry_policy();
        let mut rng = policy.rng();
        loop {
            let attempt = progress.attempts;
            let retryable = err
                .failure()
                .is_some_and(|f| retry::may_retry(f, self.idempotent));
            if !retryable || attempt >= policy.max_attempts() {
                return Err(if attempt > 1 {
                    err.with_attempts(attempt)
                } else {
                    err
                });
            }
            let delay = policy.delay(attempt, err.retry_after(), &mut rng);
            if let Some(limit) = self.operation_timeout
                && start.elapsed() + delay >= limit
            {
                // Sleeping would overrun the deadline: fail now, keeping the cause.
                return Err(Error::operation_timeout(limit, Some(err)).with_attempts(attempt));
            }
            tracing::debug!(
                attempt,
                error = %err,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "attempt failed; retrying"
            );
            progress.last_error = Some(err);
            tokio::time::sleep(delay).await;
            progress.attempts = attempt + 1;
            err = match self.attempt(stream, attempt + 1).await {
                Ok(outcome) => return Ok(outcome),
                Err(err) => err,
            };
        }
    }

    /// Attempt number `n`, noted with its status on the request's span.
    async fn attempt(&self, stream: bool, n: u32) -> Result<Outcome, Error> {
        tracing::Span::current().record("attempt", n);
        let exchange = self.exchange(stream);
        let result = match self.attempt_timeout {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or_else(|_| Err(Error::attempt_timeout(limit))),
            None => exchange.await,
        };
        if let Some(status) = status_of(&result) {
            tracing::Span::current().record("status", status.as_u16());
        }
        result
    }

    /// One request and response, boxed: the layers around it (the attempt timeout, the retry
    /// loop, the caller's own futures) would otherwise copy it each time they are built. The
    /// request context (method, path) is added by the caller, so the box borrows nothing.
    pub(crate) fn exchange(
        &self,
        stream: bool,
    ) -> Pin<Box<dyn Future<Output = Result<Outcome, Error>> + Send>> {
        // A `reqwest::Request` made directly takes the header map as it is; its builder would
        // re-insert every header into a map of its own.
        let mut request = reqwest::Request::new(self.method.clone(), self.url.clone());
        *request.headers_mut() = self.headers.clone();
        if let Some(body) = &self.body {
            *request.body_mut() = Some(body.clone().into());
        }
        // Started here, not in the block: what a block captures keeps its room in the box for
        // the whole exchange, and the request is large while the pending response is not.
        let pending = self.client.inner.http.execute(request);
        let exchange = async move {
            let mut response = pending.await.map_err(reqwest_error)?;
            let status = response.status();
            if stream && status.is_success() {
                return Ok(Outcome::Stream(response));
            }
            // Taken, not cloned: the body read below consumes the response.
            let headers = std::mem::take(response.headers_mut());
            let body = response.bytes().await.map_err(reqwest_error)?;
            if status.is_success() {
                Ok(Outcome::Full(Response::new(status, headers, body)))
            } else {
                Err(Error::http_status(status, headers, &body))
            }
        };
        Box::pin(exchange)
    }
}

/// The HTTP status an attempt ended with, if it got one.
pub(crate) fn status_of(result: &Result<Outcome, Error>) -> Option<StatusCode> {
    match result {
        Ok(Outcome::Full(r)) => Some(r.status()),
        Ok(Outcome::Stream(r)) => Some(r.status()),
        Err(e) => e.status(),
    }
}

fn reqwest_error(err: reqwest::Error) -> Error {
    let failure: Failure = retry::failure_of(&err);
    // The URL is reported once, without its query, by `with_request`.
    Error::from_failure(failure, err.without_url())
}
