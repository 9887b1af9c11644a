//! Batch Jobs (beta): up to 5 000 inputs in one batch, run by the platform, read back in pages.
//!
//! [`Endpoint::batch`](crate::Endpoint::batch) is the namespace: create a DRAFT batch (empty or
//! with inputs), append more, rename, remove a request, finalize, cancel, read the summary and the
//! paged child results, wait, follow the progress. [`Batches::run`] does all of it in one call and
//! yields typed outputs as they complete.
//!
//! # Documented and assumed
//!
//! Runpod released Batch Jobs as a beta on 2026-08-19 and documents the routes, the states
//! (DRAFT → FINALIZED → FAILED | CANCELLED, no COMPLETED: a batch is done when
//! `requestCompleted + requestFailed == requestTotal`), the limits (10 active batches per
//! endpoint, 5 000 requests per batch, 50 000 queued per endpoint, 10 MB per append), the counts
//! `requestTotal`, `requestCompleted`, `requestFailed`, `offset`/`limit` paging with `hasMore`,
//! and that child jobs carry `batchId`. Everything else is assumed by this SDK and modelled
//! openly (unknown fields are kept in `extra`, unknown states are `Unknown(..)`): the body of
//! every answer, the ids of added requests (`requestIds`), the order of the child results (the
//! order the requests were added), that a request's id is its job's id, the list wrapper
//! (`{"batches": […]}`, a bare array is accepted too), and that an append is all or nothing.
//!
//! # Create and append are not idempotent
//!
//! A create or append that fails after it may have reached the server (a timeout, a dropped
//! connection, a 5xx) is never sent again by the SDK: resending could create a second batch or
//! add the same inputs twice. The error carries the batch id (`job_id()`) when there is one.
//! To reconcile:
//!
//! - after an append: read [`BatchHandle::summary`]; `requestTotal` tells how many requests the
//!   batch holds (an append is all or nothing), and [`BatchHandle::requests`] lists them with
//!   their inputs while the batch is a DRAFT; append what is missing.
//! - after a create: [`Batches::list`] (newest first) shows whether the DRAFT was created; use it
//!   or cancel it.
//!
//! Only a connection that never opened or a 429 (both prove the request had no effect) is
//! retried. `finalize` checks the batch's state after an unknown outcome instead of resending,
//! and `cancel` is safe to repeat.
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! # async fn demo(endpoint: runpod::serverless::Endpoint) -> runpod::serverless::Result<()> {
//! use futures_util::StreamExt as _;
//!
//! // One call: inputs in, typed outputs out as they complete, each with its input's index.
//! let prompts = (0..12_000).map(|i| serde_json::json!({"prompt": format!("story {i}")}));
//! let mut outputs = std::pin::pin!(endpoint.batch().run::<_, String>(prompts));
//! while let Some(item) = outputs.next().await {
//!     let item = item?; // the batch itself could not be submitted or read
//!     match item.output {
//!         Ok(text) => println!("{}: {text}", item.index),
//!         Err(e) => println!("{} failed: {e}", item.index),
//!     }
//! }
//!
//! // Step by step.
//! let batch = endpoint.batch().create_with(vec![serde_json::json!({"x": 1})]).await?;
//! batch.append((2..100).map(|x| serde_json::json!({"x": x}))).await?;
//! batch.finalize().await?;
//! let summary = batch.wait().await?;
//! println!("{:?} completed", summary.request_completed);
//! # Ok(()) }
//! ```

mod pieces;
mod run;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use runpod_transport::{Error, Method, RequestBuilder, Result, path};
use runpod_types::serverless::{Batch, BatchRequest, BatchRequestsPage, BatchStatus};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

pub use self::pieces::MAX_BATCH_REQUESTS;
use self::pieces::{Envelope, MAX_APPEND_BYTES, Pieces, request_bytes};
pub use self::run::{BatchOutput, BatchRun, MAX_ACTIVE_BATCHES};
use crate::endpoint::{Endpoint, EndpointShared};
use crate::poll::{PollPolicy, Schedule};
use crate::rate_limit::Route;

/// Requests read per page of child results.
const PAGE_SIZE: usize = 500;

/// The Batch Jobs namespace of one endpoint, from [`Endpoint::batch`](crate::Endpoint::batch).
#[derive(Debug, Clone)]
pub struct Batches {
    endpoint: Endpoint,
    max_append_bytes: usize,
}

impl Endpoint {
    /// Batch Jobs (beta) on this endpoint; see [`Batches`].
    pub fn batch(&self) -> Batches {
        Batches {
            endpoint: self.clone(),
            max_append_bytes: MAX_APPEND_BYTES,
        }
    }
}

impl Batches {
    /// Lowers the size of one create or append body (default and maximum 10 MiB), e.g. for a
    /// gateway with a smaller limit.
    #[must_use]
    pub fn with_max_append_bytes(mut self, bytes: usize) -> Self {
        self.max_append_bytes = bytes.clamp(64, MAX_APPEND_BYTES);
        self
    }

    fn shared(&self) -> &Arc<EndpointShared> {
        self.endpoint.shared()
    }

    /// A handle to an existing batch, by id. Makes no request.
    pub fn get(&self, batch_id: impl Into<String>) -> BatchHandle {
        BatchHandle {
            shared: Arc::clone(self.shared()),
            id: batch_id.into().into(),
            poll: self.endpoint.poll_policy().clone(),
            max_append_bytes: self.max_append_bytes,
        }
    }

    /// `POST /batch` with no requests: an empty DRAFT.
    ///
    /// # Errors
    /// Transport and HTTP errors; a 429 when the endpoint already has 10 active batches. Not
    /// resent after it may have reached the server (see the module docs to reconcile).
    pub async fn create(&self) -> Result<BatchHandle> {
        let batch: Batch = send(self.shared(), |ep| {
            ep.request(Method::POST, "batch")
                .body(b"[]".to_vec(), "application/json")
                .idempotent(false)
        })
        .await?;
        Ok(self.get(batch.id))
    }

    /// `POST /batch` with `inputs`, then as many appends as needed so that no body passes
    /// 10 MiB. Inputs are serialized one at a time, so a large iterator is never held whole.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`BatchHandle::append`]; `is_invalid_input()` for an
    /// input that does not serialize or is larger than one body. When an append fails, the
    /// batch exists and the error carries its id.
    pub async fn create_with<I: Serialize>(
        &self,
        inputs: impl IntoIterator<Item = I>,
    ) -> Result<BatchHandle> {
        Ok(self.create_counted(inputs.into_iter()).await?.handle)
    }

    /// Creates a batch from `inputs` (all of them; the caller bounds the count) and tells what
    /// was added.
    pub(crate) async fn create_counted<I: Serialize>(
        &self,
        inputs: impl Iterator<Item = I>,
    ) -> Result<Created> {
        let mut inputs = inputs.enumerate();
        let mut pieces = Pieces::new(Envelope::Create, self.max_append_bytes, MAX_BATCH_REQUESTS);
        let mut pending: Option<(usize, Vec<u8>)> = None;
        for (index, input) in inputs.by_ref() {
            let request = request_bytes(index, &input)?;
            if !pieces.fits(&request) && pieces.len() > 0 {
                pending = Some((index, request));
                break;
            }
            pieces.push(index, &request)?;
        }
        let (body, first_count) = pieces.take();
        let batch: Batch = send(self.shared(), move |ep| {
            ep.request(Method::POST, "batch")
                .body(body, "application/json")
                .idempotent(false)
        })
        .await?;
        let handle = self.get(batch.id);
        let mut ids = batch.request_ids.unwrap_or_default();
        let (more_ids, more_count) = handle.append_from(pending, inputs).await?;
        ids.extend(more_ids);
        Ok(Created {
            handle,
            request_ids: ids,
            count: first_count + more_count,
        })
    }

    /// `GET /batch`: the endpoint's batches, newest first.
    ///
    /// # Errors
    /// Transport and HTTP errors; `is_decode()` when the answer is neither `{"batches": […]}`
    /// nor an array.
    pub async fn list(&self) -> Result<Vec<Batch>> {
        let answer: Value = send(self.shared(), |ep| ep.request(Method::GET, "batch")).await?;
        let batches = match answer {
            Value::Object(mut map) => map.remove("batches").unwrap_or(Value::Array(Vec::new())),
            other => other,
        };
        runpod_transport::from_value(batches)
    }

    /// Submits `inputs` as one batch (or several of at most 5 000 requests each, at most
    /// [`MAX_ACTIVE_BATCHES`] at a time) and yields each output, decoded
    /// into `T`, as soon as its request ends, with the index of its input.
    ///
    /// Outputs come in completion order, not input order; nothing but the not-yet-submitted
    /// inputs' iterator and a bit per request is kept, so millions of outputs pass through in
    /// constant memory. A request that failed yields its error in [`BatchOutput::output`]
    /// (`is_job_failed()`, with the worker's error); an error of the stream itself (a batch that
    /// could not be created, appended to, finalized or read after the poll policy's retries)
    /// ends it. Dropping the stream stops reading but does not cancel the batches: keep
    /// [`BatchRun::batch_ids`] to cancel them.
    pub fn run<It, T>(&self, inputs: It) -> BatchRun<T>
    where
        It: IntoIterator + Send + 'static,
        It::IntoIter: Send,
        It::Item: Serialize + Send + 'static,
        T: DeserializeOwned + Send + 'static,
    {
        BatchRun::new(self.clone(), inputs)
    }
}

/// What [`Batches::create_counted`] added.
pub(crate) struct Created {
    pub(crate) handle: BatchHandle,
    pub(crate) request_ids: Vec<String>,
    pub(crate) count: usize,
}

/// One batch, by id. Cheap to clone; it holds nothing but the id, so any process can watch the
/// same batch.
#[derive(Clone)]
pub struct BatchHandle {
    shared: Arc<EndpointShared>,
    id: Arc<str>,
    poll: PollPolicy,
    max_append_bytes: usize,
}

impl fmt::Debug for BatchHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchHandle")
            .field("endpoint", &self.shared.id)
            .field("id", &self.id)
            .finish()
    }
}

/// Sends one batch request through the endpoint's rate limiter.
async fn send<T: DeserializeOwned>(
    shared: &EndpointShared,
    build: impl FnOnce(&EndpointShared) -> RequestBuilder + Send,
) -> Result<T> {
    shared.call(Route::Batch, build).await
}

impl BatchHandle {
    /// The batch id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The same handle with another polling policy for [`wait`](Self::wait) and friends.
    #[must_use]
    pub fn with_poll_policy(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    /// `batch/{id}[/{rest}]`; a batch id that cannot be one path segment is refused.
    fn path(&self, rest: &str) -> Result<String> {
        let id = path::segment(&self.id)?;
        Ok(if rest.is_empty() {
            format!("batch/{id}")
        } else {
            format!("batch/{id}/{rest}")
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        build: impl FnOnce(&EndpointShared, String) -> RequestBuilder + Send,
        rest: &str,
    ) -> Result<T> {
        let path = self.path(rest).map_err(|e| e.with_job_id(&*self.id))?;
        send(&self.shared, move |ep| build(ep, path))
            .await
            .map_err(|e| e.with_job_id(&*self.id))
    }

    /// `POST /batch/{id}/requests`, split into bodies of at most 10 MiB (never one oversize
    /// request). Returns the ids of the added requests when the server names them.
    ///
    /// # Errors
    /// `is_invalid_input()` for an input that does not serialize or alone exceeds a body (nothing
    /// of the current body is sent then); a 409 when the batch is no longer a DRAFT; a 400 past
    /// 5 000 requests; transport errors. After an error, the bodies sent before it are in the
    /// batch: see the module docs to reconcile. Every error carries the batch id.
    pub async fn append<I: Serialize>(
        &self,
        inputs: impl IntoIterator<Item = I>,
    ) -> Result<Vec<String>> {
        Ok(self
            .append_from(None, inputs.into_iter().enumerate())
            .await?
            .0)
    }

    /// Appends `first` (already serialized) and then `rest`, piece by piece; returns the added
    /// ids (as far as the server names them) and how many requests were added.
    async fn append_from<I: Serialize>(
        &self,
        first: Option<(usize, Vec<u8>)>,
        rest: impl Iterator<Item = (usize, I)>,
    ) -> Result<(Vec<String>, usize)> {
        let mut ids = Vec::new();
        let mut count = 0;
        let mut pieces = Pieces::new(Envelope::Append, self.max_append_bytes, MAX_BATCH_REQUESTS);
        let serialized = first.into_iter().map(Ok).chain(
            rest.map(|(index, input)| request_bytes(index, &input).map(|bytes| (index, bytes))),
        );
        for item in serialized {
            let (index, request) = item.map_err(|e| e.with_job_id(&*self.id))?;
            if !pieces.fits(&request) && pieces.len() > 0 {
                let (body, n) = pieces.take();
                ids.extend(self.post_piece(body).await?);
                count += n;
            }
            pieces
                .push(index, &request)
                .map_err(|e| e.with_job_id(&*self.id))?;
        }
        if pieces.len() > 0 {
            let (body, n) = pieces.take();
            ids.extend(self.post_piece(body).await?);
            count += n;
        }
        Ok((ids, count))
    }

    async fn post_piece(&self, body: Vec<u8>) -> Result<Vec<String>> {
        let batch: Batch = self
            .call(
                move |ep, path| {
                    ep.request(Method::POST, &path)
                        .body(body, "application/json")
                        .idempotent(false)
                },
                "requests",
            )
            .await?;
        Ok(batch.request_ids.unwrap_or_default())
    }

    /// `PUT /batch/{id}` with `{"name": name}`.
    ///
    /// # Errors
    /// Transport and HTTP errors, with the batch id.
    pub async fn rename(&self, name: &str) -> Result<Batch> {
        self.update(&json!({ "name": name })).await
    }

    /// `PUT /batch/{id}` with any attributes (the documented one is `name`).
    ///
    /// # Errors
    /// Transport and HTTP errors, with the batch id.
    pub async fn update<A: Serialize + ?Sized>(&self, attributes: &A) -> Result<Batch> {
        let body = serde_json::to_vec(attributes)
            .map_err(|e| Error::invalid_input(format!("cannot encode the attributes: {e}")))?;
        self.call(
            move |ep, path| {
                ep.request(Method::PUT, &path)
                    .body(body, "application/json")
            },
            "",
        )
        .await
    }

    /// `DELETE /batch/{id}/requests/{request_id}`: remove one request from a DRAFT.
    ///
    /// # Errors
    /// A 409 when the batch is no longer a DRAFT, a 404 for an unknown request; transport errors.
    pub async fn remove_request(&self, request_id: &str) -> Result<Batch> {
        let rest = format!("requests/{}", path::segment(request_id)?);
        self.call(|ep, path| ep.request(Method::DELETE, &path), &rest)
            .await
    }

    /// `POST /batch/{id}/finalize`: lock the DRAFT so that its requests run.
    ///
    /// Not resent blindly: when the outcome is unknown (timeout, dropped connection, 5xx), the
    /// batch is read back and a batch that left DRAFT counts as finalized.
    ///
    /// # Errors
    /// A 409 when the batch is not a DRAFT; a 429 when the endpoint's queue would pass 50 000
    /// jobs; transport errors. With the batch id.
    pub async fn finalize(&self) -> Result<Batch> {
        let sent = self
            .call(
                |ep, path| ep.request(Method::POST, &path).idempotent(false),
                "finalize",
            )
            .await;
        match sent {
            Err(err) if outcome_unknown(&err) => match self.summary().await {
                Ok(batch) if batch.status != Some(BatchStatus::Draft) => Ok(batch),
                _ => Err(err),
            },
            other => other,
        }
    }

    /// `POST /batch/{id}/cancel`: requests still queued do not run. Safe to repeat, so retried
    /// like a read.
    ///
    /// # Errors
    /// Transport and HTTP errors, with the batch id.
    pub async fn cancel(&self) -> Result<Batch> {
        self.call(
            |ep, path| ep.request(Method::POST, &path).idempotent(true),
            "cancel",
        )
        .await
    }

    /// `GET /batch/{id}`: the summary with its counts.
    ///
    /// # Errors
    /// Transport and HTTP errors (`is_not_found()` for an unknown or expired batch).
    pub async fn summary(&self) -> Result<Batch> {
        self.call(|ep, path| ep.request(Method::GET, &path), "")
            .await
    }

    /// One page of child requests, `GET /batch/{id}/requests?offset=&limit=`.
    ///
    /// # Errors
    /// Transport and HTTP errors, with the batch id.
    pub async fn requests_page(&self, offset: usize, limit: usize) -> Result<BatchRequestsPage> {
        self.call(
            move |ep, path| {
                ep.request(Method::GET, &path)
                    .query("offset", offset)
                    .query("limit", limit)
            },
            "requests",
        )
        .await
    }

    /// Every child request, in the order they were added, with its position; pages are
    /// fetched as the stream is read, following `hasMore`.
    pub fn requests(&self) -> impl Stream<Item = Result<(usize, BatchRequest)>> + Send + 'static {
        self.requests_from(0)
    }

    pub(crate) fn requests_from(
        &self,
        start: usize,
    ) -> impl Stream<Item = Result<(usize, BatchRequest)>> + Send + 'static {
        let handle = self.clone();
        async_stream::stream! {
            let mut offset = start;
            loop {
                let page = match handle.requests_page(offset, PAGE_SIZE).await {
                    Ok(page) => page,
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                };
                let requests = page.requests.unwrap_or_default();
                let got = requests.len();
                for request in requests {
                    yield Ok((offset, request));
                    offset += 1;
                }
                // A page without items ends the listing even if `hasMore` claims otherwise,
                // so a confused server cannot make this loop forever.
                if page.has_more != Some(true) || got == 0 {
                    return;
                }
            }
        }
    }

    /// Waits until the batch is done (`requestCompleted + requestFailed == requestTotal`) or
    /// FAILED or CANCELLED, and returns its last summary. Polls per the handle's
    /// [`PollPolicy`] through the rate limiter; transient failures do not end the wait.
    ///
    /// # Errors
    /// Errors that outlast the poll policy, with the batch id. A batch that ended FAILED or
    /// CANCELLED is not an error: look at its `status`.
    pub async fn wait(&self) -> Result<Batch> {
        use futures_util::StreamExt as _;
        let mut progress = std::pin::pin!(self.progress());
        let mut last = None;
        while let Some(summary) = progress.next().await {
            last = Some(summary?);
        }
        last.ok_or_else(|| Error::wait_timeout(&*self.id))
    }

    /// [`wait`](Self::wait), giving up after `timeout` (`is_timeout()` with the batch id; the
    /// batch goes on).
    ///
    /// # Errors
    /// As `wait`, plus the timeout.
    pub async fn wait_with_timeout(&self, timeout: Duration) -> Result<Batch> {
        match tokio::time::timeout_at(Instant::now() + timeout, self.wait()).await {
            Ok(result) => result,
            Err(_) => Err(Error::wait_timeout(&*self.id)),
        }
    }

    /// The summary each time its counts or state change, starting with the current one and
    /// ending with the one that shows the batch done. Polls like [`wait`](Self::wait).
    pub fn progress(&self) -> impl Stream<Item = Result<Batch>> + Send + 'static {
        let handle = self.clone();
        async_stream::stream! {
            let mut backoff = Schedule::new(&handle.poll);
            let mut last: Option<(Option<BatchStatus>, [Option<i64>; 5])> = None;
            loop {
                let delay = match handle.summary().await {
                    Ok(summary) => {
                        backoff.succeeded();
                        let key = (summary.status.clone(), [
                            summary.request_total,
                            summary.request_completed,
                            summary.request_failed,
                            summary.request_in_queue,
                            summary.request_in_progress,
                        ]);
                        let done = summary.is_done();
                        if last.as_ref() != Some(&key) {
                            last = Some(key);
                            backoff.reset();
                            yield Ok(summary);
                        }
                        if done {
                            return;
                        }
                        backoff.next_delay()
                    }
                    Err(err) => match backoff.failed(&err) {
                        Some(delay) => delay,
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
}

/// Whether a failed non-idempotent request may still have taken effect.
fn outcome_unknown(err: &Error) -> bool {
    err.is_timeout() || err.is_network() || err.status().is_some_and(|s| s.is_server_error())
}
