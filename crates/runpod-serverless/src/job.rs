//! A handle to one job: status, wait, output, cancel, retry, stream.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use futures_util::{FutureExt as _, StreamExt as _};
use runpod_transport::{Error, Result, from_value};
use runpod_types::serverless::{JobState, JobStatus, StreamChunk};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::endpoint::EndpointShared;
use crate::job_futures::{OutputFuture, WaitFuture};
use crate::poll::PollPolicy;
use crate::rate_limit::Route;

/// A job on an endpoint, by id. Cheap to clone; it holds no state beyond the id, so any number
/// of handles (in any number of processes) can watch the same job.
///
/// Made by [`Endpoint::run`](crate::Endpoint::run) or [`Endpoint::job`](crate::Endpoint::job).
/// `handle.await` waits for the job and yields its output as JSON.
///
/// ```no_run
/// # use runpod_serverless::__runpod as runpod;
/// # async fn demo(endpoint: runpod::Endpoint) -> runpod::Result<()> {
/// use runpod::prelude::*; // StreamExt, for `.next()`
///
/// let job = endpoint.run(serde_json::json!({"prompt": "tell a story"})).await?;
/// let mut words = job.stream::<String>();
/// while let Some(word) = words.next().await {
///     print!("{}", word?); // a FAILED job ends the stream with its error
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JobHandle {
    endpoint: Arc<EndpointShared>,
    id: Arc<str>,
    poll: PollPolicy,
}

impl fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("endpoint", &self.endpoint.id)
            .field("id", &self.id)
            .finish()
    }
}

/// Turns a terminal job into the caller's result: COMPLETED is `Ok`, the other ends are
/// `Error::job_ended` carrying the worker's error.
pub(crate) fn settle(job_id: &str, state: JobState) -> Result<JobState> {
    match &state.status {
        Some(JobStatus::Completed) => Ok(state),
        Some(status) => Err(Error::job_ended(job_id, status.as_str(), state.error)),
        None => Err(Error::job_ended(job_id, "UNKNOWN", state.error)),
    }
}

impl JobHandle {
    pub(crate) fn new(endpoint: Arc<EndpointShared>, id: String, poll: PollPolicy) -> Self {
        Self {
            endpoint,
            id: id.into(),
            poll,
        }
    }

    /// The job id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id of the job's endpoint.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint.id
    }

    /// The same handle with another polling policy.
    #[must_use]
    pub fn with_poll_policy(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    /// `GET /status/{id}`: the job as it is now, whatever its state (a FAILED job is an `Ok`
    /// here; only waiting turns job ends into errors).
    ///
    /// # Errors
    /// `is_not_found()` for an unknown job or one whose results or TTL expired; other transport
    /// and HTTP errors. Every error carries the job id (`job_id()`).
    pub fn status(&self) -> impl Future<Output = Result<JobState>> + Send + '_ {
        // Not an `async fn`: an `async` layer would be one more copy of the request's future.
        self.endpoint
            .call(Route::Status, |_| self.status_request())
            .map(|result| result.map_err(|e| e.with_job_id(&*self.id)))
    }

    /// `POST /cancel/{id}`: cancel a queued or running job. Returns the job (normally CANCELLED).
    ///
    /// Cancelling twice is harmless, so a failed cancel is retried like a read.
    ///
    /// # Errors
    /// Transport and HTTP errors, with the job id.
    pub async fn cancel(&self) -> Result<JobState> {
        self.endpoint
            .call(Route::Cancel, |ep| {
                ep.job_request(Route::Cancel, &self.id).idempotent(true)
            })
            .instrument(self.span(Route::Cancel))
            .await
            .map_err(|e| e.with_job_id(&*self.id))
    }

    /// `POST /retry/{id}`: queue a FAILED or TIMED_OUT job again under the same id (its output is
    /// cleared). Returns the job (normally IN_QUEUE). Not resent after it may have reached the
    /// server.
    ///
    /// # Errors
    /// Transport and HTTP errors (the server refuses jobs in other states, or expired ones), with
    /// the job id.
    pub async fn retry(&self) -> Result<JobState> {
        self.endpoint
            .call(Route::Retry, |ep| {
                ep.job_request(Route::Retry, &self.id).idempotent(false)
            })
            .instrument(self.span(Route::Retry))
            .await
            .map_err(|e| e.with_job_id(&*self.id))
    }

    /// Waits until the job ends and returns it (COMPLETED, with its output and timings).
    ///
    /// Holds long polls on `/status-sync` (or polls `/status`, per the handle's [`PollPolicy`]
    /// and its [`WaitStrategy`](crate::WaitStrategy)); transient failures (429, 5xx,
    /// connection errors) are retried and do not end the wait. Waits as long as it takes; see
    /// [`wait_with_timeout`](Self::wait_with_timeout) for a bound.
    ///
    /// # Errors
    /// `is_job_failed()`, `is_job_cancelled()` or `is_job_timed_out()` (with `job_error()`) when
    /// the job ended so; `is_not_found()` when it expired; other errors that outlast the poll
    /// policy. Every error carries the job id.
    pub fn wait(&self) -> WaitFuture {
        WaitFuture::new(self.clone())
    }

    /// [`wait`](Self::wait), giving up after `timeout`.
    ///
    /// # Errors
    /// As `wait`, plus `is_timeout()` with `job_id()` when the time is up (the job keeps running).
    pub async fn wait_with_timeout(&self, timeout: Duration) -> Result<JobState> {
        self.wait_until(Instant::now() + timeout).await
    }

    pub(crate) async fn wait_until(&self, deadline: Instant) -> Result<JobState> {
        match tokio::time::timeout_at(deadline, self.wait()).await {
            Ok(result) => result,
            Err(_) => Err(Error::wait_timeout(&*self.id)),
        }
    }

    /// Waits until the job ends and decodes its output into `T` (a missing output decodes from
    /// `null`, so `Option<T>` accepts it).
    ///
    /// # Errors
    /// As [`wait`](Self::wait), plus `is_decode()` naming the JSON path when the output does not
    /// fit `T`.
    pub async fn output<T: DeserializeOwned>(&self) -> Result<T> {
        self.decode(self.wait().await?)
    }

    /// [`output`](Self::output), giving up after `timeout` (`is_timeout()` with `job_id()`).
    ///
    /// # Errors
    /// As `output`, plus the timeout.
    pub async fn output_with_timeout<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T> {
        self.decode(self.wait_with_timeout(timeout).await?)
    }

    fn decode<T: DeserializeOwned>(&self, state: JobState) -> Result<T> {
        from_value(state.output.unwrap_or(Value::Null)).map_err(|e| e.with_job_id(&*self.id))
    }

    /// The job's streamed output (`GET /stream/{id}`), item by item, oldest first, each decoded
    /// into `T` as [`output`](Self::output) decodes the whole output (`String` for text chunks,
    /// your own type for JSON ones, `serde_json::Value` for anything).
    ///
    /// The stream long-polls `/stream?wait=`, or polls per the handle's [`PollPolicy`] (fast
    /// again after each chunk) on a host that answers at once, and ends
    /// when the job ends and every chunk was read:
    ///
    /// * COMPLETED: the stream just ends;
    /// * FAILED: the last item is an `Err` with `is_job_failed()` and the worker's `job_error()`;
    /// * CANCELLED / TIMED_OUT: the last item is an `Err` with `is_job_cancelled()` /
    ///   `is_job_timed_out()`;
    /// * a request error that outlasts the retries: the last item is that error.
    ///
    /// A chunk that does not fit `T` is an `Err` with `is_decode()` (naming the JSON path), and
    /// the stream goes on with the next chunk. Only streamed chunks are yielded; a handler that
    /// returns its output in one piece shows it through [`wait`](Self::wait), not here. Polling
    /// happens only while the stream is polled: dropping it stops all requests.
    ///
    /// The stream is `Unpin` (boxed), so `.next().await` works on it directly
    /// (`futures_util::StreamExt`, also in `runpod::prelude`).
    pub fn stream<T>(&self) -> impl Stream<Item = Result<T>> + Send + Unpin + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let id = Arc::clone(&self.id);
        Box::pin(crate::stream::chunks(self.clone()).map(move |chunk| {
            let output = chunk?.output.unwrap_or(Value::Null);
            from_value(output).map_err(|e| e.with_job_id(&*id))
        }))
    }

    /// The streamed chunks as Runpod sends them (`{"output": …, "metrics": …}`), for the fields
    /// beside the output; ends as [`stream`](Self::stream) does.
    pub fn chunks(&self) -> impl Stream<Item = Result<StreamChunk>> + Send + Unpin + 'static {
        Box::pin(crate::stream::chunks(self.clone()))
    }

    /// `GET /stream/{id}` once.
    pub(crate) async fn fetch_stream(&self) -> Result<runpod_types::serverless::StreamResponse> {
        self.endpoint
            .call(Route::Stream, |ep| ep.job_request(Route::Stream, &self.id))
            .await
            .map_err(|e| e.with_job_id(&*self.id))
    }

    pub(crate) fn poll_policy(&self) -> &PollPolicy {
        &self.poll
    }

    pub(crate) fn shared(&self) -> &EndpointShared {
        &self.endpoint
    }

    /// `GET /status/{id}`, for [`status`](Self::status) and waits.
    pub(crate) fn status_request(&self) -> runpod_transport::RequestBuilder {
        self.endpoint.job_request(Route::Status, &self.id)
    }

    /// The span of one operation on this job. Span names must be literals, hence the match.
    pub(crate) fn span(&self, route: Route) -> tracing::Span {
        let (ep, id) = (&self.endpoint.id, &*self.id);
        match route {
            Route::Stream => {
                tracing::info_span!("runpod.serverless.stream", endpoint_id = %ep, job_id = %id)
            }
            Route::Cancel => {
                tracing::info_span!("runpod.serverless.cancel", endpoint_id = %ep, job_id = %id)
            }
            Route::Retry => {
                tracing::info_span!("runpod.serverless.retry", endpoint_id = %ep, job_id = %id)
            }
            _ => tracing::info_span!("runpod.serverless.wait", endpoint_id = %ep, job_id = %id),
        }
    }
}

impl IntoFuture for JobHandle {
    type Output = Result<Value>;
    type IntoFuture = OutputFuture;

    /// Waits for the job and yields its output as JSON (see [`JobHandle::output`]).
    fn into_future(self) -> Self::IntoFuture {
        OutputFuture::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_maps_each_end_to_its_predicate() {
        let state = |s: &str| JobState {
            id: "j".into(),
            status: Some(JobStatus::from(s)),
            ..Default::default()
        };
        assert!(settle("j", state("COMPLETED")).is_ok());
        let failed = settle(
            "j",
            JobState {
                error: Some("boom".into()),
                ..state("FAILED")
            },
        )
        .unwrap_err();
        assert!(failed.is_job_failed() && failed.is_job_outcome());
        assert_eq!(failed.job_id(), Some("j"));
        assert_eq!(failed.job_error(), Some(&Value::from("boom")));
        assert!(
            settle("j", state("CANCELLED"))
                .unwrap_err()
                .is_job_cancelled()
        );
        assert!(
            settle("j", state("TIMED_OUT"))
                .unwrap_err()
                .is_job_timed_out()
        );
    }
}
