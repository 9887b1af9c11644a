//! The Runpod SDK for Rust.
//!
//! One crate for the four jobs Rust users bring to Runpod:
//!
//! - **Call serverless endpoints** ([`serverless`], feature `serverless`, on by default): submit
//!   jobs with `/run` or `/runsync`, wait, stream partial output, cancel, retry, check health,
//!   purge queues. A [`blocking`] client offers the same API without async (feature `blocking`).
//! - **Manage the cloud** ([`admin`], feature `admin`, on by default): pods, serverless
//!   endpoints, templates, network volumes, registries, the GPU/CPU catalog, billing, over
//!   Runpod's REST v2 API, with GraphQL only where v2 has gaps.
//! - **Write serverless workers** ([`worker`], feature `worker`): a runtime that speaks Runpod's
//!   worker protocol (job-take, job-done, job-stream, ping, job-stop) and loses no result.
//! - **Develop offline**: the `runpod-local` crate is a local Runpod endpoint that speaks both
//!   the client API and the worker protocol.
//!
//! This crate holds no logic: it re-exports the layered crates (`runpod-types`,
//! `runpod-transport`, `runpod-serverless`, `runpod-admin`) behind features.
//!
//! [`prelude`] brings the clients, the job types and `StreamExt` in one import. Every example in
//! these docs, those of the re-exported crates included, is written with `runpod::` paths and
//! compiled against this crate.
//!
//! ```no_run
//! # async fn demo() -> runpod::Result<()> {
//! let client = runpod::ServerlessClient::from_env()?;
//! let job = client.endpoint("my-endpoint").run(serde_json::json!({"prompt": "hi"})).send().await?;
//! let output: serde_json::Value = job.await?;
//! println!("{output}");
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

// Every client of this crate speaks https to Runpod; a build without a TLS backend would compile
// and then fail every call at run time as "failed to connect".
#[cfg(all(
    any(feature = "serverless", feature = "admin"),
    not(any(feature = "rustls-tls", feature = "native-tls"))
))]
compile_error!(
    "runpod: no TLS backend is enabled, so every https call would fail at run time. \
     Enable `rustls-tls` (the default) or `native-tls`, e.g. \
     `runpod = { version = \"0.1\", default-features = false, features = [\"serverless\", \"rustls-tls\"] }`"
);

/// Wire models: REST v2, GraphQL operations and the serverless protocol.
#[doc(inline)]
pub use runpod_types as types;

/// Configuration, API key, HTTP, retries and the error type shared by every client.
#[doc(inline)]
pub use runpod_transport as transport;

#[doc(inline)]
pub use runpod_transport::{
    ApiKey, Config, Error, HttpClient, HttpVersion, Report, Result, RetryPolicy,
};

/// Serverless queue endpoints: run, runsync, status, stream, cancel, retry, health, purge.
#[cfg(feature = "serverless")]
#[cfg_attr(docsrs, doc(cfg(feature = "serverless")))]
#[doc(inline)]
pub use runpod_serverless as serverless;

#[cfg(feature = "serverless")]
#[cfg_attr(docsrs, doc(cfg(feature = "serverless")))]
#[doc(inline)]
pub use runpod_serverless::{BatchHandle, Batches, Endpoint, JobHandle, ServerlessClient};

/// Load-balancing endpoints: plain HTTP to workers, with worker affinity.
#[cfg(feature = "serverless")]
#[cfg_attr(docsrs, doc(cfg(feature = "serverless")))]
#[doc(inline)]
pub use runpod_serverless::lb;

/// The blocking serverless client.
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
#[doc(inline)]
pub use runpod_serverless::blocking;

/// The serverless worker runtime.
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
#[doc(inline)]
pub use runpod_serverless::worker;

/// Cloud management over REST v2 (and GraphQL where v2 has gaps).
#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
#[doc(inline)]
pub use runpod_admin as admin;

#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
#[doc(inline)]
pub use runpod_admin::AdminClient;

/// The names most programs need, and the traits their methods come from:
/// `use runpod::prelude::*;`.
///
/// It brings the clients and job types, and `futures_util::StreamExt` (anonymously, for
/// `.next()` on [`JobHandle::stream`]). It leaves `Result` and `Error` out, so that a glob import
/// never shadows `std`'s `Result`.
pub mod prelude {
    #[doc(no_inline)]
    pub use futures_util::StreamExt as _;

    #[cfg(feature = "serverless")]
    #[doc(no_inline)]
    pub use runpod_serverless::{Endpoint, JobHandle, JobState, JobStatus, ServerlessClient};

    #[cfg(feature = "worker")]
    #[doc(no_inline)]
    pub use runpod_serverless::worker::{Job, JobError};

    #[cfg(feature = "admin")]
    #[doc(no_inline)]
    pub use runpod_admin::AdminClient;
}

/// The README's Rust examples, compiled as doctests so they cannot drift from the API.
#[cfg(all(doctest, feature = "worker"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
