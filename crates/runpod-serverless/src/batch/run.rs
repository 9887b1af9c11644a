//! [`Batches::run`]: inputs in, typed outputs out as their requests end.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt as _;
use runpod_transport::{Error, Result, from_value};
use runpod_types::serverless::{BatchRequest, BatchRequestStatus, BatchStatus};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{BatchHandle, Batches, MAX_BATCH_REQUESTS};
use crate::poll::Schedule;

/// Batches [`Batches::run`] keeps submitted and unfinished at once: Runpod's limit of active
/// batches per endpoint.
pub const MAX_ACTIVE_BATCHES: usize = 10;

/// One output of [`Batches::run`].
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchOutput<T> {
    /// The position of the input in the iterator given to `run`.
    pub index: usize,
    /// The request's id (its job's id).
    pub request_id: String,
    /// The output decoded into `T`, or why the request has none: `is_job_failed()`,
    /// `is_job_cancelled()`, `is_job_timed_out()` with the worker's error, or `is_decode()`.
    pub output: Result<T>,
}

/// The stream of [`Batches::run`].
pub struct BatchRun<T> {
    inner: Pin<Box<dyn Stream<Item = Result<BatchOutput<T>>> + Send + 'static>>,
    ids: Arc<Mutex<Vec<String>>>,
}

impl<T> fmt::Debug for BatchRun<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchRun")
            .field("batch_ids", &self.batch_ids())
            .finish()
    }
}

impl<T> BatchRun<T> {
    /// The ids of the batches submitted so far, oldest first (to cancel them, or to read their
    /// results again).
    pub fn batch_ids(&self) -> Vec<String> {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<T> Stream for BatchRun<T> {
    type Item = Result<BatchOutput<T>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// A submitted batch whose outputs are not all handed out yet.
struct Active {
    handle: BatchHandle,
    /// Index of the batch's first input among all inputs.
    base: usize,
    total: usize,
    /// Position in the batch by request id, when the server named the ids.
    positions: Option<HashMap<String, usize>>,
    /// Per listing position: handed out already.
    emitted: Vec<bool>,
    emitted_count: usize,
    /// Listing positions before this one are all handed out; reads start here.
    cursor: usize,
    /// `requestCompleted + requestFailed` at the last read of the results.
    ended_seen: i64,
}

impl Active {
    fn index_of(&self, position: usize, request: &BatchRequest) -> usize {
        let within = self
            .positions
            .as_ref()
            .and_then(|p| p.get(&request.id).copied())
            .unwrap_or(position);
        self.base + within
    }
}

impl<T: DeserializeOwned + Send + 'static> BatchRun<T> {
    pub(super) fn new<It>(batches: Batches, inputs: It) -> Self
    where
        It: IntoIterator + Send + 'static,
        It::IntoIter: Send,
        It::Item: Serialize + Send + 'static,
    {
        let ids = Arc::new(Mutex::new(Vec::new()));
        let inner = Box::pin(outputs::<It::Item, T, It::IntoIter>(
            batches,
            inputs.into_iter(),
            Arc::clone(&ids),
        ));
        Self { inner, ids }
    }
}

fn outputs<I, T, It>(
    batches: Batches,
    inputs: It,
    ids: Arc<Mutex<Vec<String>>>,
) -> impl Stream<Item = Result<BatchOutput<T>>> + Send + 'static
where
    I: Serialize + Send + 'static,
    T: DeserializeOwned + Send + 'static,
    It: Iterator<Item = I> + Send + 'static,
{
    async_stream::stream! {
        let mut inputs = inputs.peekable();
        let mut next_index = 0;
        let mut active: Vec<Active> = Vec::new();
        let mut backoff = Schedule::new(batches.endpoint.poll_policy());
        loop {
            while active.len() < MAX_ACTIVE_BATCHES && inputs.peek().is_some() {
                let chunk = inputs.by_ref().take(MAX_BATCH_REQUESTS);
                let created = match batches.create_counted(chunk).await {
                    Ok(created) => created,
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                };
                ids.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(created.handle.id().to_owned());
                if let Err(err) = created.handle.finalize().await {
                    yield Err(err);
                    return;
                }
                let positions = (created.request_ids.len() == created.count).then(|| {
                    created
                        .request_ids
                        .iter()
                        .enumerate()
                        .map(|(i, id)| (id.clone(), i))
                        .collect()
                });
                active.push(Active {
                    handle: created.handle,
                    base: next_index,
                    total: created.count,
                    positions,
                    emitted: vec![false; created.count],
                    emitted_count: 0,
                    cursor: 0,
                    ended_seen: -1,
                });
                next_index += created.count;
            }
            if active.is_empty() {
                return;
            }
            let mut progressed = false;
            let mut failure = None;
            'batches: for batch in &mut active {
                let summary = match batch.handle.summary().await {
                    Ok(summary) => summary,
                    Err(err) => {
                        failure = Some(err);
                        break 'batches;
                    }
                };
                let ended = summary.request_completed.unwrap_or(0)
                    + summary.request_failed.unwrap_or(0);
                let closed = matches!(
                    summary.status,
                    Some(BatchStatus::Cancelled | BatchStatus::Failed)
                ) && summary.request_in_progress.unwrap_or(0) == 0;
                if ended <= batch.ended_seen && !closed {
                    continue;
                }
                let mut listing = std::pin::pin!(batch.handle.requests_from(batch.cursor));
                while let Some(item) = listing.next().await {
                    let (position, request) = match item {
                        Ok(item) => item,
                        Err(err) => {
                            failure = Some(err);
                            break 'batches;
                        }
                    };
                    if position >= batch.total || batch.emitted[position] {
                        continue;
                    }
                    let status = request.status.clone().unwrap_or_default();
                    if !status.is_terminal() && !closed {
                        continue;
                    }
                    batch.emitted[position] = true;
                    batch.emitted_count += 1;
                    progressed = true;
                    let index = batch.index_of(position, &request);
                    yield Ok(output_of::<T>(index, request, &status));
                }
                while batch.cursor < batch.total && batch.emitted[batch.cursor] {
                    batch.cursor += 1;
                }
                batch.ended_seen = ended;
            }
            active.retain(|batch| batch.emitted_count < batch.total);
            let delay = match failure {
                None => {
                    backoff.succeeded();
                    if progressed {
                        backoff.reset();
                    }
                    backoff.next_delay()
                }
                Some(err) => match backoff.failed(&err) {
                    Some(delay) => delay,
                    None => {
                        yield Err(err);
                        return;
                    }
                },
            };
            if !active.is_empty() || inputs.peek().is_some() {
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn output_of<T: DeserializeOwned>(
    index: usize,
    request: BatchRequest,
    status: &BatchRequestStatus,
) -> BatchOutput<T> {
    let output = match status {
        BatchRequestStatus::Completed => from_value(request.output.unwrap_or(Value::Null))
            .map_err(|e| e.with_job_id(&request.id)),
        // A closed batch's request that never ran counts as cancelled.
        s if !s.is_terminal() => Err(Error::job_ended(&request.id, "CANCELLED", request.error)),
        s => Err(Error::job_ended(&request.id, s.as_str(), request.error)),
    };
    BatchOutput {
        index,
        request_id: request.id,
        output,
    }
}
