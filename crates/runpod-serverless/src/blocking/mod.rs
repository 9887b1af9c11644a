//! A blocking client with the same API as the async one, for programs without an async runtime.
//!
//! Like `reqwest::blocking`, it runs the async client on a private tokio runtime on its own
//! thread; every call sends its work there and blocks the calling thread until it is done.
//! Streams become iterators. The runtime thread lives as long as any client, endpoint or job
//! handle made from it.
//!
//! Calling it from inside an async runtime does not panic (nothing enters the caller's
//! runtime), but it blocks that runtime's worker thread for the whole call; in async code use
//! the async API instead.
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! # fn demo() -> runpod::Result<()> {
//! use std::time::Duration;
//! use runpod::blocking::ServerlessClient;
//!
//! let endpoint = ServerlessClient::from_env()?.endpoint("my-endpoint-id");
//!
//! let output: serde_json::Value = endpoint
//!     .run_sync(serde_json::json!({"prompt": "hello"}))
//!     .timeout(Duration::from_secs(300))
//!     .output()?;
//!
//! let job = endpoint.run(serde_json::json!({"prompt": "a story"})).send()?;
//! for word in job.stream::<String>() {
//!     print!("{}", word?);
//! }
//! # let _ = output;
//! # Ok(()) }
//! ```

/// A blocking face of an async value: the value and the runtime thread that runs it; `Debug`
/// shows the async value under the blocking name. One declaration for every blocking type.
macro_rules! wrapper {
    ($(#[$attr:meta])* pub struct $name:ident($inner:ty);) => {
        $(#[$attr])*
        pub struct $name {
            pub(in crate::blocking) inner: $inner,
            pub(in crate::blocking) rt: ::std::sync::Arc<$crate::blocking::runtime::RuntimeThread>,
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(concat!("blocking::", stringify!($name)))
                    .field(&self.inner)
                    .finish()
            }
        }
    };
}

mod batch;
mod iter;
mod lb;
mod runtime;

pub use lb::{LbEvents, LbRequest, LoadBalancer};

use std::sync::Arc;
use std::time::Duration;

use runpod_transport::{Config, HttpClient, Result};
use runpod_types::serverless::{HealthResponse, JobState, PurgeQueueResponse, StreamChunk};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::batch::{BatchHandle, BatchIter, Batches};
pub use self::iter::Iter;
use self::runtime::RuntimeThread;
use crate::poll::PollPolicy;
use crate::rate_limit::RateLimits;
use crate::run::job_option_setters;

wrapper! {
    /// The blocking [`crate::ServerlessClient`]. Cheap to clone.
    #[derive(Clone)]
    pub struct ServerlessClient(crate::ServerlessClient);
}

impl ServerlessClient {
    /// A blocking client over an existing HTTP client.
    ///
    /// # Panics
    /// When the runtime thread cannot be started (the OS refuses a thread).
    pub fn new(http: HttpClient) -> Self {
        Self::from_async(crate::ServerlessClient::new(http))
    }

    /// A blocking client configured from the environment.
    ///
    /// # Errors
    /// As [`crate::ServerlessClient::from_env`]: `is_config()` for Runpod's hosts without a key.
    ///
    /// # Panics
    /// As [`new`](Self::new).
    pub fn from_env() -> Result<Self> {
        Ok(Self::from_async(crate::ServerlessClient::from_env()?))
    }

    /// A blocking client from an explicit transport configuration.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    ///
    /// # Panics
    /// As [`new`](Self::new).
    pub fn from_config(config: Config) -> Result<Self> {
        Ok(Self::from_async(crate::ServerlessClient::from_config(
            config,
        )?))
    }

    /// A builder, as [`crate::ServerlessClient::builder`].
    pub fn builder() -> ServerlessClientBuilder {
        ServerlessClientBuilder {
            inner: crate::ServerlessClient::builder(),
        }
    }

    /// Wraps an async client; both share the connection pool and rate limiters.
    ///
    /// # Panics
    /// As [`new`](Self::new).
    pub fn from_async(client: crate::ServerlessClient) -> Self {
        Self {
            inner: client,
            rt: Arc::new(RuntimeThread::start()),
        }
    }

    /// A handle to one endpoint.
    pub fn endpoint(&self, endpoint_id: impl Into<String>) -> Endpoint {
        Endpoint {
            inner: self.inner.endpoint(endpoint_id),
            rt: Arc::clone(&self.rt),
        }
    }

    /// A handle to a load-balancing endpoint, as [`crate::ServerlessClient::load_balancer`].
    pub fn load_balancer(&self, endpoint_id: impl Into<String>) -> LoadBalancer {
        LoadBalancer {
            inner: self.inner.load_balancer(endpoint_id),
            rt: Arc::clone(&self.rt),
        }
    }

    /// The async client inside.
    pub fn as_async(&self) -> &crate::ServerlessClient {
        &self.inner
    }
}

/// Builds a blocking [`ServerlessClient`]; the settings are those of
/// [`crate::ServerlessClientBuilder`].
#[derive(Debug)]
#[must_use]
pub struct ServerlessClientBuilder {
    inner: crate::ServerlessClientBuilder,
}

impl ServerlessClientBuilder {
    /// Use this transport configuration.
    pub fn with_config(self, config: Config) -> Self {
        Self {
            inner: self.inner.with_config(config),
        }
    }

    /// Use this HTTP client.
    pub fn with_http_client(self, http: HttpClient) -> Self {
        Self {
            inner: self.inner.with_http_client(http),
        }
    }

    /// Client-side rate limits.
    pub fn with_rate_limits(self, limits: RateLimits) -> Self {
        Self {
            inner: self.inner.with_rate_limits(limits),
        }
    }

    /// The polling policy of every endpoint and job handle.
    pub fn with_poll_policy(self, poll: PollPolicy) -> Self {
        Self {
            inner: self.inner.with_poll_policy(poll),
        }
    }

    /// The URL template of load-balancing endpoints.
    pub fn with_lb_base_url(self, template: impl Into<String>) -> Self {
        Self {
            inner: self.inner.with_lb_base_url(template),
        }
    }

    /// Builds the client.
    ///
    /// # Errors
    /// As [`crate::ServerlessClientBuilder::build`].
    ///
    /// # Panics
    /// As [`ServerlessClient::new`].
    pub fn build(self) -> Result<ServerlessClient> {
        Ok(ServerlessClient::from_async(self.inner.build()?))
    }
}

wrapper! {
    /// The blocking [`crate::Endpoint`]. Cheap to clone.
    #[derive(Clone)]
    pub struct Endpoint(crate::Endpoint);
}

impl Endpoint {
    /// The endpoint id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The same endpoint with another polling policy.
    #[must_use]
    pub fn with_poll_policy(self, poll: PollPolicy) -> Self {
        Self {
            inner: self.inner.with_poll_policy(poll),
            rt: self.rt,
        }
    }

    /// Prepares `POST /run`; see [`crate::Endpoint::run`]. Finish with `.send()`.
    pub fn run<I: Serialize>(&self, input: I) -> RunRequest {
        RunRequest {
            inner: self.inner.run(input),
            rt: Arc::clone(&self.rt),
        }
    }

    /// Prepares `POST /runsync`; see [`crate::Endpoint::run_sync`]. Finish with `.output()` or
    /// `.send()`.
    pub fn run_sync<I: Serialize>(&self, input: I) -> RunSyncRequest {
        RunSyncRequest {
            inner: self.inner.run_sync(input),
            rt: Arc::clone(&self.rt),
        }
    }

    /// A handle to an existing job, by id. Makes no request.
    pub fn job(&self, job_id: impl Into<String>) -> JobHandle {
        JobHandle {
            inner: self.inner.job(job_id),
            rt: Arc::clone(&self.rt),
        }
    }

    /// `GET /health`; see [`crate::Endpoint::health`].
    ///
    /// # Errors
    /// Transport and HTTP errors.
    pub fn health(&self) -> Result<HealthResponse> {
        let endpoint = self.inner.clone();
        self.rt.block_on(async move { endpoint.health().await })
    }

    /// `POST /purge-queue`; see [`crate::Endpoint::purge_queue`].
    ///
    /// # Errors
    /// Transport and HTTP errors.
    pub fn purge_queue(&self) -> Result<PurgeQueueResponse> {
        let endpoint = self.inner.clone();
        self.rt
            .block_on(async move { endpoint.purge_queue().await })
    }
}

wrapper! {
    /// The blocking `POST /run` builder, made by [`Endpoint::run`]: the async
    /// [`crate::RunRequest`], sent from the runtime thread.
    #[must_use = "a request does nothing until it is sent"]
    pub struct RunRequest(crate::RunRequest);
}

impl RunRequest {
    job_option_setters!(inner.opts);

    /// Queues the job; see [`crate::RunRequest::send`].
    ///
    /// # Errors
    /// As the async `send`.
    pub fn send(self) -> Result<JobHandle> {
        let handle = self.rt.block_on(self.inner.send())?;
        Ok(JobHandle {
            inner: handle,
            rt: self.rt,
        })
    }
}

wrapper! {
    /// The blocking `POST /runsync` builder, made by [`Endpoint::run_sync`]: the async
    /// [`crate::RunSyncRequest`], sent from the runtime thread.
    #[must_use = "a request does nothing until it is sent"]
    pub struct RunSyncRequest(crate::RunSyncRequest);
}

impl RunSyncRequest {
    job_option_setters!(inner.opts);

    fn map(self, f: impl FnOnce(crate::RunSyncRequest) -> crate::RunSyncRequest) -> Self {
        Self {
            inner: f(self.inner),
            rt: self.rt,
        }
    }

    /// How long the server holds the request; see [`crate::RunSyncRequest::hold`].
    pub fn hold(self, hold: Duration) -> Self {
        self.map(|r| r.hold(hold))
    }

    /// The old name of [`hold`](Self::hold).
    #[deprecated(
        since = "0.1.0",
        note = "renamed `hold`: `wait` is the client waiting for a job"
    )]
    pub fn wait(self, hold: Duration) -> Self {
        self.hold(hold)
    }

    /// How long the caller waits in all; see [`crate::RunSyncRequest::timeout`].
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|r| r.timeout(timeout))
    }

    /// The old name of [`timeout`](Self::timeout).
    #[deprecated(
        since = "0.1.0",
        note = "renamed `timeout`, like the other setters of this builder"
    )]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.timeout(timeout)
    }

    /// Runs the job and returns it finished; see [`crate::RunSyncRequest::send`].
    ///
    /// # Errors
    /// As the async `send`.
    pub fn send(self) -> Result<JobState> {
        self.rt.block_on(self.inner.send())
    }

    /// Runs the job and decodes its output; see [`crate::RunSyncRequest::output`].
    ///
    /// # Errors
    /// As the async `output`.
    pub fn output<T: DeserializeOwned + Send + 'static>(self) -> Result<T> {
        self.rt.block_on(self.inner.output::<T>())
    }
}

wrapper! {
    /// The blocking [`crate::JobHandle`]. Cheap to clone.
    #[derive(Clone)]
    pub struct JobHandle(crate::JobHandle);
}

impl JobHandle {
    /// The job id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The id of the job's endpoint.
    pub fn endpoint_id(&self) -> &str {
        self.inner.endpoint_id()
    }

    /// The same handle with another polling policy.
    #[must_use]
    pub fn with_poll_policy(self, poll: PollPolicy) -> Self {
        Self {
            inner: self.inner.with_poll_policy(poll),
            rt: self.rt,
        }
    }

    /// The async handle inside.
    pub fn as_async(&self) -> &crate::JobHandle {
        &self.inner
    }

    /// The job as it is now; see [`crate::JobHandle::status`].
    ///
    /// # Errors
    /// As the async `status`.
    pub fn status(&self) -> Result<JobState> {
        self.rt
            .call(&self.inner, |job| async move { job.status().await })
    }

    /// Cancels the job; see [`crate::JobHandle::cancel`].
    ///
    /// # Errors
    /// As the async `cancel`.
    pub fn cancel(&self) -> Result<JobState> {
        self.rt
            .call(&self.inner, |job| async move { job.cancel().await })
    }

    /// Queues a failed job again; see [`crate::JobHandle::retry`].
    ///
    /// # Errors
    /// As the async `retry`.
    pub fn retry(&self) -> Result<JobState> {
        self.rt
            .call(&self.inner, |job| async move { job.retry().await })
    }

    /// Waits until the job ends; see [`crate::JobHandle::wait`].
    ///
    /// # Errors
    /// As the async `wait`.
    pub fn wait(&self) -> Result<JobState> {
        self.rt
            .call(&self.inner, |job| async move { job.wait().await })
    }

    /// Waits at most `timeout`; see [`crate::JobHandle::wait_with_timeout`].
    ///
    /// # Errors
    /// As the async `wait_with_timeout`.
    pub fn wait_with_timeout(&self, timeout: Duration) -> Result<JobState> {
        self.rt.call(&self.inner, move |job| async move {
            job.wait_with_timeout(timeout).await
        })
    }

    /// Waits and decodes the output; see [`crate::JobHandle::output`].
    ///
    /// # Errors
    /// As the async `output`.
    pub fn output<T: DeserializeOwned + Send + 'static>(&self) -> Result<T> {
        self.rt
            .call(&self.inner, |job| async move { job.output::<T>().await })
    }

    /// Waits at most `timeout` and decodes the output.
    ///
    /// # Errors
    /// As the async `output_with_timeout`.
    pub fn output_with_timeout<T: DeserializeOwned + Send + 'static>(
        &self,
        timeout: Duration,
    ) -> Result<T> {
        self.rt.call(&self.inner, move |job| async move {
            job.output_with_timeout::<T>(timeout).await
        })
    }

    /// The streamed output as an iterator of `T`; see [`crate::JobHandle::stream`] for how it
    /// ends. Each `next()` polls until a chunk or the end arrives; dropping the iterator stops
    /// polling.
    pub fn stream<T: DeserializeOwned + Send + 'static>(&self) -> JobStream<T> {
        Iter::new(&self.rt, self.inner.stream::<T>())
    }

    /// The streamed chunks as Runpod sends them; see [`crate::JobHandle::chunks`].
    pub fn chunks(&self) -> JobStream<StreamChunk> {
        Iter::new(&self.rt, self.inner.chunks())
    }
}

/// The streamed output of a job, as an iterator; made by [`JobHandle::stream`] (items decoded
/// into `T`) or [`JobHandle::chunks`] (whole chunks).
pub type JobStream<T = StreamChunk> = Iter<Result<T>>;
