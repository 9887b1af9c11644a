//! Start-up against runpod-local: the initializer and fitness checks run before any take; a
//! failure is reported unhealthy (visible in `/health` and runpod-local's log) and strands no job.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runpod_serverless::worker::{Job, Shared, Worker, WorkerEnv};
use runpod_serverless::{Config, JobStatus, PollPolicy, ServerlessClient};
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use super::platform::Running;
use crate::support::client_with;

const EP: &str = "ep";
const WAIT: Duration = Duration::from_secs(10);

/// Every log line written while it is the default subscriber (the test runtime has one thread,
/// so runpod-local's tasks log here too).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}

async fn server() -> runpod_local::RunningServer {
    runpod_local::Server::builder()
        .hold_time(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn env(server: &runpod_local::RunningServer, worker: &str) -> WorkerEnv {
    let mut vars = server.worker_env(EP, worker);
    vars.push(("RUNPOD_PING_INTERVAL".to_owned(), "200".to_owned()));
    WorkerEnv::from_vars(vars)
}

fn client(server: &runpod_local::RunningServer) -> ServerlessClient {
    let config = Config::builder()
        .with_api_key("k")
        .with_serverless_base_url(server.serverless_base_url())
        .build()
        .unwrap();
    client_with(config, PollPolicy::fixed(Duration::from_millis(20)))
}

async fn echo(job: Job<Value>) -> Result<Value, String> {
    Ok(job.input().clone())
}

/// `/health` as JSON, read through our client.
async fn health(server: &runpod_local::RunningServer) -> Value {
    let health = client(server).endpoint(EP).health().await.unwrap();
    serde_json::to_value(health).unwrap()
}

#[tokio::test]
async fn a_failing_initializer_takes_no_job_and_reports_unhealthy() {
    let (logs, _guard) = capture();
    let server = server().await;
    let ep = client(&server).endpoint(EP);
    let job = ep.run(json!({"n": 1})).await.unwrap();

    let cell = Shared::<String>::new();
    let handler_cell = cell.clone();
    let result = tokio::time::timeout(
        WAIT,
        Worker::builder(move |job: Job<Value>| {
            let cell = handler_cell.clone();
            async move { Ok::<_, String>(json!([cell.get().clone(), job.input().clone()])) }
        })
        .with_initializer(&cell, || async {
            Err::<String, _>("weights missing: /models/x")
        })
        .with_env(env(&server, "sick"))
        .run(),
    )
    .await
    .expect("the worker stops by itself");
    let error = result.unwrap_err();
    assert!(error.is_unexpected_state(), "{error}");
    assert_eq!(error.state(), Some("UNHEALTHY"));

    assert_eq!(
        job.status().await.unwrap().status.unwrap(),
        JobStatus::InQueue,
        "no job was taken"
    );
    let health = health(&server).await;
    assert_eq!(health["workers"]["unhealthy"], 1, "{health}");
    assert_eq!(health["jobs"]["inQueue"], 1, "{health}");
    let log = logs.text();
    let line = log
        .lines()
        .find(|l| l.contains("worker reports a failed fitness check"))
        .unwrap_or_else(|| panic!("runpod-local logged no report:\n{log}"));
    assert!(line.contains(r#"worker="sick""#), "{line}");
    assert!(line.contains(r#"check="initializer""#), "{line}");
    assert!(line.contains("weights missing: /models/x"), "{line}");

    // A healthy worker under another id then serves the job.
    let healthy = Running::spawn(Worker::builder(echo).with_env(env(&server, "well")));
    let output: Value = job.output_with_timeout(WAIT).await.unwrap();
    assert_eq!(output, json!({"n": 1}));
    healthy.shutdown().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_initializer_that_finishes_in_time_serves_jobs_with_its_value() {
    let server = server().await;
    let ep = client(&server).endpoint(EP);
    let job = ep.run(json!("x")).await.unwrap();
    let cell = Shared::<String>::new();
    let handler_cell = cell.clone();
    let worker = Running::spawn(
        Worker::builder(move |job: Job<String>| {
            let cell = handler_cell.clone();
            async move { Ok::<_, String>(format!("{}:{}", cell.get(), job.input())) }
        })
        .with_initializer(&cell, || async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok::<_, String>("model".to_owned())
        })
        .with_fitness_check("disk space", || async { Ok::<_, String>(()) })
        .with_init_timeout(Duration::from_secs(5))
        .with_env(env(&server, "w1")),
    );
    let output: String = job.output_with_timeout(WAIT).await.unwrap();
    assert_eq!(output, "model:x");
    worker.shutdown().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_fitness_check_failure_or_a_timeout_is_reported_under_its_check() {
    let (logs, _guard) = capture();
    let server = server().await;
    let job = client(&server).endpoint(EP).run(json!(1)).await.unwrap();

    let failing = Worker::builder(echo)
        .with_fitness_check("GPU visible", || async { Err::<(), _>("no CUDA device") })
        .with_env(env(&server, "no-gpu"))
        .run()
        .await;
    assert!(failing.unwrap_err().is_unexpected_state());

    let cell = Shared::<u8>::new();
    let slow = Worker::builder(echo)
        .with_initializer(&cell, || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, String>(1)
        })
        .with_init_timeout(Duration::from_millis(200))
        .with_env(env(&server, "slow"))
        .run();
    let slow = tokio::time::timeout(WAIT, slow)
        .await
        .expect("the timeout ends it");
    assert!(slow.unwrap_err().is_unexpected_state());

    let panicking = Worker::builder(echo)
        .with_fitness_check("disk space", || async {
            if true {
                panic!("statvfs failed");
            }
            Ok::<(), String>(())
        })
        .with_env(env(&server, "panicky"))
        .run()
        .await;
    assert!(panicking.unwrap_err().is_unexpected_state());

    assert_eq!(
        job.status().await.unwrap().status.unwrap(),
        JobStatus::InQueue
    );
    assert_eq!(health(&server).await["workers"]["unhealthy"], 3);
    let log = logs.text();
    for (worker, check, reason) in [
        ("no-gpu", "GPU visible", "no CUDA device"),
        (
            "slow",
            "initializer",
            "did not finish within the start-up limit of 200ms",
        ),
        ("panicky", "disk space", "panicked: statvfs failed"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("worker reports a failed fitness check")
                    && l.contains(&format!("worker=\"{worker}\""))
                    && l.contains(check)
                    && l.contains(reason)),
            "{worker}: {check}: {reason} not in:\n{log}"
        );
    }
    server.shutdown().await;
}
