//! The README's client example, as written there (extracted by `build.rs`).
#![allow(clippy::print_stdout)]

include!(concat!(env!("OUT_DIR"), "/readme_client.rs"));
