//! Polling `/stream/{id}` as a `Stream` of chunks.

use futures_core::Stream;
use runpod_transport::{Error, Result};
use runpod_types::serverless::{JobStatus, StreamChunk};
use serde_json::Value;
use tracing::Instrument as _;

use crate::job::JobHandle;
use crate::long_poll;
use crate::poll::Schedule;
use crate::rate_limit::Route;

/// How a finished job ends its stream: nothing for COMPLETED, else its error.
fn end_of(job_id: &str, status: &JobStatus, error: Option<Value>) -> Option<Error> {
    (*status != JobStatus::Completed).then(|| Error::job_ended(job_id, status.as_str(), error))
}

/// The chunks of one job. The body runs only while the consumer polls, so dropping the stream
/// stops the requests.
pub(crate) fn chunks(job: JobHandle) -> impl Stream<Item = Result<StreamChunk>> + Send + 'static {
    let span = job.span(Route::Stream);
    async_stream::stream! {
        let mut backoff = Schedule::new(job.poll_policy());
        // Set once the server reported the job's end; chunks may still be pending then.
        let mut ended: Option<(JobStatus, Option<Value>)> = None;
        loop {
            // A host that honours `?wait=` holds the request until there are chunks or the
            // job ends; one that ignores it answers at once and is paced by the poll schedule.
            let long_poll = job
                .shared()
                .long_poll
                .applies(job.poll_policy().wait_strategy())
                .then(tokio::time::Instant::now);
            let answer = match long_poll {
                Some(_) => job
                    .shared()
                    .call(Route::Stream, |ep| {
                        long_poll::request(ep, Route::Stream, job.id(), long_poll::STREAM_WAIT)
                    })
                    .instrument(span.clone())
                    .await
                    .map_err(|e: Error| e.with_job_id(job.id())),
                None => job.fetch_stream().instrument(span.clone()).await,
            };
            let held = long_poll.map(|sent| sent.elapsed());
            let honoured = held.is_some_and(|held| held >= long_poll::HONOURED);
            let delay = match answer {
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
                        // A long poll answers as soon as there are chunks: hold the next at once.
                        None if got_chunks && long_poll.is_some() => continue,
                        None if got_chunks => backoff.reset(),
                        // The long poll ran out without news: hold the next one at once.
                        None if honoured => continue,
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
                Err(err) if held.is_some_and(|held| long_poll::was_cut(&err, held)) => {
                    tracing::debug!(parent: &span, error = %err, "stream long poll cut; re-arming");
                    continue;
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
