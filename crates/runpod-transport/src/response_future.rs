//! The futures of a request being sent: written out by hand so that they have names (a job
//! handle's `IntoFuture` can then hold one without a box) and stay small.
//!
//! Every layer of `async` around a request is built, and its bytes copied, once per request, and
//! a client waiting on thousands of jobs makes thousands of requests a second. Here the common
//! case, one attempt that succeeds, is one small struct around the boxed exchange and its timer:
//! the prepared request is boxed once, and the retry loop and the operation timeout are boxed
//! futures entered only when they are needed.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::{Instant, Sleep};

use crate::exchange::{Boxed, Exchange, Prepared, Whole};
use crate::{Error, Response};

/// A request with its retries, under its span, owning the prepared request; `E` is the kind
/// of exchange, [`Whole`] or [`Streaming`](crate::exchange::Streaming).
pub(crate) struct Running<E: Exchange> {
    /// `None` only while the retry loop (which owns it meanwhile) runs.
    prepared: Option<Box<Prepared>>,
    span: tracing::Span,
    /// When the first poll came.
    start: Option<Instant>,
    state: State<E>,
}

/// What the retry loop ends with: the prepared request, handed back, and the result.
type Handback<E> = (Box<Prepared>, Result<<E as Exchange>::Output, Error>);

enum State<E: Exchange> {
    /// Not polled yet: nothing starts (no timer, no connection) before the first poll.
    Idle,
    /// The first attempt, and its timer when it has a timeout. The timer is beside the exchange
    /// rather than around it: wrapping the exchange would copy it into the wrapper.
    First {
        exchange: Boxed<Result<E::Output, Error>>,
        timer: Option<(Pin<Box<Sleep>>, Duration)>,
    },
    /// The retry loop after a failed first attempt, or every attempt under an operation
    /// timeout. Hands the prepared request back.
    Slow(Boxed<Handback<E>>),
    Done,
}

impl<E: Exchange> Running<E> {
    /// A request to run when polled.
    pub(crate) fn start(prepared: Prepared) -> Self {
        // Only the path: query values may be anything the caller passed.
        let span = tracing::debug_span!(
            "runpod_http",
            method = %prepared.method,
            path = %prepared.url.path(),
            operation = prepared.operation,
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        Self {
            prepared: Some(Box::new(prepared)),
            span,
            start: None,
            state: State::Idle,
        }
    }
}

/// Records and logs the end of a request, and names the request in the error, or in the
/// response (for its decode errors).
fn finish<E: Exchange>(
    span: &tracing::Span,
    start: Instant,
    prepared: Option<&Prepared>,
    result: Result<E::Output, Error>,
) -> Result<E::Output, Error> {
    let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    span.record("elapsed_ms", elapsed);
    match &result {
        Ok(_) => tracing::debug!(elapsed_ms = elapsed, "request succeeded"),
        Err(e) => tracing::debug!(elapsed_ms = elapsed, error = %e, "request failed"),
    }
    let Some(prepared) = prepared else {
        return result;
    };
    match result {
        Ok(output) => Ok(E::named(output, prepared)),
        Err(e) => Err(e.with_request(&prepared.method, prepared.url.path())),
    }
}

impl<E: Exchange> Future for Running<E> {
    type Output = Result<E::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Self {
            prepared,
            span,
            start,
            state,
        } = self.get_mut();
        // Entered for every poll, as `Instrument` would: the retry loop's logs and records
        // find it as the current span.
        let _entered = span.enter();
        let start = *start.get_or_insert_with(Instant::now);
        loop {
            let (owner, result) = match state {
                State::Idle => {
                    let Some(owned) = prepared.take() else {
                        *state = State::Done;
                        continue;
                    };
                    *state = match owned.operation_timeout {
                        Some(limit) => State::Slow(Box::pin(async move {
                            let result = owned.timed::<E>(limit, start).await;
                            (owned, result)
                        })),
                        None => {
                            span.record("attempt", 1);
                            let exchange = E::start(&owned);
                            let timer = owned
                                .attempt_timeout
                                .map(|limit| (Box::pin(tokio::time::sleep(limit)), limit));
                            *prepared = Some(owned);
                            State::First { exchange, timer }
                        }
                    };
                    continue;
                }
                State::First { exchange, timer } => {
                    let result = match exchange.as_mut().poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => match timer {
                            Some((sleep, limit)) => {
                                ready!(sleep.as_mut().poll(cx));
                                Err(Error::attempt_timeout(*limit))
                            }
                            None => return Poll::Pending,
                        },
                    };
                    if let Some(status) = crate::exchange::status_of::<E>(&result) {
                        span.record("status", status.as_u16());
                    }
                    match (result, prepared.take()) {
                        (Err(err), Some(owned)) => {
                            *state = State::Slow(Box::pin(async move {
                                let result = owned.retry_after_first::<E>(err, start).await;
                                (owned, result)
                            }));
                            continue;
                        }
                        (result, owned) => (owned, result),
                    }
                }
                State::Slow(retries) => {
                    let (owned, result) = ready!(retries.as_mut().poll(cx));
                    (Some(owned), result)
                }
                State::Done => {
                    return Poll::Ready(Err(Error::invalid_input(
                        "a request future was polled after it completed",
                    )));
                }
            };
            *state = State::Done;
            let result = finish::<E>(span, start, owner.as_deref(), result);
            *prepared = owner;
            return Poll::Ready(result);
        }
    }
}

/// The future of [`RequestBuilder::send`](crate::RequestBuilder::send): the response, its body
/// read.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture {
    inner: Inner,
}

enum Inner {
    Running(Running<Whole>),
    /// The request could not be prepared; the error is taken when polled.
    Failed(Option<Error>),
}

impl ResponseFuture {
    pub(crate) fn new(prepared: Result<Prepared, Error>) -> Self {
        Self {
            inner: match prepared {
                Ok(prepared) => Inner::Running(Running::start(prepared)),
                Err(e) => Inner::Failed(Some(e)),
            },
        }
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            Inner::Running(running) => Pin::new(running).poll(cx),
            Inner::Failed(err) => Poll::Ready(Err(err.take().unwrap_or_else(|| {
                Error::invalid_input("a request future was polled after it completed")
            }))),
        }
    }
}

/// The future of [`RequestBuilder::send_json`](crate::RequestBuilder::send_json): the body
/// decoded into `T`.
#[must_use = "futures do nothing unless polled"]
pub struct JsonFuture<T> {
    response: ResponseFuture,
    _out: PhantomData<fn() -> T>,
}

impl<T> JsonFuture<T> {
    pub(crate) fn new(response: ResponseFuture) -> Self {
        Self {
            response,
            _out: PhantomData,
        }
    }
}

impl<T> fmt::Debug for JsonFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonFuture").finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Future for JsonFuture<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(Pin::new(&mut self.get_mut().response).poll(cx));
        Poll::Ready(response.and_then(|r| r.json()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hot path stays small: the future a caller holds per request, and the box of one
    /// whole exchange (what every request allocates besides the prepared request). Measured
    /// when the `stream: bool` flag gave way to the two exchange types: 112 → 104 bytes for
    /// the futures, 688 for the exchange either way.
    #[tokio::test]
    async fn request_futures_stay_small() {
        let client =
            crate::HttpClient::new(crate::Config::builder().with_api_key("k").build().unwrap())
                .unwrap();
        let builder = client.request(http::Method::GET, "http://127.0.0.1:9/x");
        let prepared = builder.prepare_for_test().unwrap();
        let exchange = <Whole as Exchange>::start(&prepared);
        let sizes = (
            std::mem::size_of::<ResponseFuture>(),
            std::mem::size_of::<JsonFuture<serde_json::Value>>(),
            std::mem::size_of_val(&*exchange),
        );
        assert!(sizes.0 <= 104 && sizes.1 <= 104, "{sizes:?}");
        assert!(sizes.2 <= 768, "{sizes:?}");
    }
}
