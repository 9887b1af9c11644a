//! In-process handlers: jobs the server answers itself, so that a client can be tested (or
//! benchmarked) against a real queue without a worker process.
//!
//! Jobs are taken through the same queue as a worker's `job-take` (under the worker id
//! [`INLINE_WORKER`]) and reported through the same path as `job-done`, so timeouts,
//! cancellation, retention, webhooks and `/health` behave as with a worker. Each job's handler
//! runs in a task of its own: a panic fails the job instead of leaving it running, and a slow
//! job does not hold up the others.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use runpod_types::serverless::JobResult;
use serde_json::Value;

use crate::limits::Charge;
use crate::store::Store;

/// The worker id in-process handlers take jobs under.
pub(crate) const INLINE_WORKER: &str = "runpod-local-inline";

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;

/// A handler run inside the server: input in, output (or an error message) out.
#[derive(Clone)]
pub(crate) struct InlineHandler(Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>);

impl InlineHandler {
    pub(crate) fn new<F, Fut>(handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, String>> + Send + 'static,
    {
        Self(Arc::new(move |input| Box::pin(handler(input))))
    }

    /// Answers every job with its input.
    pub(crate) fn echo() -> Self {
        Self::new(|input| async move { Ok(input) })
    }
}

impl fmt::Debug for InlineHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InlineHandler")
    }
}

/// The in-process worker of one endpoint, started with its first job: it long-polls the queue
/// like a worker's `job-take-batch` (so requeued and retried jobs come back to it too) and runs
/// each job in a task of its own, until the server shuts down.
pub(crate) fn serve_endpoint(store: Arc<Store>, handler: InlineHandler, endpoint: String) {
    tokio::spawn(async move {
        while !store.is_shutting_down() {
            for job in store.take(&endpoint, INLINE_WORKER, TAKE_BATCH).await {
                let (store, endpoint) = (Arc::clone(&store), endpoint.clone());
                let running = tokio::spawn((handler.0)(job.input));
                tokio::spawn(async move {
                    let body = match running.await {
                        Ok(Ok(output)) => JobResult {
                            output: Some(output),
                            ..JobResult::default()
                        },
                        Ok(Err(message)) => failed(message),
                        Err(join) if join.is_panic() => {
                            failed("the inline handler panicked".to_owned())
                        }
                        // The runtime is shutting down, and the server with it.
                        Err(_) => return,
                    };
                    // A job cancelled, timed out or expired meanwhile refuses the result, as
                    // it would a worker's. In-process results are the embedding program's own
                    // and are not charged against the stored-bytes limit.
                    if let Err(error) =
                        store.report(&endpoint, INLINE_WORKER, &job.id, body, Charge::default())
                    {
                        tracing::debug!(%endpoint, job = %job.id, ?error, "inline result refused");
                    }
                });
            }
        }
    });
}

/// Jobs taken per long poll: enough that a burst of submissions costs few wake-ups.
const TAKE_BATCH: usize = 256;

fn failed(message: String) -> JobResult {
    JobResult {
        error: Some(Value::String(message)),
        ..JobResult::default()
    }
}
