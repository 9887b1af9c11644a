//! Running the project's own release binaries (benchmarks, soak) from xtask.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Builds the `echo_worker` example in release mode: the worker the soak and the worker bench
/// start as separate processes, as users would build it.
pub(crate) fn build_echo_worker(root: &Path) -> Result<()> {
    build_example(root, "echo_worker")
}

/// Builds one example of `runpod-examples` in release mode.
pub(crate) fn build_example(root: &Path, name: &str) -> Result<()> {
    run_ok(cargo(root).args([
        "build",
        "--release",
        "-p",
        "runpod-examples",
        "--example",
        name,
    ]))
}

/// `cargo run --release --quiet -p <package> -- <args>`.
pub(crate) fn run_package<'a>(
    root: &Path,
    package: &str,
    args: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    run_ok(
        cargo(root)
            .args(["run", "--release", "--quiet", "-p", package, "--"])
            .args(args),
    )
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(root);
    cmd
}

fn run_ok(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}
