//! Integration tests for runpod-transport against loopback servers.

mod config;
mod errors;
mod graphql;
mod headers;
mod proptests;
mod rate_limit;
mod redaction;
mod retries;
mod sse;
mod support;
mod timeouts;
