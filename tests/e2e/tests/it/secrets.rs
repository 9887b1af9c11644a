//! No secret leaks: the client, the worker (in-process) and the `runpod` CLI, with logging at
//! TRACE, on success and failure paths (401, a malformed key, a failed job, a panicking
//! handler). The API keys must appear in no log line, no error Display/Debug/Report, no Debug of
//! a client or config, no panic message and no CLI output.
//!
//! This module installs the test binary's global `tracing` subscriber (and `log` bridge) and a
//! panic hook that records panic messages; no other module of this binary installs either.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use runpod::serverless::{Config, ServerlessClient};
use runpod::worker::{Job, Worker, WorkerEnv};
use runpod::{Error, Report};
use runpod_local::{RunningServer, Server};
use serde_json::{Value, json};

/// The key the server requires (clients as a bearer token, workers raw).
const KEY: &str = "rpa_E2E_KEY_SECRET_5e1c9a7d";
/// A wrong key: a secret as well, and the one most likely to end up in a "bad key" message.
const WRONG_KEY: &str = "rpa_E2E_WRONG_SECRET_0b3f44";
/// A key that is not even a valid header value.
const BAD_KEY: &str = "rpa_BAD KEY\r\nMALFORMED_SECRET_9d2e";
/// What must never be shown: distinctive parts of each key.
const NEEDLES: [&str; 3] = [
    "KEY_SECRET_5e1c9a7d",
    "WRONG_SECRET_0b3f44",
    "MALFORMED_SECRET_9d2e",
];
const EP: &str = "secrets";

/// Everything the global subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

struct Recorders {
    logs: Capture,
    panics: Arc<Mutex<Vec<String>>>,
}

/// The TRACE-level log capture and the panic recorder, installed once for the whole binary.
fn recorders() -> &'static Recorders {
    static RECORDERS: OnceLock<Recorders> = OnceLock::new();
    RECORDERS.get_or_init(|| {
        let logs = Capture::default();
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_ansi(false)
            .with_writer(logs.clone())
            .try_init()
            .expect("the secrets module installs the only global subscriber");
        let panics = Arc::new(Mutex::new(Vec::new()));
        let recorded = panics.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            recorded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(info.to_string());
            previous(info);
        }));
        Recorders { logs, panics }
    })
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for needle in NEEDLES {
        assert!(
            !text.contains(needle),
            "{what} shows a key ({needle}):\n{text}"
        );
    }
}

/// Display, Debug and the full Report of an error.
fn shown(err: &Error) -> String {
    format!("{err}\n{err:?}\n{}", Report(err))
}

fn client(key: &str, server: &RunningServer) -> Result<ServerlessClient, Error> {
    let config = Config::builder()
        .with_api_key(key)
        .with_serverless_base_url(server.serverless_base_url())
        .build()?;
    ServerlessClient::from_config(config)
}

async fn handler(job: Job<Value>) -> Result<Value, String> {
    let input = job.input().clone();
    if let Some(msg) = input.get("fail").and_then(Value::as_str) {
        return Err(msg.to_owned());
    }
    if input.get("panic").is_some() {
        panic!("the handler panicked on purpose");
    }
    Ok(input)
}

/// A worker for `server` with `key`, stopped when the returned sender is dropped or fired.
fn spawn_worker(
    server: &RunningServer,
    worker_id: &str,
    key: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), Error>>,
) {
    let vars = server
        .worker_env(EP, worker_id)
        .into_iter()
        .map(|(k, v)| {
            if k == "RUNPOD_AI_API_KEY" {
                (k, key.to_owned())
            } else {
                (k, v)
            }
        })
        .chain([("RUNPOD_PING_INTERVAL".to_owned(), "200".to_owned())]);
    let env = WorkerEnv::from_vars(vars);
    assert_clean("WorkerEnv Debug", &format!("{env:?}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let builder = Worker::builder(handler)
        .with_env(env)
        .with_concurrency(2)
        .with_shutdown_timeout(Duration::from_secs(2))
        .graceful_shutdown_on(async move {
            let _ = stopped.await;
        });
    assert_clean("WorkerBuilder Debug", &format!("{builder:?}"));
    (stop, tokio::spawn(builder.run()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_and_the_worker_never_show_the_key() {
    let rec = recorders();
    let server = Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    assert_clean("RunningServer Debug", &format!("{server:?}"));
    let (stop, worker) = spawn_worker(&server, "w-good", KEY);
    let mut seen = Vec::new();

    let good = client(KEY, &server).unwrap();
    let endpoint = good.endpoint(EP);
    seen.push(format!(
        "{good:?} {endpoint:?} {:?} {:?}",
        good.http(),
        good.http().config()
    ));

    // Success, through /runsync and through /run + wait.
    let out = endpoint.run_sync(json!({"x": 1})).await.unwrap();
    assert_eq!(out, json!({"x": 1}));
    let job = endpoint.run(json!({"y": 2})).await.unwrap();
    seen.push(format!("{job:?}"));
    let state = job
        .wait_with_timeout(Duration::from_secs(30))
        .await
        .unwrap();
    seen.push(format!("{state:?}"));
    let job_id = job.id().to_owned();

    // A job that fails, and one whose handler panics.
    let failed = endpoint
        .run_sync(json!({"fail": "boom"}))
        .timeout(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(failed.is_job_failed(), "{failed:?}");
    seen.push(shown(&failed));
    let panicked = endpoint
        .run_sync(json!({"panic": true}))
        .timeout(Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(panicked.is_job_failed(), "{panicked:?}");
    assert!(
        panicked
            .job_error()
            .is_some_and(|e| e.to_string().contains("panicked on purpose")),
        "{panicked:?}"
    );
    seen.push(shown(&panicked));

    // A wrong key: 401 on every route, reads and writes.
    let wrong = client(WRONG_KEY, &server).unwrap().endpoint(EP);
    seen.push(format!("{wrong:?}"));
    for err in [
        wrong.health().await.unwrap_err(),
        wrong.run(json!({"z": 3})).await.unwrap_err(),
        wrong.job(&job_id).status().await.unwrap_err(),
    ] {
        assert!(err.is_unauthorized(), "{err:?}");
        seen.push(shown(&err));
    }

    // A key that cannot be a header value fails as a typed error, before or at sending.
    match client(BAD_KEY, &server) {
        Err(err) => {
            assert!(err.is_config() || err.is_invalid_input(), "{err:?}");
            seen.push(shown(&err));
        }
        Ok(bad) => {
            seen.push(format!("{bad:?}"));
            let err = bad.endpoint(EP).health().await.unwrap_err();
            assert!(err.is_config() || err.is_invalid_input(), "{err:?}");
            seen.push(shown(&err));
        }
    }

    // A worker with the wrong key: job-take and ping answer 401 until it is stopped.
    let (stop_wrong, wrong_worker) = spawn_worker(&server, "w-wrong", WRONG_KEY);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = stop_wrong.send(());
    if let Ok(Err(err)) = wrong_worker.await {
        seen.push(shown(&err));
    }

    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    server.shutdown().await;

    let logs = rec.logs.text();
    // The capture is live and at TRACE: the SDK's spans for this job are in it.
    assert!(
        logs.contains(&job_id),
        "the log capture missed the SDK's own lines:\n{logs}"
    );
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "capture not at TRACE:\n{logs}"
    );
    assert!(logs.contains("401"), "the 401s were not logged:\n{logs}");
    assert_clean("the TRACE log", &logs);
    for text in &seen {
        assert_clean("an error or Debug output", text);
    }
    let panics = rec
        .panics
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .join("\n");
    assert!(
        panics.contains("panicked on purpose"),
        "the panic hook saw nothing: {panics}"
    );
    assert_clean("a panic message", &panics);
}

/// The `runpod` binary of this build: `target/<profile>/runpod`, next to `deps/`.
pub(crate) fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let bin = profile_dir.join("runpod");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p runpod-cli`; `cargo xtask test` does)",
        bin.display()
    );
    bin
}

/// Runs the CLI with a clean environment (temp HOME, no RUNPOD_* but those given) and `-vv`.
fn run_cli(home: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(cli_binary());
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .arg("-vv")
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[track_caller]
fn assert_output_clean(what: &str, out: &Output) {
    let text = format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean(what, &text);
    assert!(!text.contains("stack backtrace"), "{what}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_never_shows_the_key_even_at_trace() {
    let server = Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (stop, worker) = spawn_worker(&server, "w-cli", KEY);
    let home = tempfile::tempdir().unwrap();
    let base = server.serverless_base_url();
    let home_path = home.path().to_owned();
    let cli = move |env: Vec<(&'static str, String)>, args: Vec<&'static str>| {
        let home = home_path.clone();
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            let mut all: Vec<(&str, &str)> = vec![("RUNPOD_ENDPOINT_BASE_URL", base.as_str())];
            all.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
            run_cli(&home, &all, &args)
        })
    };

    // Success from the environment's key, with the request and polling logged at TRACE.
    let ok = cli(
        vec![("RUNPOD_API_KEY", KEY.into())],
        vec!["run", EP, "--input", r#"{"echo": 1}"#],
    )
    .await
    .unwrap();
    assert_output_clean("run with RUNPOD_API_KEY", &ok);
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stderr).contains("TRACE"),
        "-vv did not log at TRACE: {ok:?}"
    );

    // The key as a flag, and a failing job.
    let failed = cli(
        vec![],
        vec![
            "--api-key",
            KEY,
            "run",
            EP,
            "--input",
            r#"{"fail": "boom"}"#,
        ],
    )
    .await
    .unwrap();
    assert_output_clean("a failed job", &failed);
    assert!(!failed.status.success(), "{failed:?}");

    // A wrong key and a malformed one.
    for key in [WRONG_KEY, BAD_KEY] {
        let out = cli(
            vec![("RUNPOD_API_KEY", key.into())],
            vec!["run", EP, "--input", "{}"],
        )
        .await
        .unwrap();
        assert_output_clean("a rejected key", &out);
        assert!(!out.status.success(), "{out:?}");
    }

    // Storing the key, then using it from ~/.runpod/config.toml.
    let stored = cli(vec![], vec!["config", KEY]).await.unwrap();
    assert_output_clean("runpod config", &stored);
    assert!(stored.status.success(), "{stored:?}");
    let from_file = cli(vec![], vec!["run", EP, "--input", r#"{"x": 2}"#])
        .await
        .unwrap();
    assert_output_clean("run with the stored key", &from_file);
    assert!(from_file.status.success(), "{from_file:?}");

    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    server.shutdown().await;
}
