//! A prepared request, its exchanges with the server, and the retry loop around them.
//!
//! Two kinds of exchange: [`Whole`] reads the body (every ordinary call), [`Streaming`] ends
//! with the response headers and leaves the body to be read as it comes (server-sent events).
//! The retry loop and the futures in `response_future` are generic over the kind, so each
//! caller gets the output it asked for, with no branch for the other.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use crate::lanes::Lease;
use crate::{Error, HttpClient, Response, RetryPolicy, retry};

pub(crate) type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A request ready to send, as many times as the retry policy allows.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) client: HttpClient,
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) idempotent: bool,
    /// A policy of this request's own; `None`: the client's (kept there, not copied into every
    /// request's future).
    pub(crate) retry: Option<Box<RetryPolicy>>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) operation_timeout: Option<Duration>,
    pub(crate) operation: Option<&'static str>,
}

/// One kind of exchange: what a successful attempt yields.
pub(crate) trait Exchange: 'static {
    type Output: Send + 'static;

    /// One request and its response, boxed: the layers around it (the attempt timeout, the
    /// retry loop, the caller's own futures) would otherwise copy it each time they are built.
    /// The request context (method, path) is added by the caller, so the box borrows nothing.
    fn start(prepared: &Prepared) -> Boxed<Result<Self::Output, Error>>;

    /// The status of a successful attempt, for the request's span.
    fn status(output: &Self::Output) -> StatusCode;

    /// Names the request in the output, for the errors made from it later (decode errors).
    fn named(output: Self::Output, prepared: &Prepared) -> Self::Output;
}

/// The response with its whole body read.
pub(crate) struct Whole;

/// A 2xx response whose body is still to be read.
pub(crate) struct Streaming;

impl Exchange for Whole {
    type Output = Response;

    fn start(prepared: &Prepared) -> Boxed<Result<Response, Error>> {
        // Started here, not in the block: what a block captures keeps its room in the box for
        // the whole exchange, and the request is large while the pending response is not.
        let (pending, lease) = prepared.execute();
        Box::pin(async move {
            let mut response = pending.await.map_err(|e| Error::from_reqwest(&e))?;
            let status = response.status();
            // Taken, not cloned: the body read below consumes the response.
            let headers = std::mem::take(response.headers_mut());
            let body = response
                .bytes()
                .await
                .map_err(|e| Error::from_reqwest(&e))?;
            drop(lease);
            if status.is_success() {
                Ok(Response::new(status, headers, body))
            } else {
                Err(Error::http_status(status, headers, &body))
            }
        })
    }

    fn status(output: &Response) -> StatusCode {
        output.status()
    }

    fn named(output: Response, prepared: &Prepared) -> Response {
        output.with_request(prepared.method.clone(), prepared.url.path())
    }
}

/// A response whose body is still to be read, and the hold on its connection's stream.
pub(crate) struct Held {
    pub(crate) response: reqwest::Response,
    pub(crate) lease: Lease,
}

impl Exchange for Streaming {
    type Output = Held;

    fn start(prepared: &Prepared) -> Boxed<Result<Held, Error>> {
        let (pending, lease) = prepared.execute();
        Box::pin(async move {
            let response = pending.await.map_err(|e| Error::from_reqwest(&e))?;
            if response.status().is_success() {
                Ok(Held { response, lease })
            } else {
                Err(read_failure(response).await)
            }
        })
    }

    fn status(output: &Held) -> StatusCode {
        output.response.status()
    }

    fn named(output: Held, _: &Prepared) -> Held {
        output
    }
}

/// The error of a non-2xx response, its body read for the server's explanation.
async fn read_failure(mut response: reqwest::Response) -> Error {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    match response.bytes().await {
        Ok(body) => Error::http_status(status, headers, &body),
        Err(e) => Error::from_reqwest(&e),
    }
}

/// What the retry loop has done so far, for an operation timeout that interrupts it.
#[derive(Default)]
struct Progress {
    attempts: u32,
    last_error: Option<Error>,
}

impl Prepared {
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        self.retry
            .as_deref()
            .unwrap_or_else(|| self.client.config().retry_policy())
    }

    /// The request sent once, and its hold on a connection's stream.
    fn execute(
        &self,
    ) -> (
        impl Future<Output = Result<reqwest::Response, reqwest::Error>> + use<>,
        Lease,
    ) {
        // A `reqwest::Request` made directly takes the header map as it is; its builder would
        // re-insert every header into a map of its own.
        let mut request = reqwest::Request::new(self.method.clone(), self.url.clone());
        *request.headers_mut() = self.headers.clone();
        if let Some(body) = &self.body {
            *request.body_mut() = Some(body.clone().into());
        }
        self.client.execute(request)
    }

    /// The retry loop after the first attempt failed with `err`.
    pub(crate) async fn retry_after_first<E: Exchange>(
        &self,
        err: Error,
        start: Instant,
    ) -> Result<E::Output, Error> {
        let mut progress = Progress {
            attempts: 1,
            last_error: None,
        };
        self.retry_after::<E>(err, start, &mut progress).await
    }

    /// Every attempt under the operation timeout `limit`.
    pub(crate) async fn timed<E: Exchange>(
        &self,
        limit: Duration,
        start: Instant,
    ) -> Result<E::Output, Error> {
        let mut progress = Progress::default();
        let attempts = async {
            progress.attempts = 1;
            match self.attempt::<E>(1).await {
                Ok(output) => Ok(output),
                Err(err) => self.retry_after::<E>(err, start, &mut progress).await,
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
    async fn retry_after<E: Exchange>(
        &self,
        mut err: Error,
        start: Instant,
        progress: &mut Progress,
    ) -> Result<E::Output, Error> {
        let policy = self.retry_policy();
        let mut delays = policy.delays();
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
            let delay = policy.delay(attempt, err.retry_after(), &mut delays);
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
            err = match self.attempt::<E>(attempt + 1).await {
                Ok(output) => return Ok(output),
                Err(err) => err,
            };
        }
    }

    /// Attempt number `n`, noted with its status on the request's span.
    async fn attempt<E: Exchange>(&self, n: u32) -> Result<E::Output, Error> {
        tracing::Span::current().record("attempt", n);
        let exchange = E::start(self);
        let result = match self.attempt_timeout {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or_else(|_| Err(Error::attempt_timeout(limit))),
            None => exchange.await,
        };
        if let Some(status) = status_of::<E>(&result) {
            tracing::Span::current().record("status", status.as_u16());
        }
        result
    }
}

/// The HTTP status an attempt ended with, if it got one.
pub(crate) fn status_of<E: Exchange>(result: &Result<E::Output, Error>) -> Option<StatusCode> {
    match result {
        Ok(output) => Some(E::status(output)),
        Err(e) => e.status(),
    }
}
