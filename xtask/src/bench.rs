//! `cargo xtask bench {client,worker,local,wait,lb,openai} [flags]`: builds the bench (and, for `worker`, the
//! echo_worker example) in release mode and runs `runpod-bench` with the same arguments.

use anyhow::{Result, bail};
use std::path::Path;

use crate::release_binaries;

pub(crate) const USAGE: &str = "bench {client|worker|local|wait|lb|openai} [flags]   release-mode benchmarks (see bench/README.md; `--help` after the bench name)";

pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    let Some(which) = args.first() else {
        bail!("usage: cargo xtask {USAGE}");
    };
    if !matches!(
        *which,
        "client" | "worker" | "local" | "wait" | "lb" | "openai"
    ) {
        bail!("unknown bench `{which}`; usage: cargo xtask {USAGE}");
    }
    if *which == "worker" {
        // Our worker as users build it: the example binary, in release.
        release_binaries::build_echo_worker(root)?;
    }
    if *which == "openai" {
        release_binaries::build_example(root, "openai_worker")?;
    }
    // `cargo xtask bench client -- --jobs 100` works as well as without the `--`.
    let flags = args.iter().copied().filter(|a| *a != "--");
    release_binaries::run_package(root, "runpod-bench", flags)
}
