//! Project automation for runpod-rs: `cargo xtask <command>`.
//!
//! - `codegen [--check]`: regenerate `crates/runpod-types/src/generated/` from `schema/`.
//! - `schema import <file> [--kind rest|graphql] [--origin TEXT]`: normalise an upstream spec into `schema/`.
//! - `schema pin <path under schema/>`: record the sum of a hand-maintained schema file after review.
//! - `tidy`: workspace conventions (lints, dependency layering, generated-file preambles).
//! - `deny`: cargo-deny with the RustSec snapshot beside the repository, offline (`--live` online).
//! - `test`: the README's test command (every test; the Python interop suite when python3 exists).
//! - `bench {client|worker|local|wait|lb|openai}`: release-mode benchmarks against the official
//!   SDKs and a raw-HTTP baseline (bench/README.md).
//! - `soak [--short]`: thousands of jobs through runpod-local with faults on every route and a
//!   killed worker (soak/README.md).

mod admin_codegen;
mod bench;
mod codegen;
mod deny;
mod graphql_subset;
mod release_binaries;
mod schema;
mod soak;
mod sources;
mod test_cmd;
mod tidy;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  codegen [--check]                 regenerate crates/runpod-types/src/generated from schema/
  schema import <file> [--kind rest|graphql] [--origin TEXT]
                                    normalise an upstream spec into schema/ and record its sha256
  schema pin <path under schema/>   record the sha256 of a hand-maintained schema file
  tidy                              check workspace conventions
  deny [--db DIR | --live]          cargo-deny: advisories (RustSec snapshot ../shared/advisory-db, offline), bans, licenses, sources
  test [-- <test args>]             run every test (the README's test command; adds the Python interop suite when python3 exists)
  bench {client|worker|local|wait|lb|openai} [flags]
                                    release-mode benchmarks (bench/README.md; `--help` after the bench name)
  soak [--short] [flags]            jobs and batches through runpod-local under faults, a worker killed (soak/README.md)";

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["codegen"] => codegen::run(&root, false),
        ["codegen", "--check"] => codegen::run(&root, true),
        ["schema", "pin", path] => schema::pin(&root, path),
        ["schema", "import", source, rest @ ..] => {
            let mut kind = schema::Kind::Rest;
            let mut origin = None;
            let mut rest = rest.iter();
            while let Some(flag) = rest.next() {
                match (*flag, rest.next()) {
                    ("--kind", Some(k)) => kind = schema::Kind::parse(k)?,
                    ("--origin", Some(o)) => origin = Some(*o),
                    _ => bail!("{USAGE}"),
                }
            }
            schema::import(&root, source, kind, origin)
        }
        ["tidy"] => tidy::run(&root),
        ["test", rest @ ..] => {
            let extra: Vec<String> = rest
                .iter()
                .skip_while(|a| **a == "--")
                .map(|a| (*a).to_owned())
                .collect();
            test_cmd::run(&root, &extra)
        }
        ["bench", rest @ ..] => bench::run(&root, rest),
        ["soak", rest @ ..] => soak::run(&root, rest),
        ["deny", rest @ ..] => deny::run(&root, rest),
        _ => bail!("{USAGE}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "a command-line tool reports its error")]
            {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
