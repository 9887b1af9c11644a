//! `runpod local serve`: the runpod-local server as a subcommand.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::support::{Cli, KEY};

/// `runpod local serve` on a free port with the test key and `extra` flags, stdout piped.
fn serve(extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_runpod"))
        .args(["local", "serve", "--port", "0", "--api-key", KEY])
        .args(extra)
        .env_remove("RUNPOD_LOCAL_API_KEY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// [`serve`], then a CLI pointed at the base URL its first line announces. The stdout reader is
/// handed back to be kept open: the server writes more lines, and a closed pipe would end it.
fn serve_for_cli(extra: &[&str]) -> (Child, Cli, BufReader<ChildStdout>) {
    let mut child = serve(extra);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let base = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let cli = Cli::with_key().env("RUNPOD_ENDPOINT_BASE_URL", &format!("{base}/v2"));
    (child, cli, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_serve_prints_the_environment_and_serves_jobs() {
    let mut child = serve(&["--endpoint-id", "ep-local"]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    // The announcement is 8 lines: `listening on`, 6 worker variables, the client base URL.
    for _ in 0..8 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_owned());
    }
    let base = lines[0].strip_prefix("listening on ").unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{lines:#?}");
    assert_eq!(
        lines[1],
        format!("export RUNPOD_WEBHOOK_GET_JOB='{base}/v2/ep-local/job-take/$ID?gpu=LOCAL'")
    );
    assert!(
        lines.contains(&"export RUNPOD_POD_ID=local-worker".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!("export RUNPOD_AI_API_KEY={KEY}")),
        "{lines:#?}"
    );
    assert_eq!(
        lines[7],
        format!("export RUNPOD_ENDPOINT_BASE_URL={base}/v2")
    );

    // The server requires the key it was given, and queues jobs.
    let cli = Cli::with_key().env("RUNPOD_ENDPOINT_BASE_URL", &format!("{base}/v2"));
    let id = cli
        .run(&["run", "ep-local", "--no-wait", "--input", "{}"])
        .await
        .ok()
        .trim()
        .to_owned();
    let status = cli
        .run(&["job", "status", "ep-local", &id, "-o", "json"])
        .await;
    status.ok();
    assert_eq!(status.json()["status"], "IN_QUEUE");
    let wrong = Cli::new()
        .env("RUNPOD_API_KEY", "rpa_other")
        .env("RUNPOD_ENDPOINT_BASE_URL", &format!("{base}/v2"))
        .run(&["endpoint", "health", "ep-local"])
        .await;
    assert_eq!(wrong.code, 4, "{wrong:?}");

    // Ctrl-C stops it cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// `runpod run` of `input`, which the echo answers: the job's JSON.
async fn run_echo(cli: &Cli, input: &str) -> serde_json::Value {
    let run = cli
        .run(&[
            "run",
            "any-endpoint",
            "-o",
            "json",
            // Without the echo nothing would answer: fail rather than wait forever.
            "--timeout",
            "30s",
            "--input",
            input,
        ])
        .await;
    run.ok();
    run.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_serve_with_echo_answers_jobs_without_a_worker() {
    let (mut child, cli, _stdout) = serve_for_cli(&["--echo"]);
    let job = run_echo(&cli, r#"{"x": [1, 2]}"#).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["output"], serde_json::json!({"x": [1, 2]}));

    // The same server over HTTP/2 (by prior knowledge: an HTTP/1.1-only server would fail it),
    // and an HTTP version the client does not know.
    let over_h2 = run_echo(&cli.clone().env("RUNPOD_HTTP_VERSION", "2"), r#"{"h2": 1}"#).await;
    assert_eq!(over_h2["output"], serde_json::json!({"h2": 1}));
    let unknown = cli
        .clone()
        .env("RUNPOD_HTTP_VERSION", "3")
        .run(&["endpoint", "health", "any-endpoint"])
        .await;
    assert_eq!(unknown.code, 3, "{unknown:#?}");
    assert!(
        unknown.stderr.contains("`3` is not an HTTP version"),
        "{unknown:#?}"
    );

    let _ = child.kill();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
}

#[tokio::test]
async fn local_serve_refuses_a_network_host_without_a_key() {
    let output = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_runpod"))
            .args(["local", "serve", "--host", "0.0.0.0", "--port", "0"])
            .env_remove("RUNPOD_LOCAL_API_KEY")
            .env_remove("RUNPOD_API_KEY")
            .env("HOME", std::env::temp_dir().join("runpod-cli-no-home"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing announced");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without an API key"), "{stderr}");
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_serve_takes_every_limit_flag_of_runpod_local() {
    // Two of the six limits, which `runpod local serve` did not have before it shared the
    // binary's flags; the flags' parsing is tested with runpod-local's `ServeArgs`.
    let (mut child, cli, _stdout) =
        serve_for_cli(&["--max-id-length", "8", "--max-stored-bytes", "200"]);

    let long_id = cli
        .run(&["run", "endpoint9", "--no-wait", "--input", "{}"])
        .await;
    assert_ne!(long_id.code, 0, "{long_id:?}");
    assert!(long_id.stderr.contains("1 to 8 characters"), "{long_id:?}");
    let big = format!("\"{}\"", "x".repeat(300));
    let too_big = cli.run(&["run", "ep", "--no-wait", "--input", &big]).await;
    assert_ne!(too_big.code, 0, "{too_big:?}");
    assert!(too_big.stderr.contains("at most 200 bytes"), "{too_big:?}");
    cli.run(&["run", "ep", "--no-wait", "--input", "{}"])
        .await
        .ok();

    let _ = child.kill();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
}

/// Kills the child on drop, so that a failed test does not leave a reader blocked on its stdout.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn local_serve_spawns_lb_workers_and_prints_their_counts_as_they_change() {
    // The worker exits a second after the announcement: one change, printed as it happens.
    let mut child = Guard(serve(&["--lb-spawn", "sp,id=w1=sleep 1; exit 3"]));
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let unhealthy = "# load-balancing endpoint sp: 0 healthy, 0 initializing, 1 unhealthy";
    let lines = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut seen = Vec::new();
            for line in stdout.lines() {
                let line = line.unwrap();
                let done = line == unhealthy;
                seen.push(line);
                if done {
                    break;
                }
            }
            seen
        }),
    )
    .await
    .expect("the counts change is printed")
    .unwrap();
    assert!(
        lines.iter().any(
            |l| l.starts_with("# load-balancing endpoint sp: http://127.0.0.1:")
                && l.ends_with("(1 workers: 0 healthy, 1 initializing, 0 unhealthy)")
        ),
        "{lines:#?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some(unhealthy),
        "{lines:#?}"
    );
}
