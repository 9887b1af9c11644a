//! Tests that run the real commands on the real workspace (and on broken copies of it).

use std::path::{Path, PathBuf};

use crate::{codegen, tidy, workspace_root};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scratch root holding a copy of `schema/` and freshly generated files.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    copy_dir(&workspace_root().join("schema"), &root.join("schema"));
    codegen::run(&root, false).unwrap();
    (dir, root)
}

fn err_text(r: anyhow::Result<()>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn codegen_is_fresh() {
    if let Err(e) = codegen::run(&workspace_root(), true) {
        panic!("{e:#}");
    }
}

#[test]
fn codegen_is_deterministic() {
    let root = workspace_root();
    let a = codegen::outputs(&root).unwrap();
    let b = codegen::outputs(&root).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.path, y.path);
        assert!(
            x.contents == y.contents,
            "{} differs between two runs",
            x.path.display()
        );
    }
}

#[test]
fn generated_files_name_their_source_not_this_machine() {
    let root = workspace_root();
    let here = root.to_string_lossy().into_owned();
    for o in codegen::outputs(&root).unwrap() {
        assert!(
            !o.contents.contains(&here),
            "{} embeds {here}",
            o.path.display()
        );
        if o.path.extension().is_some_and(|e| e == "rs") {
            assert!(
                o.contents.starts_with(codegen::PREAMBLE),
                "{}",
                o.path.display()
            );
        }
    }
}

#[test]
fn check_names_the_stale_file() {
    let (_dir, root) = scratch();
    codegen::run(&root, true).unwrap();
    let file = root.join(codegen::GENERATED_DIR).join("serverless.rs");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("// hand edit\n");
    std::fs::write(&file, text).unwrap();
    let msg = err_text(codegen::run(&root, true));
    assert!(
        msg.contains("crates/runpod-types/src/generated/serverless.rs"),
        "{msg}"
    );
    assert!(
        msg.contains("run `cargo xtask codegen` and commit"),
        "{msg}"
    );
    // Writing mode repairs it.
    codegen::run(&root, false).unwrap();
    codegen::run(&root, true).unwrap();
}

#[test]
fn check_reports_a_stray_generated_file() {
    let (_dir, root) = scratch();
    let stray = root.join(codegen::GENERATED_DIR).join("old_api.rs");
    std::fs::write(&stray, "// left over\n").unwrap();
    let msg = err_text(codegen::run(&root, true));
    assert!(msg.contains("old_api.rs (no schema produces it)"), "{msg}");
    codegen::run(&root, false).unwrap();
    assert!(!stray.exists());
}

#[test]
fn check_reports_strays_in_every_output_directory() {
    let (_dir, root) = scratch();
    let admin = root.join("crates/runpod-admin/src/generated");
    let fixtures = root.join("crates/runpod-admin/tests/fixtures/rest_v2");
    let graphql = root.join(codegen::GENERATED_DIR).join("graphql");
    for dir in [&admin, &fixtures, &graphql] {
        assert!(dir.is_dir(), "{} is not an output directory", dir.display());
    }
    std::fs::write(admin.join("removed_op.rs"), "// left over\n").unwrap();
    std::fs::write(fixtures.join("removedOp.json"), "{}\n").unwrap();
    std::fs::write(graphql.join("old_query.rs"), "// left over\n").unwrap();
    // The hand-written module file of a generated directory is not a stray.
    std::fs::write(admin.join("mod.rs"), "// allowances\n").unwrap();
    let msg = err_text(codegen::run(&root, true));
    for stray in [
        "crates/runpod-admin/src/generated/removed_op.rs (no schema produces it)",
        "crates/runpod-admin/tests/fixtures/rest_v2/removedOp.json (no schema produces it)",
        "crates/runpod-types/src/generated/graphql/old_query.rs (no schema produces it)",
    ] {
        assert!(msg.contains(stray), "{stray} missing from:\n{msg}");
    }
    assert!(!msg.contains("generated/mod.rs"), "{msg}");
    codegen::run(&root, false).unwrap();
    codegen::run(&root, true).unwrap();
    assert!(!admin.join("removed_op.rs").exists() && admin.join("mod.rs").exists());
}

#[test]
fn an_edited_input_fails_its_checksum() {
    let (_dir, root) = scratch();
    let rest = root.join("schema/rest/openapi.json");
    let text = std::fs::read_to_string(&rest)
        .unwrap()
        .replacen("\"3.1.0\"", "\"3.1.1\"", 1);
    std::fs::write(&rest, text).unwrap();
    let msg = err_text(codegen::run(&root, true));
    assert!(msg.contains("schema/rest/openapi.json has sha256"), "{msg}");
    assert!(msg.contains("cargo xtask schema import"), "{msg}");
}

#[test]
fn pin_records_a_hand_edit_of_the_serverless_schema() {
    let (_dir, root) = scratch();
    let yaml = root.join("schema/serverless/openapi.yaml");
    let mut text = std::fs::read_to_string(&yaml).unwrap();
    text.push_str("# reviewed edit\n");
    std::fs::write(&yaml, text).unwrap();
    assert!(err_text(codegen::run(&root, true)).contains("cargo xtask schema pin"));
    crate::schema::pin(&root, "serverless/openapi.yaml").unwrap();
    // The sum in the generated file's header changes, so it must be regenerated, not just pass.
    assert!(err_text(codegen::run(&root, true)).contains("serverless.rs"));
    codegen::run(&root, false).unwrap();
    codegen::run(&root, true).unwrap();
}

#[test]
fn pin_refuses_an_imported_file() {
    let (_dir, root) = scratch();
    let msg = err_text(crate::schema::pin(&root, "rest/openapi.json"));
    assert!(msg.contains("import it again"), "{msg}");
}

#[test]
fn rest_import_is_stable() {
    // Importing the stored file again changes nothing: normalisation is idempotent.
    let stored = std::fs::read(workspace_root().join("schema/rest/openapi.json")).unwrap();
    let again = crate::schema::normalise_rest(&stored).unwrap();
    assert!(
        again.as_bytes() == stored.as_slice(),
        "schema/rest/openapi.json is not normalised"
    );
}

#[test]
fn graphql_subset_matches_its_operations() {
    // Cutting the stored subset down again for today's operations must change nothing: it fails
    // when an operation selects something the subset lacks, or the subset keeps what none uses.
    let root = workspace_root();
    let stored = std::fs::read_to_string(root.join("schema/graphql/schema.graphql")).unwrap();
    let again = crate::graphql_subset::subset(&root, &stored).expect(
        "an operation needs more of the SDL: run `cargo xtask schema import <sdl> --kind graphql`",
    );
    assert!(
        again == stored,
        "schema/graphql/schema.graphql keeps more than the operations use: import the SDL again"
    );
}

fn tidy_check(name: &str) {
    let results = tidy::all(&workspace_root()).unwrap();
    let (_, problems) = results.iter().find(|(n, _)| *n == name).unwrap();
    assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
}

#[test]
fn tidy_workspace_lints() {
    tidy_check("workspace lints");
}

#[test]
fn tidy_workspace_dependencies() {
    tidy_check("workspace dependencies");
}

#[test]
fn tidy_crate_layering() {
    tidy_check("crate layering");
}

#[test]
fn layering_governs_published_crates_only() {
    let member = |manifest: &str| tidy::Member {
        name: "x".to_owned(),
        manifest_path: PathBuf::new(),
        manifest: toml::from_str(manifest).unwrap(),
    };
    assert!(!member("[package]\npublish = false\n").is_published());
    assert!(member("[package]\npublish.workspace = true\n").is_published());
    assert!(member("[package]\nname = \"x\"\n").is_published());
}

#[test]
fn tidy_msrv() {
    tidy_check("msrv");
}

#[test]
fn tidy_generated_file_preambles() {
    tidy_check("generated-file preambles");
}

#[test]
fn tidy_no_ignored_doctests() {
    tidy_check("ignored doctests");
}

mod tidy_rules {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use crate::tidy::*;

    fn member(name: &str, manifest: &str) -> Member {
        Member {
            name: name.to_owned(),
            manifest_path: PathBuf::from(format!("crates/{name}/Cargo.toml")),
            manifest: toml::from_str(manifest).unwrap(),
        }
    }

    fn edge(from: &str, to: &str, kind: &str) -> Edge {
        Edge {
            from: from.to_owned(),
            to: to.to_owned(),
            kind: kind.to_owned(),
        }
    }

    const MEMBERS: &[&str] = &[
        "runpod",
        "runpod-types",
        "runpod-transport",
        "runpod-serverless",
        "runpod-admin",
        "runpod-local",
    ];

    #[test]
    fn lints_must_be_inherited() {
        let ok = member("a", "[lints]\nworkspace = true\n");
        let bad = member("b", "[package]\nname = \"b\"\n");
        let problems = check_lints(&[ok, bad]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("crates/b/Cargo.toml"));
    }

    #[test]
    fn workspace_deps_must_be_inherited() {
        let ws: BTreeSet<String> = ["serde".to_owned(), "tokio".to_owned()].into();
        let m = member(
            "a",
            "[dependencies]\nserde = \"1\"\nanyhow = \"1\"\ntokio.workspace = true\n\
             [target.'cfg(unix)'.dev-dependencies]\ntokio = { version = \"1\" }\n",
        );
        let problems = check_workspace_deps(&[m], &ws);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("[dependencies] serde"));
        assert!(problems[1].contains("target.cfg(unix).dev-dependencies"));
    }

    #[test]
    fn layering_accepts_the_intended_graph() {
        let edges = [
            edge("runpod-transport", "runpod-types", "normal"),
            edge("runpod-transport", "reqwest", "normal"),
            edge("runpod-serverless", "runpod-transport", "normal"),
            edge("runpod-serverless", "runpod-local", "normal"),
            edge("runpod-admin", "runpod-transport", "normal"),
            edge("runpod-local", "runpod-types", "normal"),
            edge("runpod-local", "reqwest", "dev"),
            edge("runpod", "runpod-admin", "normal"),
            edge("runpod-types", "serde", "normal"),
            edge("runpod-types", "insta", "dev"),
            edge("insta", "tokio", "normal"),
        ];
        assert_eq!(check_layering(MEMBERS, &edges), Vec::<String>::new());
    }

    #[test]
    fn layering_rejects_each_violation() {
        let cases = [
            (
                edge("runpod-types", "runpod-transport", "normal"),
                "runpod-types depends on runpod-transport",
            ),
            (
                edge("runpod-local", "runpod-transport", "normal"),
                "runpod-local depends on runpod-transport",
            ),
            (
                edge("runpod-admin", "runpod-serverless", "dev"),
                "runpod-admin depends on runpod-serverless",
            ),
            (
                edge("runpod-serverless", "runpod-admin", "normal"),
                "runpod-serverless depends on runpod-admin",
            ),
            (
                edge("runpod-admin", "reqwest", "normal"),
                "runpod-admin depends on reqwest",
            ),
            (
                edge("runpod", "reqwest", "build"),
                "runpod depends on reqwest",
            ),
        ];
        for (bad, expected) in cases {
            let problems = check_layering(MEMBERS, &[bad]);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }

    #[test]
    fn layering_follows_runpod_types_tree_transitively() {
        let edges = [
            edge("runpod-types", "graphql_client", "normal"),
            edge("graphql_client", "reqwest", "normal"),
            edge("reqwest", "hyper", "normal"),
        ];
        let problems = check_layering(MEMBERS, &edges);
        assert!(
            problems.iter().any(|p| p.contains(
                "runpod-types pulls in hyper: runpod-types → graphql_client → reqwest → hyper"
            )),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("pulls in reqwest")),
            "{problems:?}"
        );
    }

    #[test]
    fn preamble_belongs_exactly_to_generated_files() {
        let pre = crate::codegen::PREAMBLE;
        let files = vec![
            (
                PathBuf::from("crates/runpod-types/src/generated/rest.rs"),
                format!("{pre}\n"),
            ),
            (
                PathBuf::from("crates/runpod-types/src/generated/mod.rs"),
                "//! allowances\n".to_owned(),
            ),
            (
                PathBuf::from("crates/runpod-types/src/generated/graphql/mod.rs"),
                format!("{pre}\n"),
            ),
            (
                PathBuf::from("crates/runpod-admin/src/generated/table.rs"),
                "// hand written\n".to_owned(),
            ),
            (
                PathBuf::from("crates/runpod-types/src/lib.rs"),
                format!("{pre}\n"),
            ),
        ];
        let problems = check_preambles(&files);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("crates/runpod-admin/src/generated/table.rs"));
        assert!(problems[1].starts_with("crates/runpod-types/src/lib.rs"));
    }

    #[test]
    fn ignored_doctests_are_found() {
        let files = vec![
            (
                PathBuf::from("README.md"),
                "```rust\nok\n```\n```rust,ignore\nbad\n```\n".to_owned(),
            ),
            (
                PathBuf::from("crates/a/src/lib.rs"),
                "//! ```ignore\n//! ```\n//! ```no_run\n".to_owned(),
            ),
        ];
        let problems = check_ignored_doctests(&files);
        assert_eq!(
            problems,
            vec![
                "README.md:4: ```ignore doctest; make it compile (or use no_run / text)".to_owned(),
                "crates/a/src/lib.rs:1: ```ignore doctest; make it compile (or use no_run / text)"
                    .to_owned(),
            ]
        );
    }

    #[test]
    fn msrv_rule() {
        let pkg = |name: &str, rv: Option<&str>| {
            (name.to_owned(), "1.0.0".to_owned(), rv.map(str::to_owned))
        };
        let ok = [
            pkg("a", Some("1.70")),
            pkg("b", None),
            pkg("c", Some("1.95.0")),
            pkg("d", Some("1.95")),
        ];
        assert_eq!(check_msrv(Some("1.95"), &ok), Vec::<String>::new());
        let newer = [
            pkg("a", Some("1.70")),
            pkg("fancy", Some("1.96")),
            pkg("patch", Some("1.95.1")),
        ];
        assert_eq!(
            check_msrv(Some("1.95"), &newer),
            [
                "fancy 1.0.0 needs Rust 1.96 but the workspace declares 1.95",
                "patch 1.0.0 needs Rust 1.95.1 but the workspace declares 1.95",
            ]
        );
        assert_eq!(check_msrv(None, &ok).len(), 1);
        assert_eq!(check_msrv(Some("one.nine"), &ok).len(), 1);
    }
}
