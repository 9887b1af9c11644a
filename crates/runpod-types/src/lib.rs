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

/// The facade's paths, for this crate's examples: each starts with the hidden line
/// `# use runpod_types::__runpod as runpod;` and shows `runpod::types::…` paths, as a `runpod`
/// user writes them. Not API.
#[doc(hidden)]
pub mod __runpod {
    pub use crate as types;
}
