//! `cargo xtask soak [--jobs N] [--short] [flags]`: builds the echo_worker example and the soak in
//! release mode and runs `runpod-soak` with the same arguments (see soak/README.md).

use std::path::Path;

use anyhow::Result;

use crate::release_binaries;

pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    // The soak starts the worker binary itself, as separate processes; build it first.
    release_binaries::build_echo_worker(root)?;
    release_binaries::run_package(root, "runpod-soak", args.iter().copied())
}
