//! Runpod cloud management: pods, serverless endpoints, templates, network volumes, clusters,
//! container registries, the catalog (GPU and CPU types, data centers, public templates),
//! billing and account settings.
//!
//! Everything goes through [REST API v2](https://docs.runpod.io/api-reference-v2); the few
//! things v2 lacks (account balance and spend, GPU prices with the lowest price for a GPU
//! count) use GraphQL.
//!
//! Start from an [`AdminClient`]. Each resource group hands out owned request builders:
//! required values are arguments, optional ones are setters, call options are `with_*`, and
//! every builder ends in `.send().await`:
//!
//! ```no_run
//! # use runpod_admin::__runpod as runpod;
//! use runpod::AdminClient;
//! use runpod::admin::rest::{Product, CatalogInclude};
//!
//! # async fn demo() -> runpod::Result<()> {
//! let admin = AdminClient::from_env()?;
//!
//! // GPU types with current pod availability.
//! let gpus = admin
//!     .catalog()
//!     .gpus()
//!     .include([CatalogInclude::Availability])
//!     .product([Product::Pod])
//!     .send()
//!     .await?;
//!
//! // A pod on the first of these GPU types that has capacity.
//! let created = admin
//!     .pods()
//!     .create("trainer")
//!     .image("runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404")
//!     .gpu_fallback(["NVIDIA GeForce RTX 4090", "NVIDIA L40"])
//!     .send()
//!     .await?;
//! let running = admin.pods().wait_until_running(&created.pod.id).send().await?;
//! println!("running after {:?}", running.timings.total);
//! # let _ = gpus;
//! # Ok(())
//! # }
//! ```
//!
//! Failures are [`Error`]s; [`errors`] reads them the way the spec's `createPod` guidance does
//! (422 never retried, 400 "no capacity", 402 insufficient balance, 429 with `Retry-After`).
//! Coming from the Python SDK? `AdminClient` has the same one-call functions (`get_gpus`,
//! `create_endpoint`, …); see `COMING_FROM_PYTHON.md`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod errors;
mod generated;
mod graphql;
mod load_balancing;
mod logs;
mod pods;
mod python_shortcuts;
mod request;

pub use client::AdminClient;
pub use generated::groups::{
    Account, Billing, Catalog, Clusters, Endpoints, NetworkVolumes, Pods, Registries, Templates,
};
pub use generated::table::{OPERATION_BUILDERS, OperationBuilder};
pub use graphql::{
    AccountBalance, AccountSpend, GetAccountBalance, GetAccountSpend, GetGpuPricing, GpuPricing,
    LowestPrice,
};
pub use load_balancing::check_endpoint_kind;
pub use logs::LogLine;
pub use pods::{
    CreatePodWithFallback, CreatedPod, RunningPod, SkippedCandidate, StartupTimings,
    WaitUntilRunning,
};
pub use runpod_transport::{Error, Result};
/// The REST v2 models every call takes and returns.
pub use runpod_types::rest;

#[doc = include_str!("../COMING_FROM_PYTHON.md")]
pub mod coming_from_python {}

/// The facade's paths, for this crate's examples: each starts with the hidden line
/// `# use runpod_admin::__runpod as runpod;` and shows `runpod::…` paths, so that the example a
/// `runpod` user reads (these docs are rendered through the facade) compiles when pasted.
/// `tests/facade` compiles every example against the real facade. Not API.
#[doc(hidden)]
pub mod __runpod {
    pub use crate as admin;
    pub use crate::AdminClient;
    pub use runpod_transport as transport;
    pub use runpod_transport::{ApiKey, Config, Error, HttpClient, Report, Result, RetryPolicy};
    pub use runpod_types as types;
}

/// The request builder of every REST v2 operation (one type per operation, named after its
/// `operationId`), and the query-parameter enums the spec declares inline.
pub mod builders {
    pub use crate::generated::operations::*;
}
