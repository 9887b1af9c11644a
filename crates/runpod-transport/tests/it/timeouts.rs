//! Attempt and operation timeouts under paused virtual time.

use std::time::Duration;

use runpod_transport::{ConfigBuilder, Method, Report, Response, Result};
use tokio::time::Instant;

use crate::support::{Reply, ScriptedServer, client_with, config, no_jitter};

/// `GET /x` through a client made from `config`, and how long it took (on the paused clock).
async fn get_x(server: &ScriptedServer, config: ConfigBuilder) -> (Result<Response>, Duration) {
    let client = client_with(config);
    let start = Instant::now();
    let sent = client.request(Method::GET, server.url("/x")).send().await;
    (sent, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn operation_deadline_shorter_than_the_backoff_fails_after_one_attempt() {
    let server = ScriptedServer::start(vec![Reply::json(503, r#"{"error":"no workers"}"#)]).await;
    let client = client_with(
        config()
            .with_retry_policy(no_jitter(5, Duration::from_secs(1)))
            .with_operation_timeout(Some(Duration::from_millis(500))),
    );
    let start = Instant::now();
    let err = client
        .request(Method::GET, server.url("/v2/ep/status/j1"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(server.hits(), 1);
    // It gives up at once instead of sleeping into the deadline.
    assert_eq!(start.elapsed(), Duration::ZERO);
    let report = Report(&err).to_string();
    assert!(
        report.starts_with("operation deadline of 500 ms exceeded: http status 503"),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn operation_deadline_allows_retries_that_fit() {
    let server = ScriptedServer::start(vec![Reply::status(503)]).await;
    let (sent, _) = get_x(
        &server,
        config()
            .with_retry_policy(no_jitter(10, Duration::from_secs(1)))
            .with_operation_timeout(Some(Duration::from_millis(3500))),
    )
    .await;
    let err = sent.unwrap_err();
    assert!(err.is_timeout());
    // t=0 (sleep 1 s), t=1 (sleep 2 s), t=3: the next 4 s sleep would overrun 3.5 s.
    assert_eq!(server.hits(), 3);
    assert_eq!(err.attempts(), Some(3));
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_cuts_a_slow_response_and_get_is_retried() {
    let server = ScriptedServer::start(vec![
        Reply::status(200).delay(Duration::from_secs(60)),
        Reply::json(200, r#"{"ok":1}"#),
    ])
    .await;
    let (sent, took) = get_x(
        &server,
        config()
            .with_attempt_timeout(Some(Duration::from_secs(2)))
            .with_retry_policy(no_jitter(2, Duration::from_millis(100))),
    )
    .await;
    assert_eq!(sent.unwrap().bytes().as_ref(), br#"{"ok":1}"#);
    assert_eq!(server.hits(), 2);
    assert_eq!(took, Duration::from_millis(2100));
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_of_a_post_is_not_retried() {
    let server =
        ScriptedServer::start(vec![Reply::status(200).delay(Duration::from_secs(60))]).await;
    let client = client_with(config().with_attempt_timeout(Some(Duration::from_secs(2))));
    let err = client
        .request(Method::POST, server.url("/v2/ep/runsync"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout() && err.is_retryable(), "{err:?}");
    assert_eq!(err.to_string(), "request attempt timed out after 2 s");
    assert_eq!(server.hits(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_attempt_timeout_waits_for_a_long_poll() {
    let server = ScriptedServer::start(vec![
        Reply::json(200, r#"{"status":"COMPLETED"}"#).delay(Duration::from_secs(90)),
    ])
    .await;
    let client = client_with(config());
    let start = Instant::now();
    let resp = client
        .request(Method::POST, server.url("/v2/ep/runsync"))
        .query("wait", 90_000)
        .with_attempt_timeout(None)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_secs(90));
    assert_eq!(server.requests()[0].target, "/v2/ep/runsync?wait=90000");
}

#[tokio::test(start_paused = true)]
async fn operation_timeout_cuts_a_hanging_request() {
    let server = ScriptedServer::start(vec![Reply::Hang]).await;
    let client = client_with(config().with_attempt_timeout(None));
    let start = Instant::now();
    let err = client
        .request(Method::GET, server.url("/x"))
        .with_operation_timeout(Some(Duration::from_secs(5)))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "operation deadline of 5 s exceeded");
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn operation_timeout_during_an_attempt_keeps_the_previous_failure() {
    let server = ScriptedServer::start(vec![Reply::status(503), Reply::Hang]).await;
    let (sent, took) = get_x(
        &server,
        config()
            .with_attempt_timeout(None)
            .with_operation_timeout(Some(Duration::from_secs(5)))
            .with_retry_policy(no_jitter(3, Duration::from_secs(1))),
    )
    .await;
    let err = sent.unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(took, Duration::from_secs(5));
    assert_eq!(server.hits(), 2);
    assert_eq!(err.attempts(), Some(2));
    assert_eq!(
        Report(&err).to_string(),
        "operation deadline of 5 s exceeded: http status 503 (service unavailable)\n  \
         request: GET /x\n  attempts: 2"
    );
}

#[tokio::test(start_paused = true)]
async fn connect_timeout_is_a_connect_error() {
    // A listener whose accept queue is full drops further SYNs, so connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(50),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break, // the queue is full
        }
    }
    let client = client_with(
        config()
            .with_connect_timeout(Some(Duration::from_secs(3)))
            .with_retry_policy(no_jitter(2, Duration::from_secs(1))),
    );
    let start = Instant::now();
    let err = client
        .request(Method::POST, format!("http://{addr}/run"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // Two attempts of 3 s and one backoff of 1 s: a connect failure is retried even for POST.
    assert_eq!(start.elapsed(), Duration::from_secs(7));
    assert_eq!(err.attempts(), Some(2));
    drop(listener);
}
