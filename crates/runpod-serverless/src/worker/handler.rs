//! Handlers: plain async functions, and streaming ones wrapped with [`streaming`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_core::Stream;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::job::{Job, JobContext};
use super::report::{Failure, Outcome};
use super::sink::PostKind;

/// Something that can run jobs: implemented for async functions and closures
/// `Fn(Job<I>) -> impl Future<Output = Result<O, E>>`, and for [`Streaming`].
///
/// `I: DeserializeOwned` is the job's input type, `O: Serialize` its output, `E: Display` its
/// error (anything from `String` to `anyhow::Error`; the error's `{:#}` text is reported, so an
/// `anyhow` chain is kept, and its kind as `error_type`: see [`JobError`](super::JobError)).
/// `M` only tells the blanket impls apart; it is inferred.
///
/// ```
/// # use runpod_serverless::__runpod as runpod;
/// use runpod::worker::Job;
///
/// #[derive(serde::Deserialize)]
/// struct Input { name: String }
///
/// async fn greet(job: Job<Input>) -> Result<String, std::convert::Infallible> {
///     Ok(format!("hello, {}", job.input().name))
/// }
/// # fn assert_handler<M, H: runpod::worker::Handler<M>>(_: H) {}
/// # assert_handler(greet);
/// ```
///
/// A function that returns a `Stream` is a handler only once wrapped in [`streaming`]; passed
/// as it is, the compiler says "`…` is not a worker handler" and "a handler returning a Stream
/// must be wrapped in `worker::streaming`":
///
/// ```compile_fail,E0277
/// # use runpod_serverless::__runpod as runpod;
/// use futures_util::stream::{self, Stream};
/// use runpod::worker::{self, Job};
///
/// fn count(job: Job<u32>) -> impl Stream<Item = Result<u32, String>> {
///     stream::iter((0..*job.input()).map(Ok))
/// }
/// let _ = worker::Worker::builder(count); // `worker::streaming(count)` compiles
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a worker handler",
    label = "not a handler",
    note = "a handler is an `async fn(Job<I>) -> Result<O, E>` with `I: Deserialize`, `O: Serialize`, `E: Display`, \
            or a closure of that shape",
    note = "a handler returning a Stream must be wrapped in `worker::streaming`: \
            `worker::start(worker::streaming(handler))`"
)]
pub trait Handler<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_runner(self) -> Runner;
}

/// The type-erased form of a handler (internal).
#[doc(hidden)]
#[derive(Clone)]
pub struct Runner(pub(crate) Arc<dyn Run>);

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("streaming", &self.0.is_stream())
            .finish()
    }
}

pub(crate) trait Run: Send + Sync + 'static {
    fn is_stream(&self) -> bool;
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Outcome>;
}

/// `fn() -> (I, O, E)`: names the types without owning them (always `Send + Sync`).
type Types<I, O, E> = fn() -> (I, O, E);

/// Marker for [`Handler`] impls on async functions.
#[doc(hidden)]
#[derive(Debug)]
pub struct AsyncFn<I, O, E>(PhantomData<Types<I, O, E>>);

/// Marker of the impl that catches a `Stream`-returning function passed without [`streaming`]
/// (it never applies; see [`NeedsStreaming`]).
#[doc(hidden)]
#[derive(Debug)]
pub struct UnwrappedStream<I, S>(PhantomData<fn() -> (I, S)>);

/// Implemented by nothing. The impl that requires it exists only so that a function returning
/// a `Stream` matches two impls of [`Handler`] and neither applies: the compiler then reports
/// the `Handler` bound itself, with its own message ("a handler returning a Stream must be
/// wrapped in `worker::streaming`"), instead of "`impl Stream` is not a future".
#[doc(hidden)]
pub trait NeedsStreaming {}

impl<F, S, I> Handler<UnwrappedStream<I, S>> for F
where
    F: Fn(Job<I>) -> S + Send + Sync + NeedsStreaming + 'static,
    S: Stream,
{
    fn into_runner(self) -> Runner {
        unreachable!("`NeedsStreaming` has no implementation")
    }
}

/// Marker for [`Handler`] impls on [`Streaming`].
#[doc(hidden)]
#[derive(Debug)]
pub struct StreamFn<I, O, E>(PhantomData<Types<I, O, E>>);

impl<F, Fut, I, O, E> Handler<AsyncFn<I, O, E>> for F
where
    F: Fn(Job<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    fn into_runner(self) -> Runner {
        Runner::decoding(false, move |input: I, ctx| {
            let fut = self(Job::new(input, ctx));
            async move {
                match fut.await {
                    Ok(o) => match serde_json::to_value(o) {
                        Ok(v) => Outcome::Output(v),
                        Err(e) => Outcome::Failed(serialize_failure(&e)),
                    },
                    Err(e) => Outcome::Failed(handler_failure(&e)),
                }
            }
            .boxed()
        })
    }
}

/// The one runner behind every handler: decodes the job's input into `I` (a job whose input
/// does not fit fails before the handler runs), then hands it to `run`.
struct Decoding<I, G> {
    is_stream: bool,
    run: G,
    _input: PhantomData<fn() -> I>,
}

impl Runner {
    fn decoding<I, G>(is_stream: bool, run: G) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        G: Fn(I, JobContext) -> BoxFuture<'static, Outcome> + Send + Sync + 'static,
    {
        Runner(Arc::new(Decoding {
            is_stream,
            run,
            _input: PhantomData,
        }))
    }
}

impl<I, G> Run for Decoding<I, G>
where
    I: DeserializeOwned + Send + 'static,
    G: Fn(I, JobContext) -> BoxFuture<'static, Outcome> + Send + Sync + 'static,
{
    fn is_stream(&self) -> bool {
        self.is_stream
    }

    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Outcome> {
        match decode_input::<I>(&ctx) {
            Ok(input) => (self.run)(input, ctx),
            Err(f) => futures_util::future::ready(Outcome::Failed(f)).boxed(),
        }
    }
}

/// A streaming handler: each item of the stream is sent to job-stream as it is produced (in
/// order, each post awaited), then the job ends with job-done. Made by [`streaming`].
pub struct Streaming<F> {
    f: F,
    aggregate: bool,
}

impl<F> fmt::Debug for Streaming<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("aggregate", &self.aggregate)
            .finish_non_exhaustive()
    }
}

/// Wraps `f: Fn(Job<I>) -> impl Stream<Item = Result<O, E>>` as a streaming handler.
///
/// Each `Ok` item is POSTed to job-stream as `{"output": item}`. The first `Err` ends the job as
/// failed (items already sent stay sent). At the end, job-done gets `{"output": []}`, or all the
/// items with [`aggregate_output(true)`](Streaming::aggregate_output) (the Python worker's
/// `return_aggregate_stream`), so `/runsync` and `/status` callers see the whole output.
///
/// ```
/// # use runpod_serverless::__runpod as runpod;
/// use futures_util::stream::{self, Stream};
/// use runpod::worker::{Job, streaming};
///
/// fn count(job: Job<u32>) -> impl Stream<Item = Result<u32, String>> {
///     stream::iter((0..*job.input()).map(Ok))
/// }
/// let handler = streaming(count).aggregate_output(true);
/// # let _ = runpod::worker::Worker::builder(handler);
/// ```
///
/// `async_stream::stream!` / `try_stream!` blocks work as well as any other `Stream`.
pub fn streaming<F>(f: F) -> Streaming<F> {
    Streaming {
        f,
        aggregate: false,
    }
}

impl<F> Streaming<F> {
    /// Sends every item again, as one list, in the final result (default: `[]`).
    #[must_use]
    pub fn aggregate_output(mut self, yes: bool) -> Self {
        self.aggregate = yes;
        self
    }
}

impl<F, S, I, O, E> Handler<StreamFn<I, O, E>> for Streaming<F>
where
    F: Fn(Job<I>) -> S + Send + Sync + 'static,
    S: Stream<Item = Result<O, E>> + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    fn into_runner(self) -> Runner {
        let Self { f, aggregate } = self;
        Runner::decoding(true, move |input: I, ctx: JobContext| {
            let stream = f(Job::new(input, ctx.clone()));
            async move {
                let mut stream = std::pin::pin!(stream);
                let mut all = Vec::new();
                let mut sent = 0usize;
                while let Some(item) = stream.next().await {
                    let item = match item {
                        Ok(o) => o,
                        Err(e) => return Outcome::Failed(handler_failure(&e)),
                    };
                    // Serialized once, straight into the chunk body; as a `Value` too only when
                    // the final output aggregates the chunks.
                    let body = if aggregate {
                        serde_json::to_value(item).and_then(|value| {
                            let body = super::report::chunk_body(&value);
                            all.push(value);
                            body
                        })
                    } else {
                        super::report::chunk_body(&item)
                    };
                    let body = match body {
                        Ok(body) => body,
                        Err(e) => return Outcome::Failed(serialize_failure(&e)),
                    };
                    if ctx.inner.post(PostKind::Chunk, body).await {
                        sent += 1;
                    }
                }
                tracing::debug!(chunks = sent, "stream finished");
                Outcome::Output(Value::Array(all))
            }
            .boxed()
        })
    }
}

fn decode_input<I: DeserializeOwned>(ctx: &JobContext) -> Result<I, Failure> {
    serde_path_to_error::deserialize(&ctx.raw().input).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        Failure::new(
            "InvalidInput",
            format!(
                "the job's input does not match what the handler expects{at}: {}",
                e.inner()
            ),
            "input validation before the handler ran",
        )
    })
}

fn handler_failure<E: fmt::Display + 'static>(e: &E) -> Failure {
    Failure::new(
        super::job_error::error_type_of(e),
        format!("{e:#}"),
        "returned by the handler",
    )
}

fn serialize_failure(e: &serde_json::Error) -> Failure {
    Failure::new(
        "OutputSerialization",
        format!("the handler's output could not be serialized: {e}"),
        "serializing the handler's output",
    )
}
