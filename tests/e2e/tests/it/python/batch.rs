//! Batch Jobs end to end: 5 000 inputs through one batch, run by our `echo_worker` binary and
//! the official Python worker sharing the queue, read back through the CLI and the library.
//!
//! Inputs are `{"echo": {"i": n, …}}`; both workers answer with the `echo` value, so every
//! output must equal its input's `echo` and carry its own index.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use futures_util::StreamExt as _;
use runpod_local::RunningServer;
use serde_json::{Value, json};

use super::{KEY, Process, server, start_worker};
use crate::secrets::cli_binary;
use crate::support;
use crate::support::example_binary;

const EP: &str = "batch-e2e";
const N: usize = 5_000;

fn payload(i: usize) -> Value {
    // Some inputs carry a few KiB, so the 5 000 do not fit one tiny body either way.
    json!({"i": i, "text": "é".repeat(i % 7 * 300)})
}

/// Our echo_worker binary as a worker of `EP` (not `--rp_serve_api`: it pulls from the server).
async fn start_echo_worker(server: &RunningServer, worker_id: &str) -> Process {
    let binary = tokio::task::spawn_blocking(|| example_binary("echo_worker"))
        .await
        .unwrap();
    let mut command = Command::new(binary);
    command.args(["--concurrency", "4"]);
    let mut env = server.worker_env(EP, worker_id);
    env.push(("RUNPOD_PING_INTERVAL".to_owned(), "1000".to_owned()));
    Process::start(command, "echo_worker".to_owned(), env)
}

/// Both workers on `EP`; the Python one has announced itself before this returns, so both
/// take part from the first job.
async fn start_workers(server: &RunningServer) -> (Process, Process) {
    let mut python = start_worker(server, EP, "py-echo", "echo");
    python.wait_for_log("Starting Serverless Worker").await;
    let ours = start_echo_worker(server, "rs-echo").await;
    (python, ours)
}

/// Runs the `runpod` CLI against `server` and returns its output (it must succeed).
async fn cli(server: &RunningServer, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let base = server.serverless_base_url();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let home = tempfile::TempDir::new().unwrap();
        let mut command = Command::new(cli_binary());
        command
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUNPOD_API_KEY", KEY)
            .env("RUNPOD_ENDPOINT_BASE_URL", &base)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = command.spawn().unwrap();
        if let Some(bytes) = stdin {
            child.stdin.take().unwrap().write_all(&bytes).unwrap();
        }
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "runpod {args:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    })
    .await
    .unwrap()
}

/// Which worker ran each request, from `/status`.
async fn workers_of(server: &RunningServer, ids: &[String]) -> HashMap<String, usize> {
    let endpoint = support::client(server, KEY).endpoint(EP);
    let mut counts = HashMap::new();
    for id in ids {
        let state = endpoint.job(id).status().await.unwrap();
        *counts
            .entry(state.worker_id.unwrap_or_default())
            .or_insert(0) += 1;
    }
    counts
}

fn assert_both_workers_took_part(workers: &HashMap<String, usize>) {
    assert_eq!(workers.values().sum::<usize>(), N, "{workers:?}");
    for worker in ["py-echo", "rs-echo"] {
        assert!(
            workers.get(worker).copied().unwrap_or(0) > 0,
            "{worker} ran nothing: {workers:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_inputs_through_the_cli_and_both_workers() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let (_python, _ours) = start_workers(&server).await;

    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("inputs.jsonl");
    let mut lines = String::new();
    for i in 0..N {
        lines.push_str(&json!({"echo": payload(i)}).to_string());
        lines.push('\n');
    }
    std::fs::write(&file, lines).unwrap();

    let created = cli(
        &server,
        &["batch", "create", EP, "--inputs", file.to_str().unwrap()],
        None,
    )
    .await;
    let batch = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(!batch.is_empty());

    let results = cli(&server, &["batch", "results", EP, &batch], None).await;
    let text = String::from_utf8(results.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), N);
    let mut indexes = HashSet::new();
    let mut ids = Vec::new();
    for line in &lines {
        let index = usize::try_from(line["index"].as_u64().unwrap()).unwrap();
        assert!(indexes.insert(index), "index {index} twice");
        assert_eq!(line["status"], "COMPLETED", "{line}");
        assert_eq!(line["output"], payload(index), "output of {index}");
        ids.push(line["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        N,
        "request ids repeat"
    );

    let status = cli(
        &server,
        &["--output", "json", "batch", "status", EP, &batch],
        None,
    )
    .await;
    let summary: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (
            &summary["requestTotal"],
            &summary["requestCompleted"],
            &summary["requestFailed"]
        ),
        (&json!(N), &json!(N), &json!(0))
    );
    assert_both_workers_took_part(&workers_of(&server, &ids).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_inputs_through_the_library_helper_streamed() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let (_python, _ours) = start_workers(&server).await;
    let endpoint = support::client(&server, KEY).endpoint(EP);

    let inputs = (0..N).map(|i| json!({"echo": payload(i)}));
    let mut outputs = endpoint.batch().run::<_, Value>(inputs);
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while let Some(item) = tokio::time::timeout_at(deadline, outputs.next())
        .await
        .expect("the batch finished in time")
    {
        let item = item.unwrap();
        assert!(seen.insert(item.index), "index {} twice", item.index);
        assert_eq!(item.output.unwrap(), payload(item.index));
        ids.push(item.request_id);
    }
    assert_eq!(seen.len(), N);
    assert_eq!(outputs.batch_ids().len(), 1);
    assert_both_workers_took_part(&workers_of(&server, &ids).await);
}
