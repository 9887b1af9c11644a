//! Collects the examples a `runpod` user reads and writes them out for `src/lib.rs` to compile:
//!
//! - every Rust code block in the doc comments of the crates the facade re-exports (their docs
//!   are rendered as `runpod::serverless`, `runpod::transport`, …), with the hidden
//!   `# use <crate>::__runpod as runpod;` line removed, so that each compiles against the real
//!   `runpod` crate, exactly as a user pastes it;
//! - the same for the Markdown guides shown through the facade;
//! - the README's client and worker examples (the blocks that start with `// README: client`
//!   and `// README: worker`), as the two binaries the run test starts.
//!
//! An example that still names an inner crate after the alias line is removed fails the build,
//! naming the file and line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Crates whose docs the facade renders, and the Markdown files included in them.
const SOURCES: [&str; 5] = [
    "crates/runpod-serverless/src",
    "crates/runpod-transport/src",
    "crates/runpod-admin/src",
    "crates/runpod-types/src",
    "crates/runpod/src",
];
const GUIDES: [&str; 2] = [
    "crates/runpod-admin/COMING_FROM_PYTHON.md",
    "crates/runpod-serverless/COMING_FROM_PYTHON.md",
];
/// Crate names a facade user does not have (re-exported as `runpod::…`).
const INNER: [&str; 4] = [
    "runpod_serverless",
    "runpod_transport",
    "runpod_admin",
    "runpod_types",
];

struct Example {
    origin: String,
    fence: String,
    code: Vec<String>,
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut examples = Vec::new();
    for dir in SOURCES {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        files.sort();
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let text = std::fs::read_to_string(&file).unwrap();
            let rel = file.strip_prefix(&root).unwrap().display().to_string();
            examples.extend(blocks(&rel, &text, true));
        }
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for guide in GUIDES {
        let path = root.join(guide);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        examples.extend(blocks(guide, &text, false));
    }

    let mut problems = Vec::new();
    let mut generated = String::new();
    for (i, ex) in examples.iter().enumerate() {
        for line in &ex.code {
            if INNER.iter().any(|c| line.contains(&format!("{c}::"))) {
                problems.push(format!("{}: `{}`", ex.origin, line.trim()));
            }
        }
        let mut doc = format!("```{}\n", ex.fence);
        for line in &ex.code {
            doc.push_str(line);
            doc.push('\n');
        }
        doc.push_str("```\n");
        writeln!(generated, "/// From `{}`.", ex.origin).unwrap();
        writeln!(generated, "#[doc = {doc:?}]").unwrap();
        writeln!(generated, "pub struct Example{i};").unwrap();
    }
    assert!(
        problems.is_empty(),
        "examples that name an inner crate (use `runpod::…` paths and the hidden \
         `# use <crate>::__runpod as runpod;` line):\n{}",
        problems.join("\n")
    );
    assert!(
        examples.len() > 50,
        "only {} examples found",
        examples.len()
    );
    std::fs::write(out.join("inner_examples.rs"), generated).unwrap();

    let readme_path = root.join("README.md");
    println!("cargo:rerun-if-changed={}", readme_path.display());
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    for name in ["client", "worker"] {
        let marker = format!("// README: {name}");
        let ex = blocks("README.md", &readme, false)
            .into_iter()
            .find(|ex| ex.code.first().is_some_and(|l| l.trim() == marker))
            .unwrap_or_else(|| panic!("README.md has no Rust block starting with `{marker}`"));
        let code: String = ex.code.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(out.join(format!("readme_{name}.rs")), code).unwrap();
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether a fence's info string marks Rust code that rustdoc would test.
fn is_rust(info: &str) -> bool {
    let first = info.split(',').next().unwrap_or("").trim();
    first.is_empty()
        || matches!(first, "rust" | "no_run" | "should_panic" | "ignore")
        || first.starts_with("compile_fail")
        || first.starts_with("edition")
}

/// The Rust code blocks of a file: of its doc comments (`doc_comments`), or of the Markdown.
fn blocks(origin: &str, text: &str, doc_comments: bool) -> Vec<Example> {
    let mut out = Vec::new();
    let mut open: Option<Example> = None;
    for (n, raw) in text.lines().enumerate() {
        let body = if doc_comments {
            let t = raw.trim_start();
            match t.strip_prefix("///").or_else(|| t.strip_prefix("//!")) {
                Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
                None => continue,
            }
        } else {
            raw
        };
        let trimmed = body.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            match open.take() {
                Some(ex) => {
                    if is_rust(&ex.fence) {
                        out.push(ex);
                    }
                }
                None => {
                    open = Some(Example {
                        origin: format!("{origin}:{}", n + 1),
                        fence: info.trim().to_owned(),
                        code: Vec::new(),
                    });
                }
            }
            continue;
        }
        if let Some(ex) = open.as_mut() {
            let hidden_alias =
                trimmed.starts_with("# use ") && trimmed.contains("::__runpod as runpod;");
            if !hidden_alias {
                ex.code.push(body.to_owned());
            }
        }
    }
    out
}
