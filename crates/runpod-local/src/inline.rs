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
                    let (body, charge) = charged(&store, body);
                    // A job cancelled, timed out or expired meanwhile refuses the result, as
                    // it would a worker's.
                    if let Err(error) =
                        store.report(&endpoint, INLINE_WORKER, &job.id, body, charge)
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

/// The result with its bytes charged against the stored-bytes limit, like a worker's job-done
/// body: an in-process handler runs the same jobs, so its results take the same room. A result
/// that does not fit fails the job with the limit's message (a worker's post would be refused
/// with 507 and retried, but a handler's output cannot be sent again).
fn charged(store: &Store, body: JobResult) -> (JobResult, Charge) {
    let size = json_size(&body);
    match store.ledger().charge(size) {
        Ok(charge) => (body, charge),
        Err(error) => {
            let body = failed(format!(
                "the inline handler's result was not kept: {}",
                error.message
            ));
            let size = json_size(&body);
            // The message is small; if even it does not fit, it is kept uncharged rather than
            // leaving the job running until its timeout.
            let charge = store.ledger().charge(size).unwrap_or_default();
            (body, charge)
        }
    }
}

/// Bytes of `value` as JSON, as a worker would post it, counted without building the text.
fn json_size(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail; a value serde cannot write counts as empty.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

fn failed(message: String) -> JobResult {
    JobResult {
        error: Some(Value::String(message)),
        ..JobResult::default()
    }
}
