//! Runpod serverless for Rust: call queue endpoints and write workers.
//!
//! The client side (`ServerlessClient`, `Endpoint`, `JobHandle`) submits and tracks jobs on
//! `https://api.runpod.ai/v2/{endpoint_id}`. The `worker` feature adds the runtime that runs
//! inside a serverless container and speaks the worker protocol.
//!
//! # Calling an endpoint
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! # async fn demo() -> runpod::Result<()> {
//! use std::time::Duration;
//! use runpod::ServerlessClient;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize)]
//! struct Prompt { prompt: String }
//! #[derive(Deserialize)]
//! struct Images { images: Vec<String> }
//!
//! // RUNPOD_API_KEY (or ~/.runpod/config.toml); RUNPOD_ENDPOINT_BASE_URL for a local server.
//! let client = ServerlessClient::from_env()?;
//! let endpoint = client.endpoint("my-endpoint-id");
//!
//! // Wait for the result: the server holds the request, then the client polls `/status`.
//! let out: Images = endpoint
//!     .run_sync(Prompt { prompt: "a cat".into() })
//!     .timeout(Duration::from_secs(300))
//!     .output()
//!     .await?;
//!
//! // Or queue it, keep the id, and come back later.
//! let job = endpoint.run(Prompt { prompt: "a dog".into() }).ttl(Duration::from_secs(3600)).await?;
//! let id = job.id().to_owned();
//! match endpoint.job(id).output_with_timeout::<Images>(Duration::from_secs(600)).await {
//!     Ok(images) => println!("{} images", images.images.len()),
//!     Err(e) if e.is_job_failed() => println!("worker error: {:?}", e.job_error()),
//!     Err(e) if e.is_timeout() => println!("still running: {:?}", e.job_id()),
//!     Err(e) => return Err(e),
//! }
//! # let _ = out;
//! # Ok(()) }
//! ```
//!
//! Errors are [`Error`] (the SDK's one error type): a job that ends FAILED, CANCELLED or
//! TIMED_OUT is `is_job_failed()` / `is_job_cancelled()` / `is_job_timed_out()` with the worker's
//! error in `job_error()`; transport and HTTP failures keep their own predicates.
//!
//! # One word for one idea
//!
//! - **wait**: the client waiting for a job to end ([`JobHandle::wait`], `handle.await`,
//!   [`JobHandle::output`]).
//! - **hold**: the server keeping `/runsync` open before it answers with the job still running
//!   ([`RunSyncRequest::hold`], sent as `?wait=`).
//! - **timeout**: the caller's bound on a whole call ([`RunSyncRequest::timeout`],
//!   [`JobHandle::wait_with_timeout`], [`JobHandle::output_with_timeout`]); past it the error is
//!   `is_timeout()` and `job_id()` names the job, which keeps running.
//! - **execution timeout** and **ttl**: the job's own limits, enforced by Runpod
//!   ([`RunRequest::execution_timeout`], [`RunRequest::ttl`]).
//!
//! Coming from Python? The `coming_from_python` page (feature `worker`) maps every
//! `runpod.Endpoint`, `AsyncioEndpoint` and `serverless.start` call to its Rust form.
//!
//! Waiting and streaming poll adaptively ([`PollPolicy`]), and requests to `api.runpod.ai`
//! respect Runpod's documented per-endpoint rate limits on the client side ([`RateLimits`]).
//! The `blocking` feature adds [`blocking`], the same API without `async`.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod batch;
mod client;
mod endpoint;
mod job;
mod job_futures;
mod long_poll;
mod poll;
mod rate_limit;
mod routes;
mod run;
mod stream;

/// Load-balancing endpoints: plain HTTP to workers, with worker affinity.
pub mod lb;

pub mod openai;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;

pub use batch::{BatchHandle, BatchOutput, BatchRun, Batches, MAX_BATCH_REQUESTS};
pub use client::{ServerlessClient, ServerlessClientBuilder};
pub use endpoint::Endpoint;
pub use job::JobHandle;
pub use job_futures::{OutputFuture, WaitFuture};
pub use long_poll::WaitStrategy;
pub use poll::{PollPolicy, PollPolicyBuilder};
pub use rate_limit::{RateLimits, Route, RouteLimit};
pub use run::{RunRequest, RunSyncRequest};
#[doc(no_inline)]
pub use runpod_transport::{Config, Error, HttpClient, HttpVersion, Report, Result};
#[doc(no_inline)]
pub use runpod_types::serverless::{
    Batch, BatchRequest, BatchRequestStatus, BatchRequestsPage, BatchStatus, ExecutionPolicy,
    HealthJobs, HealthResponse, HealthWorkers, JobState, JobStatus, PurgeQueueResponse, S3Config,
    StreamChunk,
};

#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod worker;

#[cfg(feature = "worker")]
#[doc = include_str!("../COMING_FROM_PYTHON.md")]
pub mod coming_from_python {}

/// The facade's paths, for this crate's examples: each starts with the hidden line
/// `# use runpod_serverless::__runpod as runpod;` and shows `runpod::…` paths, so that the
/// example a `runpod` user reads (these docs are rendered through the facade) compiles when
/// pasted. `tests/facade` compiles every example against the real facade. Not API.
#[doc(hidden)]
pub mod __runpod {
    pub use crate as serverless;
    #[cfg(feature = "blocking")]
    pub use crate::blocking;
    #[cfg(feature = "worker")]
    pub use crate::worker;
    pub use crate::{Endpoint, JobHandle, ServerlessClient};
    pub use runpod_transport as transport;
    pub use runpod_transport::{ApiKey, Config, Error, HttpClient, Report, Result, RetryPolicy};
    pub use runpod_types as types;

    /// `runpod::prelude`.
    pub mod prelude {
        #[cfg(feature = "worker")]
        pub use crate::worker::{Job, JobError};
        pub use crate::{Endpoint, JobHandle, JobState, JobStatus, ServerlessClient};
        pub use futures_util::StreamExt as _;
    }
}
