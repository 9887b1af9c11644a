//! The futures that wait for a job to end, written out by hand so that `handle.await` has a
//! named type and needs no box: each wait is one struct holding the status request in flight.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use runpod_transport::{Error, JsonFuture, Result};
use runpod_types::serverless::{JobState, JobStatus};
use serde_json::Value;
use tokio::time::{Instant, Sleep};

use crate::job::{JobHandle, settle};
use crate::long_poll;
use crate::poll::Schedule;
use crate::rate_limit::{Permit, Route};

/// The future of [`JobHandle::wait`]: holds long polls on `/status-sync` (or polls `/status`, per
/// the handle's [`PollPolicy`](crate::PollPolicy) and [`WaitStrategy`](crate::WaitStrategy))
/// until the job ends, and resolves to the finished job (COMPLETED) or the error that ended the
/// wait. Dropping it drops the request in flight, closing a long poll's connection.
#[must_use = "futures do nothing unless polled"]
pub struct WaitFuture {
    watch: Watch,
    span: tracing::Span,
    state: State,
}

/// What a wait knows of its job between polls.
struct Watch {
    job: JobHandle,
    backoff: Schedule,
    last_status: Option<JobStatus>,
}

enum State {
    /// Time to ask for the status (first, once the rate limiter lets it through).
    Ask,
    Queued(Pin<Box<dyn Future<Output = Permit> + Send>>),
    Asking {
        /// Held while the request runs, as the limiter counts requests in flight.
        _permit: Option<Permit>,
        request: JsonFuture<JobState>,
        /// When a long poll was sent (`None` for a `/status` poll).
        long_poll: Option<Instant>,
    },
    Sleeping(Pin<Box<Sleep>>),
    Done,
}

impl WaitFuture {
    pub(crate) fn new(job: JobHandle) -> Self {
        Self {
            span: job.span(Route::Status),
            watch: Watch {
                backoff: Schedule::new(job.poll_policy()),
                job,
                last_status: None,
            },
            state: State::Ask,
        }
    }
}

impl Watch {
    fn request(&self, permit: Option<Permit>) -> State {
        let shared = self.job.shared();
        let (request, long_poll) = if shared
            .long_poll
            .applies(self.job.poll_policy().wait_strategy())
        {
            let req = long_poll::request(shared, Route::StatusSync, self.job.id(), long_poll::WAIT);
            (req, Some(Instant::now()))
        } else {
            (self.job.status_request(), None)
        };
        State::Asking {
            _permit: permit,
            request: request.send_json(),
            long_poll,
        }
    }

    /// A long poll's answer, read before [`on_answer`](Self::on_answer): `Err` with the delay
    /// before the next request when the answer is only the long poll ending (its wait ran out,
    /// its connection was cut, or the host lacks the route).
    fn on_long_poll(
        &mut self,
        answer: Result<JobState>,
        sent: Instant,
    ) -> std::result::Result<Result<JobState>, std::time::Duration> {
        let held = sent.elapsed();
        match &answer {
            Ok(state) if !state.is_terminal() && held >= long_poll::HONOURED => {
                self.backoff.succeeded();
                self.last_status.clone_from(&state.status);
                tracing::trace!(status = ?state.status, "long poll ran out; re-arming");
                Err(std::time::Duration::ZERO)
            }
            Err(err) if long_poll::was_cut(err, held) => {
                tracing::debug!(error = %err, "long poll cut; re-arming");
                Err(std::time::Duration::ZERO)
            }
            Err(err)
                if self
                    .job
                    .shared()
                    .long_poll
                    .falls_back(self.job.poll_policy().wait_strategy(), err) =>
            {
                Err(std::time::Duration::ZERO)
            }
            // An answer before the wait was up without the job's end means a host that does
            // not hold the request: the poll schedule paces it (in `on_answer`).
            _ => Ok(answer),
        }
    }

    /// What a status answer means: the end of the wait, or how long to sleep before asking
    /// again.
    fn on_answer(
        &mut self,
        answer: Result<JobState>,
    ) -> std::result::Result<Result<JobState>, std::time::Duration> {
        match answer {
            Ok(state) => {
                self.backoff.succeeded();
                // Unknown statuses are not terminal: the wait goes on through values this
                // version does not know.
                if state.is_terminal() {
                    tracing::debug!(status = ?state.status, "job ended");
                    return Ok(settle(self.job.id(), state));
                }
                if state.status != self.last_status {
                    tracing::debug!(status = ?state.status, "job status");
                    if self.last_status.is_some() {
                        self.backoff.reset();
                    }
                    self.last_status = state.status;
                }
                Err(self.backoff.next_delay())
            }
            Err(err) => {
                let err = err.with_job_id(self.job.id());
                match self.backoff.failed(&err) {
                    Some(delay) => {
                        let delay_ms = delay.as_millis();
                        tracing::debug!(error = %err, delay_ms, "status poll failed; waiting on");
                        Err(delay)
                    }
                    None => Ok(Err(err)),
                }
            }
        }
    }
}

impl fmt::Debug for WaitFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFuture")
            .field("job", &self.watch.job)
            .finish_non_exhaustive()
    }
}

impl Future for WaitFuture {
    type Output = Result<JobState>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Self { watch, span, state } = self.get_mut();
        let _entered = span.enter();
        loop {
            match state {
                State::Ask => {
                    *state = match watch.job.shared().queue(Route::Status) {
                        Some(queued) => State::Queued(Box::pin(queued)),
                        None => watch.request(None),
                    };
                }
                State::Queued(permit) => {
                    let permit = ready!(permit.as_mut().poll(cx));
                    *state = watch.request(Some(permit));
                }
                State::Asking {
                    request, long_poll, ..
                } => {
                    let answer = ready!(Pin::new(request).poll(cx));
                    let long_poll = *long_poll;
                    // Drops the request and its permit before any sleep.
                    *state = State::Done;
                    let verdict = match long_poll {
                        Some(sent) => watch
                            .on_long_poll(answer, sent)
                            .and_then(|answer| watch.on_answer(answer)),
                        None => watch.on_answer(answer),
                    };
                    match verdict {
                        Ok(end) => return Poll::Ready(end),
                        Err(delay) if delay.is_zero() => *state = State::Ask,
                        Err(delay) => {
                            *state = State::Sleeping(Box::pin(tokio::time::sleep(delay)));
                        }
                    }
                }
                State::Sleeping(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    *state = State::Ask;
                }
                State::Done => {
                    return Poll::Ready(Err(Error::invalid_input(
                        "a wait was polled after it completed",
                    )
                    .with_job_id(watch.job.id())));
                }
            }
        }
    }
}

/// The future of `handle.await` (`JobHandle`'s `IntoFuture`): [`WaitFuture`], resolving to
/// the job's output as JSON (`null` when it has none).
#[must_use = "futures do nothing unless polled"]
pub struct OutputFuture {
    wait: WaitFuture,
}

impl OutputFuture {
    pub(crate) fn new(job: JobHandle) -> Self {
        Self {
            wait: WaitFuture::new(job),
        }
    }
}

impl fmt::Debug for OutputFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputFuture")
            .field("job", &self.wait.watch.job)
            .finish_non_exhaustive()
    }
}

impl Future for OutputFuture {
    type Output = Result<Value>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = ready!(Pin::new(&mut self.get_mut().wait).poll(cx))?;
        // The output is already JSON: no decode round trip.
        Poll::Ready(Ok(state.output.unwrap_or(Value::Null)))
    }
}
