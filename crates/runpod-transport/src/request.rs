//! The request builder: what a caller sets before sending. Sending is in `exchange` (the
//! prepared request, its exchanges, the retry loop) and `response_future`; the event stream in
//! `sse`.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::exchange::Prepared;
use crate::response_future::{JsonFuture, ResponseFuture};
use crate::sse::SseEvent;
use crate::{Auth, Error, HttpClient, RetryPolicy};

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
        crate::sse::events(self.prepare())
    }

    #[cfg(test)]
    pub(crate) fn prepare_for_test(self) -> Result<Prepared, Error> {
        self.prepare()
    }

    pub(crate) fn prepare(self) -> Result<Prepared, Error> {
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
