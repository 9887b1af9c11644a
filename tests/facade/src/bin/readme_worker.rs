//! The README's worker example, as written there (extracted by `build.rs`).
#![allow(clippy::print_stdout)]

include!(concat!(env!("OUT_DIR"), "/readme_worker.rs"));
