//! The `runpod-local` binary: listening line, worker environment, auth, clean stop on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the child if a test fails before it stopped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::time::timeout(Duration::from_secs(60), tokio::task::spawn_blocking(f))
        .await
        .expect("the binary answered in time")
        .unwrap()
}

#[tokio::test]
async fn the_binary_prints_where_it_listens_and_the_worker_environment() {
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_runpod-local"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--api-key",
                "k3y",
                "--log-level",
                "warn",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines, stdout) = blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut lines = Vec::new();
        for _ in 0..8 {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            lines.push(line.trim_end().to_owned());
        }
        (lines, reader)
    })
    .await;
    let base = lines[0]
        .strip_prefix("listening on ")
        .expect("the listening line comes first");
    let port: u16 = base
        .strip_prefix("http://127.0.0.1:")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    assert_eq!(
        lines[1..],
        [
            format!("export RUNPOD_WEBHOOK_GET_JOB='{base}/v2/local/job-take/$ID?gpu=LOCAL'"),
            format!(
                "export RUNPOD_WEBHOOK_POST_OUTPUT='{base}/v2/local/job-done/$RUNPOD_POD_ID/$ID?gpu=LOCAL'"
            ),
            format!(
                "export RUNPOD_WEBHOOK_POST_STREAM='{base}/v2/local/job-stream/$RUNPOD_POD_ID/$ID?gpu=LOCAL'"
            ),
            format!("export RUNPOD_WEBHOOK_PING='{base}/v2/local/ping/$RUNPOD_POD_ID?gpu=LOCAL'"),
            "export RUNPOD_POD_ID=local-worker".to_owned(),
            "export RUNPOD_AI_API_KEY=k3y".to_owned(),
            format!("export RUNPOD_ENDPOINT_BASE_URL={base}/v2"),
        ]
    );

    let http = reqwest::Client::new();
    let health = format!("{base}/v2/local/health");
    assert_eq!(http.get(&health).send().await.unwrap().status(), 401);
    let answer = http.get(&health).bearer_auth("k3y").send().await.unwrap();
    assert_eq!(answer.status(), 200);

    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let mut child = child;
    let (status, rest) = blocking(move || {
        let status = child.0.wait().unwrap();
        let mut rest = String::new();
        let mut stdout = stdout;
        stdout.read_to_string(&mut rest).unwrap();
        (status, rest)
    })
    .await;
    assert!(status.success(), "SIGTERM stops it cleanly: {status:?}");
    // After the eight lines: the console's address (with the feature), then nothing else.
    let console_line = if cfg!(feature = "console") {
        format!("# console: {base}/\n")
    } else {
        String::new()
    };
    assert_eq!(rest, console_line, "nothing else goes to stdout");
}

#[tokio::test]
async fn a_bad_fault_rule_is_reported_on_stderr() {
    let output = blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_runpod-local"))
            .args(["--port", "0", "--fault", "run:teapot=1"])
            .output()
            .unwrap()
    })
    .await;
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid --fault `run:teapot=1`: unknown fault `teapot`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_binary_with_echo_answers_jobs_itself() {
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_runpod-local"))
            .args(["--port", "0", "--echo", "--log-level", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let first = blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await;
    let base = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let answer: serde_json::Value = http
        .post(format!("{base}/v2/local/runsync"))
        .json(&serde_json::json!({"input": {"echo": "me"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "COMPLETED", "{answer}");
    assert_eq!(answer["output"], serde_json::json!({"echo": "me"}));
}

#[tokio::test]
async fn the_binary_help_lists_every_server_flag() {
    // The server flags come from `ServeArgs`, shared with `runpod local serve`.
    let output = blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_runpod-local"))
            .arg("--help")
            // clap wraps help to the terminal, or to COLUMNS when set.
            .env("COLUMNS", "100")
            .output()
            .unwrap()
    })
    .await;
    assert!(output.status.success());
    insta::assert_snapshot!("runpod_local_help", String::from_utf8_lossy(&output.stdout));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_binary_stops_the_workers_it_spawned_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("lb-spawn-bin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("pid");
    let spawn = format!("sp=echo $$ > '{}'; exec sleep 1000", pid_file.display());
    let mut child = Guard(
        Command::new(env!("CARGO_BIN_EXE_runpod-local"))
            .args(["--port", "0", "--log-level", "warn", "--lb-spawn", &spawn])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let announced = blocking(move || {
        let mut text = String::new();
        BufReader::new(stdout).read_to_string(&mut text).unwrap();
        text
    });
    let worker = loop {
        if let Ok(pid) = std::fs::read_to_string(&pid_file)
            && pid.ends_with('\n')
        {
            break pid.trim().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(std::path::Path::new(&format!("/proc/{worker}")).exists());
    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let announced = announced.await;
    assert!(
        announced.contains("# load-balancing endpoint sp: http://127.0.0.1:")
            && announced.contains("(1 workers: 0 healthy, 1 initializing, 0 unhealthy)"),
        "{announced}"
    );
    let mut child = child;
    let status = blocking(move || child.0.wait().unwrap()).await;
    assert!(status.success(), "SIGTERM stops it cleanly: {status:?}");
    // Reaped by runpod-local before it exited: no process, not even a zombie.
    assert!(
        !std::path::Path::new(&format!("/proc/{worker}")).exists(),
        "the spawned worker outlived runpod-local"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
