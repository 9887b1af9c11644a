//! Compiles, through `runpod::` paths only, every example a user of the `runpod` crate reads:
//! the README, the facade's docs, the docs of the crates it re-exports (as rendered under
//! `runpod::serverless`, `runpod::transport`, …) and the "Coming from Python" guides.
//!
//! `cargo test --doc -p runpod-facade-tests` runs them; `build.rs` collects them and refuses
//! any that names an inner crate. `tests/readme_run.rs` runs the README's client and worker
//! against runpod-local, and `tests/compile_checks.rs` checks the compile errors users get for
//! a build without TLS and for a streaming handler passed unwrapped.

/// The README, every Rust block compiled against `runpod` as a user's crate would.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct Readme;

/// The examples of the inner crates' docs and the guides, written out by `build.rs`.
#[cfg(doctest)]
pub mod inner {
    include!(concat!(env!("OUT_DIR"), "/inner_examples.rs"));
}
