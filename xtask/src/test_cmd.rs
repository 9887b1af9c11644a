//! `cargo xtask test`: the README's test command.
//!
//! Runs every test of the workspace with every feature. The interop suite drives the official
//! Python SDK (`runpod==1.12.0`); it needs a Python interpreter with that package, which this
//! command provides in `./.venv` when `python3` exists. On a machine without Python the suite is
//! not compiled at all and the command says so, so nothing is reported as passed that did not run.
//! The same interpreter gets Playwright for the console's browser tests, which drive the system's
//! Chromium; without `chromium` installed those say loudly that they did not run (and fail in CI).

#![allow(
    clippy::print_stderr,
    reason = "a command-line tool reports progress on stderr"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const PYTHON_SDK: &str = "runpod==1.12.0";
/// The official OpenAI client, for the OpenAI-compatible route's interop tests.
const PYTHON_OPENAI: &str = "openai==3.63.0";
/// Drives the system's Chromium in the console's browser tests (it downloads no browser).
const PYTHON_PLAYWRIGHT: &str = "playwright==1.65.3";

pub(crate) fn run(root: &Path, extra: &[String]) -> Result<()> {
    match python_with_sdk(root)? {
        Some(python) => {
            eprintln!(
                "xtask test: Python interop suite enabled ({})",
                python.display()
            );
            cargo(
                root,
                &["test", "--workspace", "--all-features"],
                extra,
                Some(&python),
            )
        }
        None => {
            eprintln!(
                "xtask test: python3 not found, so the Python interop suite \
                 (runpod-e2e feature `python-interop`) is NOT built or run"
            );
            cargo(
                root,
                &[
                    "test",
                    "--workspace",
                    "--all-features",
                    "--exclude",
                    "runpod-e2e",
                ],
                extra,
                None,
            )?;
            cargo(root, &["test", "-p", "runpod-e2e"], extra, None)
        }
    }
}

fn cargo(root: &Path, args: &[&str], extra: &[String], python: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root).args(args);
    if !extra.is_empty() {
        cmd.arg("--").args(extra);
    }
    if let Some(python) = python {
        cmd.env("RUNPOD_PYTHON", python);
    }
    let status = cmd.status().context("running cargo")?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The interpreter to use: `RUNPOD_PYTHON`, else `./.venv/bin/python`, created with
/// `python3 -m venv` and the official SDK installed from PyPI when missing.
fn python_with_sdk(root: &Path) -> Result<Option<PathBuf>> {
    if let Some(python) = std::env::var_os("RUNPOD_PYTHON") {
        let python = PathBuf::from(python);
        ensure_sdk(&python)?;
        return Ok(Some(python));
    }
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let created = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status();
        match created {
            Ok(status) if status.success() => {}
            Ok(status) => bail!("python3 -m venv .venv failed ({status})"),
            Err(_) => return Ok(None),
        }
    }
    ensure_sdk(&python)?;
    Ok(Some(python))
}

fn ensure_sdk(python: &Path) -> Result<()> {
    let check = Command::new(python)
        .args([
            "-c",
            "import openai, runpod, sys, importlib.metadata as m; \
             sys.exit(runpod.__version__ != '1.12.0' or openai.__version__ != '3.63.0' \
             or m.version('playwright') != '1.65.3')",
        ])
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if check.status.success() {
        return Ok(());
    }
    eprintln!(
        "xtask test: installing {PYTHON_SDK}, {PYTHON_OPENAI} and {PYTHON_PLAYWRIGHT} into {}",
        python.display()
    );
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            PYTHON_SDK,
            PYTHON_OPENAI,
            PYTHON_PLAYWRIGHT,
        ])
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install {PYTHON_SDK} {PYTHON_OPENAI} {PYTHON_PLAYWRIGHT} failed ({status})");
    }
    Ok(())
}
