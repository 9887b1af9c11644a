//! Every class of failure: its exit code and its one line on stderr.

use httpmock::MockServer;
use serde_json::json;

use crate::support::{Cli, EP, KEY};

fn cli(server: &MockServer) -> Cli {
    Cli::with_key()
        .env("RUNPOD_ENDPOINT_BASE_URL", &server.url("/v2"))
        .env("RUNPOD_API_BASE_URL", &server.base_url())
}

#[test]
fn usage_errors_exit_2() {
    let run = Cli::with_key().run_blocking(&["run"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("<ENDPOINT>"), "{run:?}");

    let run = Cli::with_key().run_blocking(&["pods", "list", "--output", "yaml"], None);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn invalid_json_input_exits_2_before_any_request() {
    // Port 1 refuses connections: reaching it would be a network error (7), not 2.
    let cli = Cli::with_key().env("RUNPOD_ENDPOINT_BASE_URL", "http://127.0.0.1:1/v2");
    let line = cli
        .run_blocking(&["run", EP, "--input", "{\"prompt\": }"], None)
        .fails(2)
        .to_owned();
    assert_eq!(
        line,
        "error: --input is not valid JSON (line 1, column 12): expected value"
    );
    let run = cli.run_blocking(&["run", EP], Some("not json"));
    assert!(run.fails(2).contains("stdin is not valid JSON"), "{run:?}");
    let run = cli.run_blocking(&["run", EP, "--input", "{}", "--ttl", "1s"], None);
    assert!(run.fails(2).contains("ttl"), "{run:?}");
}

#[test]
fn a_missing_key_exits_3_and_says_how_to_set_one() {
    let run = Cli::new()
        .env("RUNPOD_ENDPOINT_BASE_URL", "http://127.0.0.1:1/v2")
        .run_blocking(&["endpoint", "health", EP], None);
    assert_eq!(
        run.fails(3),
        "error: no API key: run `runpod config` to store one, set RUNPOD_API_KEY, or pass --api-key"
    );
}

#[test]
fn an_unknown_profile_exits_3() {
    let run = Cli::new().run_blocking(&["pods", "list", "--profile", "nope"], None);
    assert!(run.fails(3).contains("nope"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_exits_4_without_showing_the_key() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(format!("/v2/{EP}/health"));
            then.status(401).body("Unauthorized");
        })
        .await;
    let run = cli(&server).run(&["endpoint", "health", EP]).await;
    assert_eq!(
        run.fails(4),
        "error: health of endpoint ep-cli: the API key was refused (401 unauthorized); check it with `runpod config` or RUNPOD_API_KEY"
    );
    // The detailed report of -v still keeps the key out.
    let verbose = cli(&server).run(&["endpoint", "health", EP, "-v"]).await;
    assert_eq!(verbose.code, 4);
    verbose.no_secrets();
    assert!(verbose.stderr.contains("401"), "{verbose:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_exits_5_and_names_the_id() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(format!("/v2/{EP}/status/job-gone"));
            then.status(404)
                .json_body(json!({"error": "request does not exist"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method("GET").path("/v2/templates/tpl-404");
            then.status(404).json_body(json!({
                "title": "Not Found", "status": 404, "detail": "template tpl-404 not found"
            }));
        })
        .await;
    let run = cli(&server).run(&["job", "status", EP, "job-gone"]).await;
    assert_eq!(
        run.fails(5),
        "error: status of job job-gone on endpoint ep-cli: not found (404): request does not exist; the job id is unknown, or its result or ttl expired"
    );
    let run = cli(&server).run(&["templates", "get", "tpl-404"]).await;
    assert_eq!(
        run.fails(5),
        "error: get template tpl-404: not found (404): template tpl-404 not found; check the id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_exits_6_after_the_retries() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("GET").path("/v2/pods");
            then.status(429)
                .json_body(json!({"title": "Too Many Requests", "status": 429}));
        })
        .await;
    let run = cli(&server).run(&["pods", "list"]).await;
    let line = run.fails(6);
    assert!(
        line.starts_with("error: list pods: rate limited by the API (429)"),
        "{line}"
    );
    assert!(line.ends_with("try again later"), "{line}");
    // The transport's default policy: three attempts.
    mock.assert_calls_async(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_exit_6() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path(format!("/v2/{EP}/purge-queue"));
            then.status(500)
                .json_body(json!({"error": "database on fire"}));
        })
        .await;
    let run = cli(&server).run(&["endpoint", "purge-queue", EP]).await;
    assert_eq!(
        run.fails(6),
        "error: purge the queue of endpoint ep-cli: server error 500 (internal server error): database on fire; try again later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_error_exits_6_with_the_servers_reason() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/templates");
            then.status(422).json_body(json!({
                "title": "Unprocessable Entity", "status": 422,
                "detail": "image: must not be empty"
            }));
        })
        .await;
    let run = cli(&server)
        .run(&["templates", "create", "--name", "t", "--image", " "])
        .await;
    assert_eq!(
        run.fails(6),
        "error: create template t: http status 422 (unprocessable entity): image: must not be empty"
    );
}

#[test]
fn no_connection_exits_7() {
    let run = Cli::with_key().run_blocking(
        &[
            "--endpoint-url",
            "http://127.0.0.1:1/v2",
            "endpoint",
            "health",
            EP,
        ],
        None,
    );
    assert_eq!(
        run.fails(7),
        "error: health of endpoint ep-cli: cannot connect to http://127.0.0.1:1/v2; check the network, or --api-url / --endpoint-url"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_timed_out_on_the_server_exits_10() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(format!("/v2/{EP}/status/slow-1"));
            then.status(200)
                .json_body(json!({"id": "slow-1", "status": "TIMED_OUT"}));
        })
        .await;
    let run = cli(&server).run(&["job", "wait", EP, "slow-1"]).await;
    assert_eq!(
        run.fails(10),
        "error: job slow-1 timed out: it ran past its execution timeout on the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sends_the_job_options() {
    let server = MockServer::start_async().await;
    let run_mock = server
        .mock_async(|when, then| {
            when.method("POST")
                .path(format!("/v2/{EP}/run"))
                .header("authorization", format!("Bearer {KEY}"))
                .json_body(json!({
                    "input": {"prompt": "hi"},
                    "webhook": "https://example.com/hook",
                    "policy": {"ttl": 60000, "executionTimeout": 120000, "lowPriority": true}
                }));
            then.status(200)
                .json_body(json!({"id": "job-9", "status": "IN_QUEUE"}));
        })
        .await;
    let run = cli(&server)
        .run(&[
            "run",
            EP,
            "--input",
            r#"{"prompt": "hi"}"#,
            "--webhook",
            "https://example.com/hook",
            "--ttl",
            "1m",
            "--execution-timeout",
            "2m",
            "--low-priority",
            "--no-wait",
        ])
        .await;
    assert_eq!(run.ok(), "job-9\n");
    run_mock.assert_calls_async(1).await;
}
