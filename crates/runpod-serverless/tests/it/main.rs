//! Integration tests of runpod-serverless against loopback servers.

mod batch;
#[cfg(feature = "blocking")]
mod blocking;
mod decode_edges;
mod errors;
mod http2;
mod keyless;
mod lb;
mod live;
mod local;
mod long_polls;
mod openai;
mod path_ids;
mod rate_limits;
mod routes;
mod run_sync_requests;
mod short_timeouts;
mod streaming;
mod support;
mod typed;
mod validation;
mod waiting;

#[cfg(feature = "worker")]
mod worker;
