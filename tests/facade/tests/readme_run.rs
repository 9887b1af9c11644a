//! The README's client and worker examples, built from the README text (see `build.rs`), run
//! against a runpod-local started without a key: the worker takes the jobs, the client prints
//! what the worker returned.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const EP: &str = "my-endpoint-id";

/// Kills the worker process when the test ends, whatever happens.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn without_runpod_env(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("RUNPOD_") {
            cmd.env_remove(k);
        }
    }
    // No ~/.runpod/config.toml key either: the local server needs none.
    cmd.env("HOME", std::env::temp_dir())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_client_and_worker_run_against_runpod_local() {
    let server = runpod_local::Server::builder()
        .bind("127.0.0.1:0")
        .await
        .unwrap();

    let mut worker = Command::new(env!("CARGO_BIN_EXE_readme_worker"));
    without_runpod_env(&mut worker)
        .envs(server.worker_env(EP, "readme-worker"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _worker = Killed(worker.spawn().unwrap());

    let mut client = Command::new(env!("CARGO_BIN_EXE_readme_client"));
    without_runpod_env(&mut client).env("RUNPOD_ENDPOINT_BASE_URL", server.serverless_base_url());
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || client.output().unwrap()),
    )
    .await
    .expect("the README client did not finish in 60 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "runsync: A RED FOX", "{stdout}");
    // The job may already run, or be done, by the time its status is asked.
    assert!(
        lines[1].starts_with("queued: job ")
            && [": IN_QUEUE", ": IN_PROGRESS", ": COMPLETED"]
                .iter()
                .any(|end| lines[1].ends_with(end)),
        "{stdout}"
    );
    assert_eq!(lines[2], "run: A BLUE BIRD", "{stdout}");
    // The README's worker returns its output in one piece: nothing streamed, a clean end.
    assert_eq!(lines[3], "streamed: COMPLETED", "{stdout}");
    assert_eq!(lines.len(), 4, "{stdout}");
}
