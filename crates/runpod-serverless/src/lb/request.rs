//! One request to a load-balancing endpoint, and its answer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use runpod_transport::{
    ByteStream, Error, HeaderMap, Method, RequestBuilder, SseEvent, StatusCode, StreamingResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{Affinity, LbErrorExt, LoadBalancer, WORKER_ID_HEADER};

/// How long after the first try cold-start retries may still start, without a timeout: up to
/// 2 min waiting for a worker plus 5.5 min of processing (Runpod's limits), and some room.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(8 * 60);

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type UploadStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

enum Body {
    None,
    Bytes(Bytes, String),
    Json(Result<Bytes, String>),
    Stream(UploadStream, String),
}

/// A request being built; finish with [`send`](Self::send),
/// [`send_streaming`](Self::send_streaming) or [`events`](Self::events).
#[must_use = "a request does nothing until it is sent"]
pub struct LbRequest {
    lb: LoadBalancer,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Body,
    affinity: Affinity,
    timeout: Option<Duration>,
    idempotent: Option<bool>,
}

impl fmt::Debug for LbRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LbRequest")
            .field("endpoint_id", &self.lb.endpoint_id())
            .field("method", &self.method)
            .field("path", &self.path)
            .field("affinity", &self.affinity)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LbRequest {
    pub(crate) fn new(lb: LoadBalancer, method: Method, path: &str) -> Self {
        Self {
            lb,
            method,
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::None,
            affinity: Affinity::None,
            timeout: None,
            idempotent: None,
        }
    }

    /// Which worker to ask for (default [`Affinity::None`]).
    pub fn affinity(mut self, affinity: Affinity) -> Self {
        self.affinity = affinity;
        self
    }

    /// Adds a header (an `Authorization` header replaces the client's key).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Appends `key=value` to the query string (percent-encoded).
    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.body = Body::Json(
            serde_json::to_vec(body)
                .map(Bytes::from)
                .map_err(|e| format!("cannot encode the request body as JSON: {e}")),
        );
        self
    }

    /// A body of bytes with its content type.
    pub fn body(mut self, bytes: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = Body::Bytes(bytes.into(), content_type.to_owned());
        self
    }

    /// A body sent as it is produced. It cannot be replayed: the request is sent once, with
    /// neither cold-start nor transport retries.
    pub fn body_stream<S, E>(mut self, stream: S, content_type: &str) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        use futures_util::TryStreamExt as _;
        self.body = Body::Stream(
            Box::pin(stream.map_err(Into::into)),
            content_type.to_owned(),
        );
        self
    }

    /// Time for the whole request, cold-start retries included, until the answer's head.
    /// Reading a streamed body is not bounded by it.
    ///
    /// Without it no timer of ours runs (the transport config's operation timeout aside):
    /// Runpod bounds a request itself (2 min waiting for a worker, 5.5 min processing), and
    /// cold-start retries stop when the next try would start more than 8 min after the first.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether sending twice is harmless (default: by method, as in transport). Only matters
    /// for failures other than "no workers available", which never reached a worker.
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.idempotent = Some(yes);
        self
    }

    /// The transport request for one try, with `remaining` (if any) as its operation timeout.
    fn build(&self, remaining: Option<Duration>) -> RequestBuilder {
        // No attempt timeout: a worker's slow route may take Runpod's full 5.5 min.
        let mut request = self
            .lb
            .transport_request(self.method.clone(), &self.path)
            .with_attempt_timeout(None)
            .header("accept", "*/*");
        if let Some(remaining) = remaining {
            request = request.with_operation_timeout(Some(remaining));
        }
        for (key, value) in &self.query {
            request = request.query(key, value);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value.clone());
        }
        if let Some(value) = self.affinity.header_value() {
            request = request.header(WORKER_ID_HEADER, value);
        }
        if let Some(yes) = self.idempotent {
            request = request.idempotent(yes);
        }
        match &self.body {
            Body::None | Body::Stream(..) => request,
            Body::Bytes(bytes, content_type) => request.body(bytes.clone(), content_type),
            Body::Json(Ok(bytes)) => request.body(bytes.clone(), "application/json"),
            Body::Json(Err(_)) => request,
        }
    }

    /// Sends it and reads the whole answer.
    ///
    /// # Errors
    /// A non-2xx answer is an error with its status, headers and body (see [`LbErrorExt`] for
    /// the load-balancing ones); also connection failures and timeouts, as in transport.
    pub async fn send(self) -> Result<LbResponse, Error> {
        if let Body::Stream(..) = &self.body {
            let response = self.send_streaming().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.inner.bytes().await?;
            return Ok(LbResponse {
                status,
                headers,
                body,
            });
        }
        // A body that can be sent again: the transport reads the whole answer, and its parts
        // move into the answer without copies.
        let (status, headers, body) = self
            .with_cold_starts(|request| request.send())
            .await?
            .into_parts();
        Ok(LbResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends it and returns once the answer's head has arrived; read the body as it comes.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_streaming(mut self) -> Result<LbStreamingResponse, Error> {
        if let Body::Stream(..) = &self.body {
            let Body::Stream(stream, content_type) = std::mem::replace(&mut self.body, Body::None)
            else {
                unreachable!("matched above")
            };
            let request = self.build(self.timeout);
            let inner = request.send_body_stream(stream, &content_type).await?;
            return Ok(LbStreamingResponse { inner });
        }
        let inner = self
            .with_cold_starts(RequestBuilder::send_streaming)
            .await?;
        Ok(LbStreamingResponse { inner })
    }

    /// Sends a body that can be sent again with `send`, again while the answer is "no workers
    /// available" and the cold-start policy and the deadline allow.
    async fn with_cold_starts<T, F, Fut>(self, send: F) -> Result<T, Error>
    where
        F: Fn(RequestBuilder) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        if let Body::Json(Err(message)) = &self.body {
            return Err(Error::invalid_input(message.clone()));
        }
        let deadline = Instant::now() + self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let policy = self.lb.cold_start;
        let mut tries = 0;
        loop {
            tries += 1;
            let remaining = self
                .timeout
                .map(|_| deadline.saturating_duration_since(Instant::now()));
            let result = send(self.build(remaining)).await;
            match result {
                Ok(answer) => return Ok(answer),
                Err(err) if err.is_no_workers_available() && tries < policy.attempts => {
                    if Instant::now() + policy.delay >= deadline {
                        return Err(err);
                    }
                    tracing::debug!(
                        endpoint_id = %self.lb.endpoint_id(),
                        tries,
                        "no workers available; waiting for a cold start"
                    );
                    tokio::time::sleep(policy.delay).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Sends it (with `Accept: text/event-stream`) and reads the answer as server-sent events.
    ///
    /// # Errors
    /// As [`send`](Self::send), for the request; the stream yields errors of the body.
    pub async fn events(
        self,
    ) -> Result<impl Stream<Item = Result<SseEvent, Error>> + Send + 'static, Error> {
        let response = self
            .header("accept", "text/event-stream")
            .send_streaming()
            .await?;
        Ok(response.inner.into_sse())
    }
}

fn worker_id_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(WORKER_ID_HEADER)?.to_str().ok()
}

/// A whole answer of a worker.
#[derive(Debug, Clone)]
pub struct LbResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl LbResponse {
    /// The status code (2xx; others are errors).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The worker that answered (`X-Runpod-Worker-Id`).
    pub fn worker_id(&self) -> Option<&str> {
        worker_id_of(&self.headers)
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded as JSON into `T`.
    ///
    /// # Errors
    /// A decode error naming the JSON path that failed.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        runpod_transport::from_slice(&self.body)
    }

    /// [`Affinity::Strict`] to the worker that answered, for the next request (none if the
    /// answer named no worker).
    pub fn stick(&self) -> Affinity {
        self.worker_id().map_or(Affinity::None, Affinity::strict)
    }
}

/// An answer whose body is read as it arrives.
#[derive(Debug)]
pub struct LbStreamingResponse {
    inner: StreamingResponse,
}

impl LbStreamingResponse {
    /// The status code (2xx; others are errors).
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The answer's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The worker that answered (`X-Runpod-Worker-Id`).
    pub fn worker_id(&self) -> Option<&str> {
        worker_id_of(self.inner.headers())
    }

    /// The body, chunk by chunk.
    pub fn into_body(self) -> ByteStream {
        self.inner.into_body()
    }

    /// The body as server-sent events.
    pub fn into_events(self) -> impl Stream<Item = Result<SseEvent, Error>> + Send + 'static {
        self.inner.into_sse()
    }
}
