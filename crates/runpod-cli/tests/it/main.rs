//! Black-box tests of the `runpod` binary against an in-process `runpod-local` (with a Rust
//! worker serving its queue) or an httpmock server.

mod admin;
mod batch;
mod config;
mod errors;
mod help;
mod jobs;
mod lb;
mod local;
mod support;
