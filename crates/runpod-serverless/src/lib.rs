//! Runpod serverless for Rust: call queue endpoints and write workers.
//!
//! The client side (`ServerlessClient`, `Endpoint`, `JobHandle`) submits and tracks jobs on
//! `https://api.runpod.ai/v2/{endpoint_id}`. The `worker` feature adds the runtime that runs
//! inside a serverless container and speaks the worker protocol.
//!
//! # Calling an endpoint
//!
//! ```no_run
//! # async fn demo() -> runpod_serverless::Result<()> {
//! use std::time::Duration;
//! use runpod_serverless::ServerlessClient;
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
//!     .with_timeout(Duration::from_secs(300))
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
//! Waiting and streaming poll adaptively ([`PollPolicy`]), and requests to `api.runpod.ai`
//! respect Runpod's documented per-endpoint rate limits on the client side ([`RateLimits`]).
//! The `blocking` feature adds [`blocking`], the same API without `async`.
#![cfg_attr(docsrs, feature(doc_cfg))]

// CLIENT-MODULES (owned by the client helper)
mod client;
mod endpoint;
mod job;
mod poll;
mod rate_limit;
mod routes;
mod run;
mod stream;
mod waiting;

pub mod openai;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;

pub use client::{ServerlessClient, ServerlessClientBuilder};
pub use endpoint::Endpoint;
pub use job::JobHandle;
pub use poll::PollPolicy;
pub use rate_limit::{RateLimits, Route, RouteLimit};
pub use run::{RunRequest, RunSyncRequest};
#[doc(no_inline)]
pub use runpod_transport::{Config, Error, HttpClient, Report, Result};
#[doc(no_inline)]
pub use runpod_types::serverless::{
    ExecutionPolicy, HealthJobs, HealthResponse, HealthWorkers, JobState, JobStatus,
    PurgeQueueResponse, S3Config, StreamChunk,
};
pub use waiting::{OutputFuture, WaitFuture};

#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod worker;
