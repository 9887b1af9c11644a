//! Every error body shape, decoded into `Error` and printed with `Report` (insta snapshots).

use httpmock::Method::GET;
use httpmock::MockServer;
use runpod_transport::{Error, Method, Report, RetryPolicy};
use serde_json::json;

use crate::support::{client_with, config};

/// GETs `path` from a mock answering `status`, `content_type` and `body`, without retries.
async fn fail_with(status: u16, headers: &[(&str, &str)], body: &str) -> Error {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/pods/abc");
            let mut then = then.status(status).body(body);
            for (k, v) in headers {
                then = then.header(*k, *v);
            }
        })
        .await;
    client_with(config())
        .request(Method::GET, server.url("/v2/pods/abc"))
        .query("include", "machine")
        .with_retry(RetryPolicy::none())
        .send()
        .await
        .unwrap_err()
}

#[tokio::test]
async fn rest_v2_problem_json() {
    let err = fail_with(
        422,
        &[
            ("content-type", "application/problem+json"),
            ("x-request-id", "req-422"),
        ],
        r#"{"type":"https://docs.runpod.io/errors/validation","title":"Unprocessable Entity",
            "status":422,"detail":"Request validation failed.",
            "errors":["$: additional properties 'bogus' not allowed","$.gpu.count: must be >= 1"]}"#,
    )
    .await;
    assert!(err.is_status() && !err.is_retryable());
    assert_eq!(err.request_id(), Some("req-422"));
    let api = err.api_error().unwrap();
    assert_eq!(api.title.as_deref(), Some("Unprocessable Entity"));
    assert_eq!(api.errors.len(), 2);
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn rest_v1_message() {
    let err = fail_with(
        404,
        &[("request-id", "r-404")],
        r#"{"message":"pod not found"}"#,
    )
    .await;
    assert!(err.is_not_found());
    assert_eq!(err.request_id(), Some("r-404"));
    assert_eq!(
        err.api_error().unwrap().message.as_deref(),
        Some("pod not found")
    );
    assert_eq!(
        err.to_string(),
        "http status 404 (not found): pod not found"
    );
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn queue_api_error_field() {
    let err = fail_with(400, &[], r#"{"error":"not allowed for QB API"}"#).await;
    assert_eq!(
        err.api_error().unwrap().message.as_deref(),
        Some("not allowed for QB API")
    );
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn unauthorized_problem() {
    let err = fail_with(
        401,
        &[],
        r#"{"title":"Unauthorized","status":401,"detail":"missing bearer token"}"#,
    )
    .await;
    assert!(err.is_unauthorized());
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let err = fail_with(
        429,
        &[
            ("retry-after", "12"),
            ("ratelimit", r#""minute";r=0;t=12, "hour";r=2800;t=1812"#),
            ("ratelimit-policy", r#""minute";q=60;w=60, "hour";q=3000;w=3600"#),
        ],
        r#"{"title":"Too Many Requests","status":429,"detail":"rate limit exceeded for the minute window"}"#,
    )
    .await;
    assert!(err.is_rate_limited() && err.is_retryable());
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(12)));
    let rl = err.rate_limit().unwrap();
    assert_eq!((rl.limit, rl.remaining), (Some(60), Some(0)));
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn html_502_from_a_proxy() {
    let html = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n\
                </body>\r\n</html>\r\n";
    let err = fail_with(502, &[("content-type", "text/html")], html).await;
    assert!(err.is_status() && err.is_retryable());
    assert!(err.api_error().is_none());
    assert_eq!(err.body(), Some(html));
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn huge_non_json_body_is_truncated_to_4k() {
    let body = "x".repeat(10_000);
    let err = fail_with(500, &[], &body).await;
    assert_eq!(err.body().map(str::len), Some(4096));
    let report = Report(&err).to_string();
    assert!(report.ends_with(" [1024 of 10000 bytes]"), "{report}");
    assert!(report.len() < 1200);
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Pod {
    id: String,
    machine: Machine,
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Machine {
    #[serde(rename = "gpuCount")]
    gpu_count: u32,
}

async fn decode_from(body: &str) -> Error {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/pods/abc");
            then.status(200)
                .header("content-type", "application/json")
                .header("x-request-id", "req-ok")
                .body(body);
        })
        .await;
    client_with(config())
        .request(Method::GET, server.url("/v2/pods/abc"))
        .send_json::<Pod>()
        .await
        .unwrap_err()
}

#[tokio::test]
async fn decode_error_names_the_json_path() {
    let err = decode_from(r#"{"id":"abc","machine":{"gpuCount":"two"}}"#).await;
    assert!(err.is_decode() && !err.is_retryable());
    assert_eq!(err.json_path(), Some("machine.gpuCount"));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(200));
    assert_eq!(err.request_id(), Some("req-ok"));
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn truncated_json_body() {
    let err = decode_from(r#"{"id":"abc","machine":{"gpuCo"#).await;
    assert!(err.is_decode());
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn non_json_success_body() {
    let err = decode_from("OK").await;
    assert!(err.is_decode());
    assert_eq!(err.body(), Some("OK"));
    insta::assert_snapshot!(Report(&err).to_string());
}

#[tokio::test]
async fn empty_2xx_body_decodes_as_null() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/x");
            then.status(204);
        })
        .await;
    let resp = client_with(config())
        .request(Method::GET, server.url("/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    resp.json::<()>().unwrap();
    assert_eq!(resp.json::<Option<Pod>>().unwrap().map(|p| p.id), None);
    assert!(resp.json::<Pod>().unwrap_err().is_decode());
}

#[test]
fn job_outcomes() {
    // What the Python worker sends when a handler raises: the error is a JSON *string*.
    let worker_error = json!(
        "{\"error_type\": \"<class 'ValueError'>\", \"error_message\": \"prompt is empty\", \
         \"error_traceback\": \"Traceback (most recent call last): ...\", \
         \"hostname\": \"abc-123\", \"worker_id\": \"w-1\", \"runpod_version\": \"1.12.0\"}"
    );
    let failed = Error::job_ended("job-42", "FAILED", Some(worker_error));
    assert!(failed.is_job_failed() && failed.is_job_outcome() && !failed.is_retryable());
    assert_eq!(failed.job_error().unwrap()["worker_id"], "w-1");
    insta::assert_snapshot!("job_failed", Report(&failed).to_string());

    let cancelled = Error::job_ended("job-43", "CANCELLED", None);
    assert!(cancelled.is_job_cancelled() && cancelled.is_job_outcome());
    let timed_out = Error::job_ended(
        "job-44",
        "TIMED_OUT",
        Some(json!({"error": "exceeded 600s"})),
    );
    assert!(timed_out.is_job_timed_out() && !timed_out.is_timeout());
    insta::assert_snapshot!(
        "job_cancelled_and_timed_out",
        format!("{}\n{}", Report(&cancelled), Report(&timed_out))
    );

    let wait = Error::wait_timeout("job-45");
    assert!(wait.is_timeout() && !wait.is_job_outcome());
    assert_eq!(wait.to_string(), "timed out waiting for job job-45");
}

#[tokio::test]
async fn errors_from_transport_carry_a_job_id_when_tagged() {
    let err = fail_with(500, &[], "{}").await.with_job_id("job-9");
    assert_eq!(err.job_id(), Some("job-9"));
    assert!(err.is_status());
}

#[tokio::test]
async fn invalid_input_is_reported_before_sending() {
    let client = client_with(config());
    let err = client
        .request(Method::GET, "not a url")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    let err = client
        .request(Method::GET, "http://127.0.0.1:9/x")
        .header("bad header", "v")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_invalid_input());
    assert_eq!(
        err.to_string(),
        "invalid input: `bad header` is not a valid header name"
    );
}

/// No HTTP-stack insides (type names, its own layers) in what a person reads.
fn assert_plain(err: &Error) {
    let shown = format!("{}\n{err:?}", Report(err));
    for inside in [
        "reqwest",
        "hyper",
        "error sending request",
        "client error",
        "os error",
        "Kind(",
    ] {
        assert!(!shown.contains(inside), "{inside:?} in {shown}");
    }
}

#[tokio::test]
async fn connection_refused_says_what_was_tried() {
    // A port that was just free: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = client_with(config())
        .request(
            Method::GET,
            format!("http://127.0.0.1:{port}/v2/ep/health?secret=1"),
        )
        .with_retry(RetryPolicy::none())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() && err.is_retryable());
    assert_eq!(err.target(), Some(&*format!("127.0.0.1:{port}")));
    assert_eq!(
        err.to_string(),
        format!("connect to 127.0.0.1:{port}: connection refused")
    );
    assert_eq!(
        format!("{err:?}"),
        format!("connect to 127.0.0.1:{port}: connection refused\n  request: GET /v2/ep/health")
    );
    assert_plain(&err);
}

#[tokio::test]
async fn a_connection_closed_mid_request_is_network_in_plain_words() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Read the request, then hang up without answering.
        if let Ok((mut socket, _)) = listener.accept().await {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
        }
    });
    let err = client_with(config())
        .request(Method::GET, format!("http://{addr}/v2/ep/health"))
        .with_retry(RetryPolicy::none())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_network(), "{err:?}");
    assert_eq!(err.target(), Some(&*addr.to_string()));
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("connection to {addr} broke during the request: ")),
        "{shown}"
    );
    assert_plain(&err);
}

#[tokio::test]
async fn a_redirect_loop_is_its_own_kind() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/loop");
            then.status(302).header("location", "/loop");
        })
        .await;
    let err = client_with(config())
        .request(Method::GET, server.url("/loop"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.is_redirect() && !err.is_network() && !err.is_retryable(),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "redirect from {} failed: too many redirects",
            server.address()
        )
    );
    assert_plain(&err);
}
