//! `cargo xtask schema …`: bring upstream specs into `schema/` and record their sums.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::sources::{Entry, Sources, sha256_hex};

/// Records the current sha256 of a hand-maintained file under `schema/` (after review).
pub(crate) fn pin(root: &Path, rel: &str) -> Result<()> {
    let rel = rel.trim_start_matches("schema/");
    let bytes = std::fs::read(root.join("schema").join(rel))
        .with_context(|| format!("reading schema/{rel}"))?;
    let mut sources = Sources::load(root)?;
    let sha256 = sha256_hex(&bytes);
    match sources.files.get_mut(rel) {
        Some(entry) if entry.imported.is_some() => bail!(
            "schema/{rel} is imported; import it again with `cargo xtask schema import` instead of pinning"
        ),
        Some(entry) => entry.sha256 = sha256,
        None => {
            sources.files.insert(
                rel.to_owned(),
                Entry {
                    origin: "maintained by hand in this repository".to_owned(),
                    imported: None,
                    upstream_sha256: None,
                    sha256,
                },
            );
        }
    }
    sources.save(root)
}

/// Which kind of spec `schema import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rest,
    Graphql,
}

impl Kind {
    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "rest" => Ok(Self::Rest),
            "graphql" => Ok(Self::Graphql),
            other => bail!("unknown --kind {other} (expected rest or graphql)"),
        }
    }

    /// Where the normalised file goes, under `schema/`.
    pub(crate) fn target(self) -> &'static str {
        match self {
            Self::Rest => "rest/openapi.json",
            Self::Graphql => "graphql/schema.graphql",
        }
    }
}

/// Reads a local file, or fetches a URL with `curl` (the only network access in xtask, and only
/// on an explicit import).
fn fetch(source: &str) -> Result<Vec<u8>> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let out = std::process::Command::new("curl")
            .args(["--fail", "--silent", "--show-error", "--location", source])
            .output()
            .context("running curl")?;
        if !out.status.success() {
            bail!(
                "curl {source} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        return Ok(out.stdout);
    }
    std::fs::read(source).with_context(|| format!("reading {source}"))
}

/// The REST spec as stored: the whole document (paths, components, examples: tests use them),
/// with keys sorted and 2-space indentation, so that a re-import diffs only in substance.
pub(crate) fn normalise_rest(bytes: &[u8]) -> Result<String> {
    let spec: serde_json::Value =
        serde_json::from_slice(bytes).context("the REST spec is not JSON")?;
    let version = spec
        .get("openapi")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    if !version.starts_with("3.") {
        bail!("expected an OpenAPI 3 document, found openapi = {version:?}");
    }
    for key in ["paths", "components"] {
        if spec.get(key).is_none() {
            bail!("the REST spec has no `{key}`");
        }
    }
    // serde_json's map is a BTreeMap here (no preserve_order), so keys come out sorted.
    let mut text = serde_json::to_string_pretty(&spec)?;
    text.push('\n');
    Ok(text)
}

/// `cargo xtask schema import <source> [--kind rest|graphql] [--origin TEXT]`.
pub(crate) fn import(root: &Path, source: &str, kind: Kind, origin: Option<&str>) -> Result<()> {
    let bytes = fetch(source)?;
    let text = match kind {
        Kind::Rest => normalise_rest(&bytes)?,
        Kind::Graphql => {
            let sdl = String::from_utf8(bytes.clone()).context("the SDL is not UTF-8")?;
            crate::graphql_subset::subset(root, &sdl)?
        }
    };
    let rel = kind.target();
    let path = root.join("schema").join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, &text).with_context(|| format!("writing schema/{rel}"))?;
    let mut sources = Sources::load(root)?;
    sources.files.insert(
        rel.to_owned(),
        Entry {
            origin: origin.unwrap_or(source).to_owned(),
            imported: Some(crate::sources::today()),
            upstream_sha256: Some(sha256_hex(&bytes)),
            sha256: sha256_hex(text.as_bytes()),
        },
    );
    sources.save(root)
}
