//! `run`, `job …` and `endpoint …` against runpod-local with a Rust worker.

use serde_json::{Value, json};

use crate::support::{Cli, EP, Platform, redact_ids};

fn cli(platform: &Platform) -> Cli {
    Cli::with_key().env("RUNPOD_ENDPOINT_BASE_URL", &platform.endpoint_url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_and_prints_the_output() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);

    let run = cli
        .run(&["run", EP, "--input", r#"{"echo": {"answer": 42}}"#])
        .await;
    assert_eq!(run.ok(), "{\n  \"answer\": 42\n}\n");

    // A string output is printed as it is, not as a JSON string.
    let run = cli
        .run(&["run", EP, "--input", r#"{"echo": "hello\nworld"}"#])
        .await;
    assert_eq!(run.ok(), "hello\nworld\n");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_the_whole_finished_job() {
    let platform = Platform::with_worker().await;
    let run = cli(&platform)
        .run(&["run", EP, "-o", "json", "--input", r#"{"echo": [1, 2]}"#])
        .await;
    run.ok();
    let job = run.json();
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job["output"], json!([1, 2]));
    assert!(job["id"].as_str().is_some_and(|id| !id.is_empty()), "{job}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_mode_uses_runsync() {
    let platform = Platform::with_worker().await;
    // The flag, not the environment, points at the server here.
    let run = Cli::with_key()
        .run(&[
            "--endpoint-url",
            &platform.endpoint_url(),
            "run",
            EP,
            "--sync",
            "--input",
            r#"{"echo": "synced"}"#,
        ])
        .await;
    assert_eq!(run.ok(), "synced\n");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_comes_from_stdin_or_a_file() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let run = cli
        .run_stdin(&["run", EP], Some(r#"{"echo": "from stdin"}"#))
        .await;
    assert_eq!(run.ok(), "from stdin\n");

    let file = cli.home().join("input.json");
    std::fs::write(&file, r#"{"echo": "from a file"}"#).unwrap();
    let run = cli
        .run(&["run", EP, "--input-file", file.to_str().unwrap()])
        .await;
    assert_eq!(run.ok(), "from a file\n");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wait_prints_the_id_and_the_job_can_be_followed_up() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let run = cli
        .run(&["run", EP, "--no-wait", "--input", r#"{"echo": "later"}"#])
        .await;
    let id = run.ok().trim().to_owned();
    assert!(
        !id.is_empty() && !id.contains(char::is_whitespace),
        "{run:?}"
    );

    let waited = cli.run(&["job", "wait", EP, &id]).await;
    assert_eq!(waited.ok(), "later\n");

    let status = cli.run(&["job", "status", EP, &id, "-o", "json"]).await;
    status.ok();
    assert_eq!(status.json()["status"], "COMPLETED");
    assert_eq!(status.json()["id"], id.as_str());

    let json = cli
        .run(&["run", EP, "--no-wait", "-o", "json", "--input", "{}"])
        .await;
    json.ok();
    assert_eq!(json.json()["endpoint"], EP);
    assert!(json.json()["id"].is_string());
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_prints_chunks_in_order() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let input = r#"{"chunks": ["one ", "two ", "three"], "echo": "done"}"#;

    let run = cli.run(&["run", EP, "--stream", "--input", input]).await;
    assert_eq!(run.ok(), "one two three\n");

    // JSON lines, one per chunk, in the order the worker sent them.
    let run = cli
        .run(&["run", EP, "--stream", "-o", "json", "--input", input])
        .await;
    let lines: Vec<Value> = run
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outputs: Vec<&Value> = lines.iter().map(|l| &l["output"]).collect();
    assert_eq!(outputs, [&json!("one "), &json!("two "), &json!("three")]);

    // Chunks that are not text are printed one JSON value per line.
    let run = cli
        .run(&[
            "run",
            EP,
            "--stream",
            "--input",
            r#"{"chunks": [{"n": 1}, {"n": 2}]}"#,
        ])
        .await;
    assert_eq!(run.ok(), "{\"n\":1}\n{\"n\":2}\n");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_a_job_that_streams_nothing_prints_its_output() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let id = cli
        .run(&["run", EP, "--no-wait", "--input", r#"{"echo": "whole"}"#])
        .await
        .ok()
        .trim()
        .to_owned();
    let run = cli.run(&["job", "stream", EP, &id]).await;
    assert_eq!(run.ok(), "whole\n");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_exits_8_with_the_worker_error() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let run = cli
        .run(&["run", EP, "--input", r#"{"fail": "the model exploded"}"#])
        .await;
    let line = run.fails(8);
    assert!(line.starts_with("error: job "), "{line}");
    // `<error_type>: <error_message>`, as the worker reported them.
    assert!(line.contains(" failed: "), "{line}");
    assert!(line.ends_with(": the model exploded"), "{line}");
    assert_eq!(run.stdout, "");

    // Streaming it ends the same way.
    let run = cli
        .run(&[
            "run",
            EP,
            "--stream",
            "--input",
            r#"{"chunks": ["a"], "fail": "late"}"#,
        ])
        .await;
    assert_eq!(run.stdout, "a\n");
    assert!(run.fails(8).contains("late"), "{run:?}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_can_be_retried() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let id = cli
        .run(&["run", EP, "--no-wait", "--input", r#"{"fail": "again"}"#])
        .await
        .ok()
        .trim()
        .to_owned();
    cli.run(&["job", "wait", EP, &id]).await.fails(8);

    let retried = cli.run(&["job", "retry", EP, &id, "-o", "json"]).await;
    retried.ok();
    assert_eq!(retried.json()["id"], id.as_str());
    // Same input, same end: the retried job fails again, under the same id.
    let line = cli.run(&["job", "wait", EP, &id]).await.fails(8).to_owned();
    assert!(line.contains(&id), "{line}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_then_wait_exits_9() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let id = cli
        .run(&["run", EP, "--no-wait", "--input", r#"{"sleep_ms": 60000}"#])
        .await
        .ok()
        .trim()
        .to_owned();

    let cancelled = cli.run(&["job", "cancel", EP, &id]).await;
    let table = cancelled.ok();
    assert!(table.contains("CANCELLED"), "{table}");
    assert!(table.starts_with("FIELD"), "{table}");

    let line = cli.run(&["job", "wait", EP, &id]).await.fails(9).to_owned();
    assert_eq!(line, format!("error: job {id} was cancelled"));
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_timeout_exits_11_and_says_how_to_resume() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    let run = cli
        .run(&[
            "run",
            EP,
            "--timeout",
            "300ms",
            "--input",
            r#"{"sleep_ms": 60000}"#,
        ])
        .await;
    let line = run.fails(11);
    assert!(line.contains("gave up waiting for job"), "{line}");
    assert!(line.contains("after 300 ms"), "{line}");
    assert!(line.contains(&format!("`runpod job wait {EP} ")), "{line}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_timeout_keeps_what_was_printed_and_exits_11() {
    let platform = Platform::with_worker().await;
    let run = cli(&platform)
        .run(&[
            "run",
            EP,
            "--stream",
            "--timeout",
            "1s",
            "--input",
            r#"{"chunks": ["partial"], "sleep_ms": 60000}"#,
        ])
        .await;
    assert_eq!(run.stdout, "partial\n");
    assert!(run.fails(11).contains("after 1 s"), "{run:?}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_shows_jobs_and_workers() {
    let platform = Platform::with_worker().await;
    let cli = cli(&platform);
    cli.run(&["run", EP, "--input", r#"{"echo": 1}"#])
        .await
        .ok();

    let run = cli.run(&["endpoint", "health", EP, "-o", "json"]).await;
    run.ok();
    let health = run.json();
    assert_eq!(health["jobs"]["completed"], 1, "{health}");
    assert!(health["workers"].is_object(), "{health}");

    let table = cli.run(&["endpoint", "health", EP]).await;
    assert!(table.ok().contains("jobs.completed   1"), "{table:?}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_queue_removes_queued_jobs() {
    let platform = Platform::without_worker().await;
    let cli = cli(&platform);
    for _ in 0..2 {
        cli.run(&["run", EP, "--no-wait", "--input", "{}"])
            .await
            .ok();
    }
    let run = cli.run(&["endpoint", "purge-queue", EP]).await;
    assert_eq!(
        run.ok(),
        format!("removed 2 queued jobs from endpoint {EP}\n")
    );

    let health = cli.run(&["endpoint", "health", EP, "-o", "json"]).await;
    health.ok();
    assert_eq!(health.json()["jobs"]["inQueue"], 0);

    let again = cli
        .run(&["endpoint", "purge-queue", EP, "-o", "json"])
        .await;
    again.ok();
    assert_eq!(again.json()["removed"], 0);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_status_snapshots() {
    let platform = Platform::without_worker().await;
    let cli = cli(&platform);
    let id = cli
        .run(&["run", EP, "--no-wait", "--input", "{}"])
        .await
        .ok()
        .trim()
        .to_owned();
    let table = cli.run(&["job", "status", EP, &id]).await;
    insta::assert_snapshot!("job_status_table", redact_ids(table.ok(), &[&id]));
    let json = cli.run(&["job", "status", EP, &id, "-o", "json"]).await;
    insta::assert_snapshot!("job_status_json", redact_ids(json.ok(), &[&id]));
    platform.stop().await;
}
