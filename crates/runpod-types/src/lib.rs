//! Wire models for Runpod's APIs: the serverless queue API and worker protocol, REST v2 and the
//! GraphQL operations runpod-rs sends. Generated from the files under `schema/` by
//! `cargo xtask codegen`; this crate does no I/O.
//!
//! String enums are open: a value this version does not know decodes as `Unknown(String)` and is
//! sent back unchanged. Objects the API may extend keep unknown keys in an `extra` map.

mod generated;
pub mod graphql;
mod nulls;
mod redact;
pub mod rest;
pub mod scalars;
pub mod serverless;
