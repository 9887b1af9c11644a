//! `cargo xtask soak [--jobs N] [--short] [flags]`: builds the echo_worker example and the soak in
//! release mode and runs `runpod-soak` with the same arguments (see soak/README.md).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // The soak starts the worker binary itself, as separate processes; build it first.
    cargo_ok(Command::new(&cargo).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "runpod-examples",
        "--example",
        "echo_worker",
    ]))?;
    cargo_ok(
        Command::new(&cargo)
            .current_dir(root)
            .args(["run", "--release", "--quiet", "-p", "runpod-soak", "--"])
            .args(args),
    )
}

fn cargo_ok(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}
