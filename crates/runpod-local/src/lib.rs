//! A local Runpod serverless endpoint: the client queue API and the worker protocol on one machine.
//!
//! Clients talk to it as to `https://api.runpod.ai/v2` (`/run`, `/runsync`, `/status`, `/stream`,
//! `/cancel`, `/retry`, `/health`, `/purge-queue`); workers pull jobs from it through the
//! `RUNPOD_WEBHOOK_*` URLs (`job-take`, `job-take-batch`, `job-done`, `job-stream`, `ping`,
//! `job-stop`). Every endpoint id is its own queue, created on first use. Jobs go through Runpod's
//! life cycle — `IN_QUEUE` → `IN_PROGRESS` → `COMPLETED` | `FAILED` | `CANCELLED` | `TIMED_OUT` —
//! with execution timeouts, ttl expiry, result retention, webhooks (loopback only), and requeueing
//! of the jobs of a worker whose heartbeats stop. Faults can be injected per route.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let server = runpod_local::Server::builder()
//!     .api_key("local-key")
//!     .bind("127.0.0.1:0")
//!     .await?;
//! // Clients: RUNPOD_ENDPOINT_BASE_URL
//! let base = server.serverless_base_url();
//! // Workers: RUNPOD_WEBHOOK_GET_JOB and friends
//! let env = server.worker_env("my-endpoint", "worker-1");
//! # let _ = (base, env);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Without any worker, [`ServerBuilder::inline_handler`] (or [`ServerBuilder::echo`], `--echo` on
//! the command line) answers jobs inside the server, through the same queue, so a client can be
//! tested against real queue semantics in one process.
//!
//! Differences from the hosted service are deliberate and local: webhooks only go to loopback
//! addresses (and hosts allowed with [`ServerBuilder::allow_webhook_hosts`]) over http or https
//! (public roots, plus [`ServerBuilder::webhook_ca_file`]), faulted
//! requests are refused before they change anything, and a job whose ttl ends is deleted
//! whatever its state.
//!
//! Exposure: a server listening beyond loopback refuses to start without an API key unless
//! [`ServerBuilder::insecure_no_auth`] says otherwise, and [`Limits`] bound what one client can
//! make it hold (queued jobs, stored bytes, id sizes, stream chunks, connections, slow sends).

mod channel_body;
mod config;
#[cfg(feature = "console")]
mod console;
mod error;
mod exposure;
mod faults;
mod inline;
mod lb;
mod limits;
mod rate_limits;
pub mod rest_v2;
mod routes;
#[cfg(feature = "bin")]
mod serve_args;
mod server;
mod store;
mod webhook;
mod webhook_tls;

pub use faults::{FaultConfig, ParseError, Route, RouteFaults};
pub use lb::{LbCounts, LbLimits, LbSpawn, LbWatch, LbWorker};
pub use limits::{Limits, parse_size};
#[cfg(feature = "bin")]
pub use serve_args::ServeArgs;
pub use server::{RunningServer, Server, ServerBuilder};

/// Parses a duration written as `250ms`, `2s`, `5m`, `1h` or a bare number of seconds (the
/// command line's syntax).
pub fn parse_duration(value: &str) -> Result<std::time::Duration, ParseError> {
    faults::parse_duration(value)
}
