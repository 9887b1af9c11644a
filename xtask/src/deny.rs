//! `cargo xtask deny [--db DIR | --live]`: cargo-deny's four checks, the advisories one against
//! the RustSec database snapshot kept beside the repository (`../shared/advisory-db`), offline.
//!
//! CI cannot reach github.com, so the live database cannot be fetched; a snapshot is provided
//! instead (its commit and date in its `SNAPSHOT.md`). cargo-deny reads a database only from a
//! git checkout named after the database URL, so the snapshot is copied to a temporary
//! `advisory-db-3157b0e258782691`, committed there, and a temporary copy of `deny.toml` points
//! `db-path` at it (an absolute path: cargo-deny resolves a relative one from its cwd).
//!
//! Before the real check, a canary run plants one vulnerability and one unsound advisory against
//! `serde` in a second copy and requires cargo-deny to fail naming both: a database that cargo-deny
//! silently failed to read, or a policy that stopped denying, would otherwise look like a pass.
//!
//! `--live` runs the same checks against the live database (cargo-deny fetches it), for machines
//! with a network.

#![allow(
    clippy::print_stderr,
    reason = "a command-line tool reports progress on stderr"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The directory name cargo-deny derives from the default database URL
/// (`https://github.com/RustSec/advisory-db`); it looks for the checkout under this name.
const DB_DIR_NAME: &str = "advisory-db-3157b0e258782691";

/// Crate the canary advisories are planted against: every published crate of ours reaches it.
const CANARY_CRATE: &str = "serde";
const CANARY_VULN: &str = "RUSTSEC-2099-9001";
const CANARY_UNSOUND: &str = "RUSTSEC-2099-9002";

pub(crate) const USAGE: &str = "deny [--db DIR | --live]          cargo-deny advisories (RustSec snapshot in ../shared/advisory-db, offline), bans, licenses, sources";

pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut db = None;
    let mut live = false;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match (*flag, rest.next()) {
            ("--db", Some(dir)) => db = Some(PathBuf::from(dir)),
            ("--live", None) => live = true,
            _ => bail!("usage: cargo xtask {USAGE}"),
        }
    }
    let deny = cargo_deny(root);
    if live {
        eprintln!("xtask deny: advisories from the live RustSec database (fetched by cargo-deny)");
        return {
            let (failed, _) = run_deny(root, &deny, &root.join("deny.toml"), false, false)?;
            if failed {
                bail!("cargo-deny found problems (above)");
            }
            Ok(())
        };
    }
    let db = match db.or_else(|| std::env::var_os("RUNPOD_ADVISORY_DB").map(PathBuf::from)) {
        Some(db) => db,
        None => root.join("../shared/advisory-db"),
    };
    let snapshot = Snapshot::read(&db)?;
    eprintln!(
        "xtask deny: RustSec advisory database snapshot {} of {} ({}); advisories published \
         after {} are not checked, run `cargo xtask deny --live` where a network exists",
        snapshot.commit,
        snapshot.date,
        db.display(),
        snapshot.date,
    );
    // `--offline` forbids cargo from downloading; every package of the lock file (other
    // platforms' too) must be present for cargo-deny's `cargo metadata`.
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(root)
        .args(["fetch", "--quiet"])
        .status()
        .context("running cargo fetch")?;
    if !status.success() {
        bail!("cargo fetch failed ({status})");
    }

    let canary = tempfile::tempdir().context("creating a temporary directory")?;
    let config = prepare(root, &db, canary.path(), &snapshot.date, true)?;
    let (failed, text) = run_deny(root, &deny, &config, true, true)?;
    if !failed || !text.contains(CANARY_VULN) || !text.contains(CANARY_UNSOUND) {
        eprintln!("{text}");
        bail!(
            "canary: cargo-deny did not report the planted advisories {CANARY_VULN} \
             (vulnerability) and {CANARY_UNSOUND} (unsound) against {CANARY_CRATE}; the snapshot \
             was not read or the policy no longer denies them"
        );
    }
    eprintln!(
        "xtask deny: canary ok (planted {CANARY_VULN} and {CANARY_UNSOUND} were both reported)"
    );

    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let config = prepare(root, &db, work.path(), &snapshot.date, false)?;
    let (failed, _) = run_deny(root, &deny, &config, true, false)?;
    if failed {
        bail!(
            "cargo-deny found problems (above); fix them or record a reasoned exception in deny.toml"
        );
    }
    Ok(())
}

/// The cargo-deny to run: `$CARGO_DENY`, else the one `.ci/run` installs in `./.venv`, else PATH.
fn cargo_deny(root: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_DENY") {
        return PathBuf::from(path);
    }
    let venv = root.join(".venv/bin/cargo-deny");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("cargo-deny")
}

/// Runs `cargo-deny check` with `config`; offline or not; returns whether it failed and, when `capture`, its
/// output (otherwise the output goes to the terminal).
fn run_deny(
    root: &Path,
    deny: &Path,
    config: &Path,
    offline: bool,
    capture: bool,
) -> Result<(bool, String)> {
    let mut cmd = Command::new(deny);
    cmd.current_dir(root).arg("--config").arg(config);
    if offline {
        cmd.arg("--offline");
    }
    cmd.args(["check", "advisories", "bans", "licenses", "sources"]);
    if capture {
        let out = cmd
            .output()
            .with_context(|| format!("running {}", deny.display()))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((!out.status.success(), text))
    } else {
        let status = cmd
            .status()
            .with_context(|| format!("running {} (set CARGO_DENY)", deny.display()))?;
        Ok((!status.success(), String::new()))
    }
}

/// Copies the snapshot into `dir/advisory-db-…` as a one-commit git repository dated like the
/// snapshot (cargo-deny reads the HEAD commit's date), plants the canary advisories when asked,
/// and writes `dir/deny.toml`: the repository's policy with `db-path = dir`. Returns its path.
fn prepare(root: &Path, db: &Path, dir: &Path, date: &str, canary: bool) -> Result<PathBuf> {
    let checkout = dir.join(DB_DIR_NAME);
    copy_dir(db, &checkout)?;
    if canary {
        let crate_dir = checkout.join("crates").join(CANARY_CRATE);
        std::fs::create_dir_all(&crate_dir)?;
        std::fs::write(
            crate_dir.join(format!("{CANARY_VULN}.md")),
            canary_advisory(CANARY_VULN, None),
        )?;
        std::fs::write(
            crate_dir.join(format!("{CANARY_UNSOUND}.md")),
            canary_advisory(CANARY_UNSOUND, Some("unsound")),
        )?;
    }
    let stamp = format!("{date}T00:00:00Z");
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=xtask",
            "-c",
            "user.email=xtask@localhost",
            "commit",
            "-qm",
            "snapshot",
            "--no-gpg-sign",
        ],
    ] {
        let status = Command::new("git")
            .current_dir(&checkout)
            .args(args)
            .env("GIT_AUTHOR_DATE", &stamp)
            .env("GIT_COMMITTER_DATE", &stamp)
            .status()
            .context("running git")?;
        if !status.success() {
            bail!("git {} failed in {}", args.join(" "), checkout.display());
        }
    }
    let policy = std::fs::read_to_string(root.join("deny.toml")).context("reading deny.toml")?;
    let config = offline_config(&policy, dir)?;
    let path = dir.join("deny.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// The policy text with `[advisories] db-path` set to `dir`.
pub(crate) fn offline_config(policy: &str, dir: &Path) -> Result<String> {
    let mut table: toml::Table = toml::from_str(policy).context("parsing deny.toml")?;
    let advisories = table
        .entry("advisories")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(advisories) = advisories.as_table_mut() else {
        bail!("deny.toml: [advisories] is not a table");
    };
    let Some(dir) = dir.to_str() else {
        bail!("temporary directory {} is not UTF-8", dir.display());
    };
    advisories.insert("db-path".to_owned(), toml::Value::String(dir.to_owned()));
    Ok(toml::to_string(&table)?)
}

fn canary_advisory(id: &str, informational: Option<&str>) -> String {
    let informational = informational
        .map(|kind| format!("informational = \"{kind}\"\n"))
        .unwrap_or_default();
    format!(
        "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{CANARY_CRATE}\"\ndate = \"2099-01-01\"\n\
         url = \"https://example.invalid/{id}\"\n{informational}\n[versions]\npatched = [\">= 9999.0.0\"]\n```\n\n\
         # Canary planted by cargo xtask deny\n\nNot a real advisory.\n"
    )
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            // A `.git` of the source (if it is a checkout) is not copied: we commit afresh.
            if entry.file_name() != ".git" {
                copy_dir(&entry.path(), &target)?;
            }
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// What `SNAPSHOT.md` says about the copy: the upstream commit and its date.
#[derive(Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) commit: String,
    pub(crate) date: String,
}

impl Snapshot {
    fn read(db: &Path) -> Result<Self> {
        let path = db.join("SNAPSHOT.md");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (the RustSec snapshot; pass --db DIR or set RUNPOD_ADVISORY_DB, \
                 or run `cargo xtask deny --live` with a network)",
                path.display()
            )
        })?;
        Self::parse(&text).with_context(|| format!("{} names no commit and date", path.display()))
    }

    /// Reads "at commit <40 hex>" and "committed YYYY-MM-DD" from the text.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let after = |word: &str| {
            words
                .windows(2)
                .find(|w| w[0] == word)
                .map(|w| w[1].trim_end_matches([',', '.', ';']))
        };
        let commit = after("commit")?;
        let date = after("committed")?;
        let is_date = date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        let is_commit = commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit());
        (is_date && is_commit).then(|| Self {
            commit: commit.to_owned(),
            date: date.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_md_gives_commit_and_date() {
        let text = "A copy of the RustSec advisory database at commit\n\
                    bf5c0d245a92671908518d7e765914d437954ed6, committed 2026-08-21. The project's";
        assert_eq!(
            Snapshot::parse(text),
            Some(Snapshot {
                commit: "bf5c0d245a92671908518d7e765914d437954ed6".to_owned(),
                date: "2026-08-21".to_owned(),
            })
        );
        assert_eq!(
            Snapshot::parse("at commit abc, committed 2026-08-21."),
            None
        );
        assert_eq!(
            Snapshot::parse("commit bf5c0d245a92671908518d7e765914d437954ed6 committed yesterday"),
            None
        );
    }

    #[test]
    fn offline_config_keeps_the_policy_and_sets_db_path() {
        let policy = std::fs::read_to_string(crate::workspace_root().join("deny.toml")).unwrap();
        let config = offline_config(&policy, Path::new("/tmp/x")).unwrap();
        let table: toml::Table = toml::from_str(&config).unwrap();
        let original: toml::Table = toml::from_str(&policy).unwrap();
        assert_eq!(table["advisories"]["db-path"].as_str(), Some("/tmp/x"));
        assert_eq!(table["advisories"]["unsound"].as_str(), Some("all"));
        for key in ["bans", "licenses", "sources", "graph"] {
            assert_eq!(table[key], original[key], "[{key}] changed");
        }
    }
}
