//! `cargo xtask bench {client,worker,local} [flags]`: builds the bench (and, for `worker`, the
//! echo_worker example) in release mode and runs `runpod-bench` with the same arguments.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

pub(crate) const USAGE: &str = "bench {client|worker|local} [flags]   release-mode benchmarks (see bench/README.md; `--help` after the bench name)";

pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    let Some(which) = args.first() else {
        bail!("usage: cargo xtask {USAGE}");
    };
    if !matches!(*which, "client" | "worker" | "local") {
        bail!("unknown bench `{which}`; usage: cargo xtask {USAGE}");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    if *which == "worker" {
        // Our worker as users build it: the example binary, in release.
        cargo_ok(Command::new(&cargo).current_dir(root).args([
            "build",
            "--release",
            "-p",
            "runpod-examples",
            "--example",
            "echo_worker",
        ]))?;
    }
    // `cargo xtask bench client -- --jobs 100` works as well as without the `--`.
    let flags = args[1..].iter().filter(|a| **a != "--");
    cargo_ok(
        Command::new(&cargo)
            .current_dir(root)
            .args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "runpod-bench",
                "--",
                which,
            ])
            .args(flags),
    )
}

fn cargo_ok(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}
