//! `cargo xtask tidy`: workspace conventions that rustc and clippy cannot see.
//!
//! Each check is a function from plain data to a list of problems, so tests can feed it a
//! workspace that breaks the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::codegen::PREAMBLE;

/// Internal dependencies (normal and build) each crate may have. A crate not listed may depend on
/// any workspace crate.
pub(crate) const LAYERS: &[(&str, &[&str])] = &[
    ("runpod-types", &[]),
    ("runpod-transport", &["runpod-types"]),
    (
        "runpod-serverless",
        &["runpod-transport", "runpod-types", "runpod-local"],
    ),
    ("runpod-admin", &["runpod-transport", "runpod-types"]),
    ("runpod-local", &["runpod-types"]),
];

/// Pairs that must not depend on each other in any way, dev-dependencies included.
pub(crate) const NEVER: &[(&str, &str)] = &[
    ("runpod-admin", "runpod-serverless"),
    ("runpod-serverless", "runpod-admin"),
];

/// Crates that must stay out of runpod-types' normal dependency tree (it does no I/O).
pub(crate) const NO_IO: &[&str] = &["tokio", "reqwest", "hyper", "tracing"];

/// The only crate that may depend on reqwest outside dev-dependencies.
pub(crate) const REQWEST_OWNER: &str = "runpod-transport";

/// A workspace member's manifest.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) manifest_path: PathBuf,
    pub(crate) manifest: toml::Table,
}

impl Member {
    /// False when the manifest says `publish = false`.
    pub(crate) fn is_published(&self) -> bool {
        self.manifest
            .get("package")
            .and_then(|p| p.get("publish"))
            .and_then(toml::Value::as_bool)
            .unwrap_or(true)
    }
}

/// One edge of the resolved graph.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
    /// `normal`, `dev` or `build`.
    pub(crate) kind: String,
}

/// What `cargo metadata` says about the workspace.
#[derive(Debug)]
pub(crate) struct Workspace {
    pub(crate) members: Vec<Member>,
    /// Edges by package name (`from`, `to` are names).
    pub(crate) edges: Vec<Edge>,
    pub(crate) workspace_deps: BTreeSet<String>,
    /// `[workspace.package] rust-version`.
    pub(crate) msrv: Option<String>,
    /// Every resolved package: name, version, and its own `rust-version` if it declares one.
    pub(crate) packages: Vec<(String, String, Option<String>)>,
}

impl Workspace {
    pub(crate) fn load(root: &Path) -> Result<Self> {
        let out = std::process::Command::new(
            std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()),
        )
        .args(["metadata", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
        if !out.status.success() {
            bail!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let meta: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
        let mut names = BTreeMap::new();
        let mut manifests = BTreeMap::new();
        let mut packages = Vec::new();
        for p in meta["packages"]
            .as_array()
            .context("metadata has no packages")?
        {
            packages.push((
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["version"].as_str().unwrap_or_default().to_owned(),
                p["rust_version"].as_str().map(str::to_owned),
            ));
            let id = p["id"].as_str().unwrap_or_default().to_owned();
            names.insert(
                id.clone(),
                p["name"].as_str().unwrap_or_default().to_owned(),
            );
            manifests.insert(
                id,
                PathBuf::from(p["manifest_path"].as_str().unwrap_or_default()),
            );
        }
        let mut members = Vec::new();
        for id in meta["workspace_members"]
            .as_array()
            .context("no workspace_members")?
        {
            let id = id.as_str().unwrap_or_default();
            let manifest_path = manifests
                .get(id)
                .cloned()
                .context("member without manifest")?;
            let text = std::fs::read_to_string(&manifest_path)?;
            members.push(Member {
                name: names.get(id).cloned().unwrap_or_default(),
                manifest_path,
                manifest: toml::from_str(&text)?,
            });
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let mut edges = Vec::new();
        for node in meta["resolve"]["nodes"]
            .as_array()
            .context("metadata has no resolve graph")?
        {
            let from = names
                .get(node["id"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            for dep in node["deps"].as_array().into_iter().flatten() {
                let to = names
                    .get(dep["pkg"].as_str().unwrap_or_default())
                    .cloned()
                    .unwrap_or_default();
                for k in dep["dep_kinds"].as_array().into_iter().flatten() {
                    let kind = k["kind"].as_str().unwrap_or("normal").to_owned();
                    edges.push(Edge {
                        from: from.clone(),
                        to: to.clone(),
                        kind,
                    });
                }
            }
        }
        let root_manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml"))?)?;
        let workspace_deps = root_manifest
            .get("workspace")
            .and_then(|w| w.get("dependencies"))
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        let msrv = root_manifest
            .get("workspace")
            .and_then(|w| w.get("package"))
            .and_then(|p| p.get("rust-version"))
            .and_then(toml::Value::as_str)
            .map(str::to_owned);
        Ok(Self {
            members,
            edges,
            workspace_deps,
            msrv,
            packages,
        })
    }
}

/// `1.95` or `1.95.0` as comparable numbers.
fn rust_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.trim().split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// The MSRV is declared, and no resolved package (ours or a dependency) needs a newer Rust than
/// it: a dependency update that raises the bar fails here even when CI's own toolchain is newer
/// than the MSRV and would build it anyway.
pub(crate) fn check_msrv(
    msrv: Option<&str>,
    packages: &[(String, String, Option<String>)],
) -> Vec<String> {
    let Some(declared) = msrv else {
        return vec!["[workspace.package] declares no rust-version".to_owned()];
    };
    let Some(ours) = rust_version(declared) else {
        return vec![format!("rust-version `{declared}` is not a version")];
    };
    let mut problems: Vec<String> = packages
        .iter()
        .filter_map(|(name, version, theirs)| {
            let needed = rust_version(theirs.as_deref()?)?;
            (needed > ours).then(|| {
                format!(
                    "{name} {version} needs Rust {} but the workspace declares {declared}",
                    theirs.as_deref().unwrap_or_default()
                )
            })
        })
        .collect();
    problems.sort();
    problems.dedup();
    problems
}

/// Every member opts into the workspace lints.
pub(crate) fn check_lints(members: &[Member]) -> Vec<String> {
    members
        .iter()
        .filter(|m| {
            m.manifest
                .get("lints")
                .and_then(|l| l.get("workspace"))
                .and_then(toml::Value::as_bool)
                != Some(true)
        })
        .map(|m| {
            format!(
                "{}: add `[lints]\\nworkspace = true`",
                m.manifest_path.display()
            )
        })
        .collect()
}

/// Dependency tables of a manifest, including `[target.*.…]` ones.
fn dep_tables(manifest: &toml::Table) -> Vec<(String, &toml::Table)> {
    let mut out = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    for kind in kinds {
        if let Some(t) = manifest.get(kind).and_then(toml::Value::as_table) {
            out.push((kind.to_owned(), t));
        }
    }
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for (cfg, t) in targets {
            for kind in kinds {
                if let Some(d) = t.get(kind).and_then(toml::Value::as_table) {
                    out.push((format!("target.{cfg}.{kind}"), d));
                }
            }
        }
    }
    out
}

/// A dependency listed in `[workspace.dependencies]` is always taken from there.
pub(crate) fn check_workspace_deps(
    members: &[Member],
    workspace_deps: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for m in members {
        for (table, deps) in dep_tables(&m.manifest) {
            for (name, spec) in deps {
                let key = spec
                    .get("package")
                    .and_then(toml::Value::as_str)
                    .map_or(name.as_str(), |p| p);
                if !workspace_deps.contains(key) && !workspace_deps.contains(name) {
                    continue;
                }
                if spec.get("workspace").and_then(toml::Value::as_bool) != Some(true) {
                    problems.push(format!(
                        "{}: [{table}] {name} is in [workspace.dependencies]; write `{name}.workspace = true`",
                        m.manifest_path.display()
                    ));
                }
            }
        }
    }
    problems
}

/// Workspace crates each member depends on, by edge kinds.
fn internal_deps<'e>(
    edges: &'e [Edge],
    members: &'e BTreeSet<&str>,
    from: &'e str,
    kinds: &'e [&str],
) -> impl Iterator<Item = &'e Edge> + 'e {
    edges.iter().filter(move |e| {
        e.from == from && members.contains(e.to.as_str()) && kinds.contains(&e.kind.as_str())
    })
}

/// Crate layering: see [`LAYERS`], [`NEVER`], [`NO_IO`] and [`REQWEST_OWNER`].
pub(crate) fn check_layering(member_names: &[&str], edges: &[Edge]) -> Vec<String> {
    let members: BTreeSet<&str> = member_names.iter().copied().collect();
    let mut problems = Vec::new();
    for (krate, allowed) in LAYERS {
        for e in internal_deps(edges, &members, krate, &["normal", "build"]) {
            if !allowed.contains(&e.to.as_str()) {
                problems.push(format!(
                    "{krate} depends on {} ({}); it may depend only on {allowed:?}",
                    e.to, e.kind
                ));
            }
        }
    }
    for (a, b) in NEVER {
        if edges.iter().any(|e| e.from == *a && e.to == *b) {
            problems.push(format!("{a} depends on {b}; the two must stay independent"));
        }
    }
    // runpod-types' normal dependency tree, transitively.
    let mut seen = BTreeSet::from(["runpod-types".to_owned()]);
    let mut stack = vec!["runpod-types".to_owned()];
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    while let Some(at) = stack.pop() {
        for e in edges.iter().filter(|e| e.from == at && e.kind == "normal") {
            if seen.insert(e.to.clone()) {
                parent.insert(e.to.clone(), at.clone());
                stack.push(e.to.clone());
            }
        }
    }
    for banned in NO_IO {
        if seen.contains(*banned) {
            let mut chain = vec![(*banned).to_owned()];
            while let Some(p) = parent.get(chain.last().map(String::as_str).unwrap_or_default()) {
                chain.push(p.clone());
            }
            chain.reverse();
            problems.push(format!(
                "runpod-types pulls in {banned}: {}",
                chain.join(" → ")
            ));
        }
    }
    for e in edges {
        if e.to == "reqwest"
            && e.kind != "dev"
            && members.contains(e.from.as_str())
            && e.from != REQWEST_OWNER
        {
            problems.push(format!(
                "{} depends on reqwest ({}); only {REQWEST_OWNER} may (dev-dependencies aside)",
                e.from, e.kind
            ));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Source files to inspect, relative to `root`, sorted.
pub(crate) fn files(root: &Path, dirs: &[&str], exts: &[&str]) -> Result<Vec<PathBuf>> {
    let mut all = Vec::new();
    for d in dirs {
        walk(&root.join(d), &mut all)?;
    }
    let mut out: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
        })
        .map(|p| p.strip_prefix(root).map(Path::to_path_buf).unwrap_or(p))
        .collect();
    out.sort();
    Ok(out)
}

/// Whether `path` (relative to the root) is a generated file: anything under
/// `crates/<crate>/src/generated/` except that directory's own `mod.rs`, which holds the
/// hand-written lint allowances (codegen's stray check spares the same files).
pub(crate) fn is_generated(path: &Path) -> bool {
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        ["crates", _, "src", "generated", rest @ ..] => !rest.is_empty() && rest != ["mod.rs"],
        _ => false,
    }
}

/// Generated files carry the preamble; hand-written ones never do.
pub(crate) fn check_preambles(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, text) in files {
        let generated_dir = is_generated(path);
        let has = text.starts_with(PREAMBLE);
        if generated_dir && !has {
            problems.push(format!(
                "{}: every file under a crate's src/generated/ (but its mod.rs) comes from `cargo xtask codegen` and starts with its preamble",
                path.display()
            ));
        }
        if !generated_dir && has {
            problems.push(format!(
                "{}: carries the generated-file preamble outside a crate's src/generated/",
                path.display()
            ));
        }
    }
    problems
}

/// Doctests are compiled: ```` ```ignore ```` hides broken examples.
pub(crate) fn check_ignored_doctests(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, text) in files {
        for (i, line) in text.lines().enumerate() {
            let Some(pos) = line.find("```") else {
                continue;
            };
            let info = &line[pos + 3..];
            if info.split([',', ' ']).any(|tag| tag.trim() == "ignore") {
                problems.push(format!(
                    "{}:{}: ```ignore doctest; make it compile (or use no_run / text)",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    problems
}

fn read_all(root: &Path, paths: Vec<PathBuf>) -> Result<Vec<(PathBuf, String)>> {
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(root.join(&p))
                .with_context(|| format!("reading {}", p.display()))?;
            Ok((p, text))
        })
        .collect()
}

/// Every check, as `(check name, problems)`.
pub(crate) fn all(root: &Path) -> Result<Vec<(&'static str, Vec<String>)>> {
    let ws = Workspace::load(root)?;
    // Layering governs what we ship: xtask, benchmarks, soak and test crates are never
    // published (as deny.toml's `exclude-unpublished`), and a raw-reqwest baseline belongs there.
    let names: Vec<&str> = ws
        .members
        .iter()
        .filter(|m| m.is_published())
        .map(|m| m.name.as_str())
        .collect();
    let rust = read_all(
        root,
        files(root, &["crates", "xtask", "tests", "examples"], &["rs"])?,
    )?;
    let mut docs = read_all(root, files(root, &["crates"], &["rs", "md"])?)?;
    if root.join("README.md").exists() {
        docs.extend(read_all(root, vec![PathBuf::from("README.md")])?);
    }
    Ok(vec![
        ("workspace lints", check_lints(&ws.members)),
        (
            "workspace dependencies",
            check_workspace_deps(&ws.members, &ws.workspace_deps),
        ),
        ("crate layering", check_layering(&names, &ws.edges)),
        ("msrv", check_msrv(ws.msrv.as_deref(), &ws.packages)),
        ("generated-file preambles", check_preambles(&rust)),
        ("ignored doctests", check_ignored_doctests(&docs)),
    ])
}

/// `cargo xtask tidy`.
pub(crate) fn run(root: &Path) -> Result<()> {
    let results = all(root)?;
    let mut failed = Vec::new();
    for (name, problems) in &results {
        for p in problems {
            failed.push(format!("[{name}] {p}"));
        }
    }
    if !failed.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            failed.len(),
            failed.join("\n  ")
        );
    }
    Ok(())
}
