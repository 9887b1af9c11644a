//! Integration tests of runpod-serverless against loopback servers.

// CLIENT-TEST-MODULES (owned by the client helper)
#[cfg(feature = "blocking")]
mod blocking;
mod decode_edges;
mod errors;
mod live;
mod local;
mod openai;
mod rate_limits;
mod routes;
mod streaming;
mod support;
mod validation;
mod waiting;

#[cfg(feature = "worker")]
mod worker;
