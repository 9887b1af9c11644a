//! `runpod batch …` against runpod-local with a Rust worker.

use serde_json::{Value, json};

use crate::support::{Cli, EP, Platform};

fn cli(platform: &Platform) -> Cli {
    Cli::with_key().env("RUNPOD_ENDPOINT_BASE_URL", &platform.endpoint_url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_finalizes_and_results_are_json_lines_by_index() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let inputs = "{\"echo\": 0}\n\n{\"echo\": {\"a\": 1}}\n{\"fail\": \"no\"}\n";
    let created = cli
        .run_stdin(&["batch", "create", EP, "--inputs", "-"], Some(inputs))
        .await;
    let batch = created.ok().trim().to_owned();

    let results = cli.run(&["batch", "results", EP, &batch]).await;
    let lines: Vec<Value> = results
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "the blank line is not an input: {lines:?}");
    assert_eq!(lines[0]["index"], 0);
    assert_eq!(lines[0]["output"], 0);
    assert_eq!(lines[1]["output"], json!({"a": 1}));
    assert_eq!(lines[2]["status"], "FAILED");
    // Our worker reports errors as the Python worker does: a JSON document in a string.
    let error: Value = serde_json::from_str(lines[2]["error"].as_str().unwrap()).unwrap();
    assert_eq!(error["error_message"], "no");
    assert!(lines.iter().all(|l| l["id"].is_string()));

    let status = cli
        .run(&["-o", "json", "batch", "status", EP, &batch])
        .await;
    let summary = status.json();
    assert_eq!(summary["status"], "FINALIZED");
    assert_eq!(
        (
            &summary["requestTotal"],
            &summary["requestCompleted"],
            &summary["requestFailed"]
        ),
        (&json!(3), &json!(2), &json!(1))
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_listed_and_can_be_cancelled() {
    let platform = Platform::without_worker().await;
    let cli = cli(&platform);
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(&file, "1\n2\n").unwrap();
    let created = cli
        .run(&[
            "batch",
            "create",
            EP,
            "--inputs",
            file.to_str().unwrap(),
            "--draft",
            "--name",
            "nightly",
        ])
        .await;
    let batch = created.ok().trim().to_owned();

    let list = cli.run(&["batch", "list", EP]).await;
    let line = list.ok().trim().to_owned();
    assert!(line.starts_with(&batch), "{line}");
    assert!(line.contains("DRAFT") && line.contains("nightly"), "{line}");

    let cancelled = cli
        .run(&["-o", "json", "batch", "cancel", EP, &batch])
        .await;
    assert_eq!(cancelled.json()["status"], "CANCELLED");
    // A closed batch's results come at once: requests that never ran are listed as cancelled.
    let results = cli.run(&["batch", "results", EP, &batch]).await;
    let statuses: Vec<Value> = results
        .ok()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("CANCELLED"), json!("CANCELLED")]);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_files_are_refused_before_anything_is_sent() {
    let platform = Platform::without_worker().await;
    let cli = cli(&platform);
    let run = cli
        .run_stdin(
            &["batch", "create", EP, "--inputs", "-"],
            Some("{\"ok\": 1}\n{nope\n"),
        )
        .await;
    let line = run.fails(2);
    assert!(line.contains("- line 2 is not valid JSON"), "{line}");

    let too_many = "1\n".repeat(5_001);
    let run = cli
        .run_stdin(&["batch", "create", EP, "--inputs", "-"], Some(&too_many))
        .await;
    assert!(run.fails(2).contains("more than 5000 inputs"));

    let run = cli
        .run_stdin(&["batch", "create", EP, "--inputs", "-"], Some("\n"))
        .await;
    assert!(run.fails(2).contains("holds no inputs"));

    let run = cli
        .run(&["batch", "create", EP, "--inputs", "/nonexistent/in.jsonl"])
        .await;
    assert!(run.fails(2).contains("cannot read --inputs"));

    // Nothing reached the server.
    let list = cli.run(&["-o", "json", "batch", "list", EP]).await;
    assert_eq!(list.json(), json!([]));

    let unknown = cli.run(&["batch", "status", EP, "nope"]).await;
    assert!(
        unknown.fails(5).contains("batch nope not found"),
        "{unknown:?}"
    );
    platform.stop().await;
}
