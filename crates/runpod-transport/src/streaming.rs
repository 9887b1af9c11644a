//! Answers read as they arrive, and request bodies sent as they are produced: the raw HTTP that
//! load-balancing endpoints need (a worker's own API, any body, any size up to Runpod's limits).
//!
//! [`RequestBuilder::send_streaming`] runs the request with the usual retries and hands back
//! the head as soon as it arrives, the body as a stream. [`RequestBuilder::send_body_stream`]
//! uploads a stream; such a body cannot be replayed, so that request is tried exactly once.

use std::fmt;
use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};

use crate::exchange::{Held, Streaming};
use crate::response_future::Running;
use crate::sse::{SseEvent, SseParser};
use crate::{Error, RequestBuilder};

/// The body of a [`StreamingResponse`]: chunks as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// A 2xx answer whose body has not been read yet.
pub struct StreamingResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: ByteStream,
}

impl fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl StreamingResponse {
    /// The status code (always 2xx: other statuses are errors carrying the body).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body, chunk by chunk.
    pub fn into_body(self) -> ByteStream {
        self.body
    }

    /// The body read whole.
    ///
    /// # Errors
    /// When the connection breaks while reading.
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let mut body = self.body;
        let mut all = Vec::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(all))
    }

    /// The body read as `text/event-stream` events, with transport's SSE parser. The stream
    /// ends with the body; nothing reconnects (the request may not be safe to send again).
    pub fn into_sse(self) -> impl Stream<Item = Result<SseEvent, Error>> + Send + 'static {
        let mut body = self.body;
        async_stream::stream! {
            let mut parser = SseParser::new();
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(chunk) => {
                        for event in parser.feed(&chunk) {
                            yield Ok(event);
                        }
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                }
            }
        }
    }
}

fn body_error(err: reqwest::Error) -> Error {
    Error::from_reqwest(&err)
}

fn streaming(Held { response, lease }: Held) -> StreamingResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes_stream().map(move |chunk| {
        // The stream's connection stays taken for as long as the body is read.
        let _held = &lease;
        chunk.map_err(body_error)
    });
    StreamingResponse {
        status,
        headers,
        body: Box::pin(body),
    }
}

impl RequestBuilder {
    /// Sends the request (retrying per the policy, as [`send`](Self::send) does) and returns
    /// once the answer's head has arrived; the body is read as it comes. A non-2xx answer is an
    /// error carrying the status, headers and body, as with `send`.
    ///
    /// The attempt and operation timeouts cover the wait for the head only; bound the body
    /// yourself (e.g. `tokio::time::timeout` around reading it).
    pub async fn send_streaming(self) -> Result<StreamingResponse, Error> {
        let prepared = self.prepare()?;
        let response = Running::<Streaming>::start(prepared).await?;
        Ok(streaming(response))
    }

    /// Sends `body` as the request body, chunk by chunk, with `content_type`, and returns as
    /// [`send_streaming`](Self::send_streaming) does. A streamed body cannot be replayed, so
    /// the request is tried once, under the attempt and operation timeouts (for the head); a
    /// body set with
    /// [`body`](Self::body) or [`json`](Self::json) is replaced.
    pub async fn send_body_stream<S>(
        self,
        body: S,
        content_type: &str,
    ) -> Result<StreamingResponse, Error>
    where
        S: Stream<Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>> + Send + 'static,
    {
        let content_type = http::HeaderValue::from_str(content_type).map_err(|_| {
            Error::invalid_input(format!("`{content_type}` is not a valid content type"))
        })?;
        let prepared = self.prepare()?;
        let mut request = reqwest::Request::new(prepared.method.clone(), prepared.url.clone());
        *request.headers_mut() = prepared.headers.clone();
        request
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, content_type);
        *request.body_mut() = Some(reqwest::Body::wrap_stream(body));
        let (pending, lease) = prepared.client.execute(request);
        let path = prepared.url.path().to_owned();
        let limit = match (prepared.attempt_timeout, prepared.operation_timeout) {
            (Some(a), Some(o)) if o < a => Some((o, true)),
            (Some(a), _) => Some((a, false)),
            (None, o) => o.map(|o| (o, true)),
        };
        let result = match limit {
            Some((limit, whole)) => match tokio::time::timeout(limit, pending).await {
                Ok(result) => result.map_err(body_error),
                Err(_) if whole => Err(Error::operation_timeout(limit, None)),
                Err(_) => Err(Error::attempt_timeout(limit)),
            },
            None => pending.await.map_err(body_error),
        };
        let response = result.map_err(|e| e.with_request(&prepared.method, &path))?;
        let status = response.status();
        if status.is_success() {
            return Ok(streaming(Held { response, lease }));
        }
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(body_error)?;
        Err(Error::http_status(status, headers, &bytes).with_request(&prepared.method, &path))
    }
}

/// Decodes a JSON body into `T`; a mismatch names the JSON path and keeps the start of the body.
pub fn from_slice<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    crate::response::decode_slice("body", body)
}
