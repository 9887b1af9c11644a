//! The `echo_worker` example binary: local test mode (`--test_input`, `test_input.json`) and
//! SIGTERM handling of a real process.
//!
//! The binary lives in another package (`runpod-examples`), so it is built once here with the
//! same cargo that runs these tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use super::platform::{Queue, queue_platform};

fn echo_worker() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "runpod-examples",
                "--example",
                "echo_worker",
                "--message-format=json",
            ])
            .current_dir(&root)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "building echo_worker failed");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "echo_worker")
            .and_then(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no echo_worker executable")
    })
}

/// Runs the binary with a clean worker environment (no `RUNPOD_*`).
fn run(args: &[&str], dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(echo_worker());
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("RUNPOD_") {
            cmd.env_remove(k);
        }
    }
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd.output().unwrap()
}

fn stdout_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn test_input_prints_the_result_and_exits_zero() {
    let out = run(
        &["--test_input", r#"{"input": {"echo": {"a": "ünï"}}}"#],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_lines(&out), [json!({"output": {"a": "ünï"}})]);
}

#[test]
fn a_failing_test_job_exits_non_zero() {
    let out = run(&["--test-input", r#"{"input": {"fail": "nope"}}"#], None);
    assert!(!out.status.success());
    let lines = stdout_lines(&out);
    let doc: Value = serde_json::from_str(lines[0]["error"].as_str().unwrap()).unwrap();
    assert_eq!(doc["error_message"], "nope");
    assert_eq!(
        doc["worker_id"].as_str().map(str::len),
        Some(36),
        "a generated worker id"
    );
    // A `Result<_, String>` handler: no Rust type path as the error type.
    assert_eq!(doc["error_type"], "HandlerError");
    // No RUNPOD_POD_HOSTNAME: the machine's own name, not "unknown".
    let hostname = doc["hostname"].as_str().unwrap();
    assert!(!hostname.is_empty() && hostname != "unknown", "{doc}");
    if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        assert_eq!(hostname, kernel.trim());
    }
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let out = run(&["--test_input", r#"{"input": {"echo": 1}}"#], None);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("local test mode"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI codes in piped logs: {stderr:?}"
    );
}

#[test]
fn a_streaming_test_job_prints_each_chunk_then_the_result() {
    let out = run(
        &[
            "--unknown-flag",
            "x",
            "--test_input",
            r#"{"input": {"stream": 2, "progress": 1}}"#,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout_lines(&out),
        [
            json!({"status": "IN_PROGRESS", "output": {"step": 0}}),
            json!({"output": {"i": 0}}),
            json!({"output": {"i": 1}}),
            json!({"output": [{"i": 0}, {"i": 1}]}),
        ]
    );
}

#[test]
fn a_panicking_test_job_is_reported_as_a_failure() {
    let out = run(&["--test_input", r#"{"input": {"panic": true}}"#], None);
    assert!(!out.status.success());
    let lines = stdout_lines(&out);
    let doc: Value = serde_json::from_str(lines[0]["error"].as_str().unwrap()).unwrap();
    assert_eq!(doc["error_type"], "Panic");
    assert_eq!(doc["error_message"], "the handler panicked: asked to panic");
}

#[test]
fn test_input_json_in_the_current_directory_is_used() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("test_input.json"),
        r#"{"id": "from-file", "input": {"echo": 5}}"#,
    )
    .unwrap();
    let out = run(&[], Some(dir.path()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_lines(&out), [json!({"output": 5})]);
}

#[test]
fn no_test_input_at_all_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[], Some(dir.path()));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("test_input.json"));
}

/// A real process on the (fake) platform: SIGTERM while a job runs → the job finishes, its
/// result is posted, the process exits 0.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_drains_the_running_job_then_exits_zero() {
    let bin = tokio::task::spawn_blocking(echo_worker).await.unwrap();
    let queue = Queue::new([
        json!({"id": "t1", "input": {"progress": 1, "sleep_ms": 700, "echo": "finished"}}),
    ]);
    let platform = queue_platform(&queue).await;
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("RUNPOD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .envs(platform.env_vars())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The progress post proves the job is running (not merely handed out).
    platform
        .wait_until("job running", |log| log.iter().any(|r| r.is("job-done")))
        .await;
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("echo_worker did not exit after SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    let finals = platform.finals();
    assert_eq!(finals.len(), 1);
    assert_eq!(finals[0].json(), json!({"output": "finished"}));
}
