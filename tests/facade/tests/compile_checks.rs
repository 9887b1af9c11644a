//! The compile errors a user meets: a client built without a TLS backend, and a streaming
//! handler passed without `worker::streaming`. Each builds a one-file crate that depends on
//! `runpod` with `cargo check --offline` (the workspace's lock file and target directory, so
//! dependencies are shared) and reads the compiler's message.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `cargo check` of a crate with `runpod = { path, <runpod_spec> }` and `main_rs`; its stderr
/// and whether it compiled.
fn check(name: &str, runpod_spec: &str, main_rs: &str) -> (bool, String) {
    let root = workspace();
    let dir = tempfile::tempdir().unwrap();
    let runpod = root.join("crates/runpod");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nrunpod = {{ path = {:?}, {runpod_spec} }}\nfutures-util = \"0.3\"\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n",
        runpod.display().to_string()
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), main_rs).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["check", "--offline", "--quiet", "--target-dir"])
        .arg(root.join("target/compile-checks"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_client_without_tls_does_not_compile_and_says_which_feature_to_add() {
    let (ok, stderr) = check(
        "no-tls",
        r#"default-features = false, features = ["serverless"]"#,
        "fn main() { let _ = runpod::ServerlessClient::from_env(); }\n",
    );
    assert!(!ok, "a build without TLS compiled:\n{stderr}");
    assert!(
        stderr.contains("no TLS backend")
            && stderr.contains("rustls-tls")
            && stderr.contains("native-tls"),
        "{stderr}"
    );

    // The same with a backend compiles: the check above fails for TLS alone.
    let (ok, stderr) = check(
        "with-tls",
        r#"default-features = false, features = ["serverless", "rustls-tls"]"#,
        "fn main() { let _ = runpod::ServerlessClient::from_env(); }\n",
    );
    assert!(ok, "{stderr}");
}

#[test]
fn a_stream_handler_without_streaming_gets_a_plain_message() {
    let handler = r#"
use futures_util::stream::{self, Stream};
use runpod::worker::{self, Job};

fn count(job: Job<u32>) -> impl Stream<Item = Result<u32, String>> {
    stream::iter((0..*job.input()).map(Ok))
}

fn main() -> std::process::ExitCode {
    worker::start(HANDLER)
}
"#;
    let spec = r#"default-features = false, features = ["worker", "rustls-tls"]"#;
    let (ok, stderr) = check("stream-handler", spec, &handler.replace("HANDLER", "count"));
    assert!(!ok, "an unwrapped stream handler compiled");
    assert!(stderr.contains("is not a worker handler"), "{stderr}");
    assert!(
        stderr.contains("a handler returning a Stream must be wrapped in `worker::streaming`"),
        "{stderr}"
    );
    let (ok, stderr) = check(
        "stream-handler",
        spec,
        &handler.replace("HANDLER", "worker::streaming(count)"),
    );
    assert!(ok, "{stderr}");
}
