//! The runpod-local console in a real browser: `tests/console/console_test.py` drives Debian's
//! headless Chromium with Playwright against two in-process servers (one open, one with an API
//! key), with the `echo_worker` example binary serving the open one and a load-balancing worker
//! registered on it.
//!
//! Needs Chromium (`CONSOLE_CHROMIUM`, else `/usr/bin/chromium`) and Playwright in the Python of
//! the interop tests (`RUNPOD_PYTHON`, else `<workspace>/.venv/bin/python`). Without them the test
//! says so on stderr and does nothing, except under `CI=true`, where it fails: CI installs both.
//! Screenshots go to `target/console-screenshots/`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use runpod_local::{FaultConfig, LbWorker, Server};

use crate::python::Process;

const EP: &str = "console";
const KEY: &str = "console-key";
/// Jobs the load scenario pushes through with the page open.
const FLOOD: usize = 10_000;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium and a Python with Playwright, or why not.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CONSOLE_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.exists() {
        return Err(format!(
            "{} not found (Debian: apt-get install chromium)",
            chromium.display()
        ));
    }
    let python = std::env::var_os("RUNPOD_PYTHON")
        .map_or_else(|| workspace().join(".venv/bin/python"), PathBuf::from);
    let has_playwright = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !has_playwright {
        return Err(format!(
            "{} cannot import playwright (pip install playwright==1.65.3; no browser download needed)",
            python.display()
        ));
    }
    Ok((chromium, python))
}

/// Writes to stderr past the test harness's capture (which only takes `print!`/`eprint!`): a
/// skip and the measured times must show in a passing run too.
fn loud(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_and_drives_jobs_in_headless_chromium() {
    let (chromium, python) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) if std::env::var("CI").is_ok_and(|ci| ci == "true" || ci == "1") => {
            panic!("the console browser tests must run in CI, but {why}")
        }
        Err(why) => {
            loud(&format!(
                "\n*** SKIPPED: the console browser tests did NOT run: {why}. ***\n\
                 *** CI runs them (.ci/run installs chromium and playwright).   ***\n"
            ));
            return;
        }
    };

    // The one fault rule makes purge-queue fail until the page switches it off.
    let faults = FaultConfig::default().rule("purge-queue:5xx=1").unwrap();
    let open = Server::builder()
        .faults(faults)
        // A load-balancing worker where nothing listens: the page shows its health.
        .lb_worker(LbWorker::new("console-lb", "http://127.0.0.1:9").id("lb-1"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let keyed = Server::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut worker = Process::start(
        {
            let mut command = Command::new(crate::support::example_binary("echo_worker"));
            command.args(["--concurrency", "16"]);
            command
        },
        "echo_worker".to_owned(),
        open.worker_env(EP, "echo-1"),
    );

    let shots = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from)
        .join("console-screenshots");
    let mut command = Command::new(&python);
    command
        .arg(workspace().join("tests/console/console_test.py"))
        .env("PYTHONUNBUFFERED", "1");
    let env = [
        ("CONSOLE_URL", open.base_url()),
        ("CONSOLE_ENDPOINT", EP.to_owned()),
        ("CONSOLE_KEYED_URL", keyed.base_url()),
        ("CONSOLE_KEY", KEY.to_owned()),
        ("CONSOLE_SCREENSHOTS", shots.display().to_string()),
        ("CONSOLE_CHROMIUM", chromium.display().to_string()),
        ("CONSOLE_FLOOD", FLOOD.to_string()),
    ];
    let mut browser = Process::start(
        command,
        "console_test.py".to_owned(),
        env.map(|(k, v)| (k.to_owned(), v)).to_vec(),
    );
    let status = browser.wait(Duration::from_secs(600)).await;
    let log = browser.log();
    // The scenarios' PASS lines and timings (the filter times) belong in every test log.
    loud(&log);
    assert!(
        worker.exited().is_none(),
        "echo_worker died:\n{}",
        worker.log()
    );
    match status {
        Some(status) => assert!(status.success(), "console_test.py failed ({status})"),
        None => panic!("console_test.py did not finish in 10 min"),
    }
    assert!(log.contains(" passed, 0 failed"), "{log}");
    open.shutdown().await;
    keyed.shutdown().await;
}
