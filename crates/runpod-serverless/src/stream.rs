//! Polling `/stream/{id}` as a `Stream` of chunks.

use futures_core::Stream;
use runpod_transport::{Error, Result};
use runpod_types::serverless::{JobStatus, StreamChunk};
use serde_json::Value;
use tracing::Instrument as _;

use crate::job::JobHandle;
use crate::poll::Backoff;

/// How a finished job ends its stream: nothing for COMPLETED, else its error.
fn end_of(job_id: &str, status: &JobStatus, error: Option<Value>) -> Option<Error> {
    (*status != JobStatus::Completed).then(|| Error::job_ended(job_id, status.as_str(), error))
}

/// The chunks of one job. The body runs only while the consumer polls, so dropping the stream
/// stops the requests.
pub(crate) fn chunks(job: JobHandle) -> impl Stream<Item = Result<StreamChunk>> + Send + 'static {
    let span = job.span(crate::rate_limit::Route::Stream);
    async_stream::stream! {
        let mut backoff = Backoff::new(job.poll_policy());
        // Set once the server reported the job's end; chunks may still be pending then.
        let mut ended: Option<(JobStatus, Option<Value>)> = None;
        loop {
            let delay = match job.fetch_stream().instrument(span.clone()).await {
                Ok(response) => {
                    backoff.succeeded();
                    let chunks = response.stream.unwrap_or_default();
                    let got_chunks = !chunks.is_empty();
                    for chunk in chunks {
                        yield Ok(chunk);
                    }
                    match response.status.filter(JobStatus::is_terminal) {
                        Some(status) => {
                            let earlier = ended.take().and_then(|(_, error)| error);
                            let error = response.error.filter(|e| !e.is_null()).or(earlier);
                            if !got_chunks {
                                tracing::debug!(parent: &span, ?status, "stream ended");
                                if let Some(err) = end_of(job.id(), &status, error) {
                                    yield Err(err);
                                }
                                return;
                            }
                            // The job ended but this answer still carried chunks: ask once
                            // more, soon, so that none is left behind.
                            ended = Some((status, error));
                            backoff.reset();
                        }
                        None if got_chunks => backoff.reset(),
                        None => {}
                    }
                    backoff.next_delay()
                }
                // The job is known to have ended; a failing drain poll (e.g. results already
                // expired) must not turn a finished stream into an error.
                Err(_) if ended.is_some() => {
                    if let Some((status, error)) = ended.take()
                        && let Some(err) = end_of(job.id(), &status, error)
                    {
                        yield Err(err);
                    }
                    return;
                }
                Err(err) => match backoff.failed(&err) {
                    Some(delay) => {
                        tracing::debug!(parent: &span, error = %err, "stream poll failed");
                        delay
                    }
                    None => {
                        yield Err(err);
                        return;
                    }
                },
            };
            tokio::time::sleep(delay).await;
        }
    }
}
