//! `schema/SOURCES.toml`: where each schema file came from and the sha256 it must have.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) const FILE: &str = "schema/SOURCES.toml";

const HEADER: &str = "\
# Where every file under schema/ comes from, and the sha256 it must have.
# `cargo xtask codegen` refuses an input whose sum differs from the one recorded here.
# Written by `cargo xtask schema import` / `cargo xtask schema pin`; do not edit by hand.

";

/// One schema file, keyed by its path under `schema/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// What the file was made from.
    pub(crate) origin: String,
    /// UTC date of the import (imported files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) imported: Option<String>,
    /// sha256 of the upstream document before normalisation (imported files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) upstream_sha256: Option<String>,
    /// sha256 of the file as committed.
    pub(crate) sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Sources {
    #[serde(default)]
    pub(crate) files: BTreeMap<String, Entry>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sources {
    pub(crate) fn load(root: &Path) -> Result<Self> {
        let path = root.join(FILE);
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {FILE}"))?;
        toml::from_str(&text).with_context(|| format!("parsing {FILE}"))
    }

    pub(crate) fn save(&self, root: &Path) -> Result<()> {
        let body = toml::to_string(self).context("serialising SOURCES.toml")?;
        std::fs::write(root.join(FILE), format!("{HEADER}{body}"))
            .with_context(|| format!("writing {FILE}"))
    }

    /// Reads `schema/<rel>` after checking its sum against the recorded one.
    pub(crate) fn read_verified(&self, root: &Path, rel: &str) -> Result<String> {
        let entry = self.files.get(rel).with_context(|| {
            format!(
                "schema/{rel} is not listed in {FILE}; import it with `cargo xtask schema import`"
            )
        })?;
        let path = root.join("schema").join(rel);
        let bytes = std::fs::read(&path).with_context(|| format!("reading schema/{rel}"))?;
        let actual = sha256_hex(&bytes);
        if actual != entry.sha256 {
            bail!(
                "schema/{rel} has sha256 {actual}, but {FILE} records {}.\n\
                 An imported file must not be edited: import it again with `cargo xtask schema import`.\n\
                 A file we maintain by hand (serverless/openapi.yaml) is re-pinned after review with \
                 `cargo xtask schema pin {rel}`.",
                entry.sha256
            );
        }
        String::from_utf8(bytes).with_context(|| format!("schema/{rel} is not UTF-8"))
    }
}

/// Today's UTC date as `YYYY-MM-DD`, for import records.
#[allow(
    clippy::disallowed_methods,
    reason = "an import record wants the wall-clock date"
)]
pub(crate) fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    civil_date(i64::try_from(secs / 86_400).unwrap_or(0))
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (Howard Hinnant's `civil_from_days`).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_687), "2026-08-22");
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
