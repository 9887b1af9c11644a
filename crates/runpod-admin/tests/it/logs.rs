//! Log streams over server-sent events, resumed with `Last-Event-ID` across connections.

use futures_util::StreamExt as _;
use httpmock::MockServer;
use runpod_admin::rest::LogSource;

use crate::support::client;

fn event(id: &str, line: &str) -> String {
    format!(
        "id: {id}\ndata: {{\"ts\":\"2026-06-01T12:00:00Z\",\"source\":\"container\",\"line\":\"{line}\"}}\n\n"
    )
}

#[tokio::test]
async fn resumes_after_the_last_event_when_the_server_closes_the_stream() {
    let server = MockServer::start_async().await;
    // `retry: 5` keeps the reconnect delays of this test short.
    let first = server
        .mock_async(|when, then| {
            when.method("GET")
                .path("/v2/pods/p1/logs")
                .query_param("tail", "2")
                .header_missing("last-event-id");
            then.status(200)
                .header("content-type", "text/event-stream")
                .body(format!(
                    "retry: 5\n\n{}: keep-alive\n\n{}",
                    event("e1", "one"),
                    event("e2", "two")
                ));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method("GET")
                .path("/v2/pods/p1/logs")
                .header("last-event-id", "e2");
            then.status(200)
                .header("content-type", "text/event-stream")
                .body(format!(
                    "event: heartbeat\ndata: {{}}\n\n{}",
                    event("e3", "three")
                ));
        })
        .await;
    let quiet = server
        .mock_async(|when, then| {
            when.method("GET")
                .path("/v2/pods/p1/logs")
                .header("last-event-id", "e3");
            then.status(200)
                .header("content-type", "text/event-stream")
                .body("");
        })
        .await;

    let lines: Vec<_> = client(&server)
        .pods()
        .logs("p1")
        .tail(2)
        .stream()
        .collect()
        .await;
    let lines: Vec<(Option<String>, String)> = lines
        .into_iter()
        .map(|l| l.unwrap())
        .map(|l| (l.id, l.line))
        .collect();
    assert_eq!(
        lines,
        [
            (Some("e1".into()), "one".into()),
            (Some("e2".into()), "two".into()),
            (Some("e3".into()), "three".into())
        ]
    );
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;
    // After three connections in a row with nothing new, the stream ends.
    quiet.assert_calls_async(3).await;
}

#[tokio::test]
async fn worker_logs_decode_each_field_and_keep_unknown_ones() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path("/v2/serverless/ep1/workers/w1/logs").query_param("source", "system");
            then.status(200).header("content-type", "text/event-stream").body(
                "id: c1\ndata: {\"ts\":\"2026-06-01T12:00:00Z\",\"source\":\"system\",\"line\":\"pulling\",\"level\":\"info\"}\n\n",
            );
        })
        .await;
    let mut stream = std::pin::pin!(
        client(&server)
            .endpoints()
            .worker_logs("ep1", "w1")
            .source(LogSource::System)
            .stream()
    );
    let line = stream.next().await.unwrap().unwrap();
    assert_eq!(line.source, Some(LogSource::System));
    assert_eq!(line.ts.as_deref(), Some("2026-06-01T12:00:00Z"));
    assert_eq!(line.line, "pulling");
    assert_eq!(line.extra["level"], "info");
}

#[tokio::test]
async fn data_that_is_not_a_log_line_is_a_decode_error_item() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path("/v2/pods/p1/logs");
            then.status(200)
                .header("content-type", "text/event-stream")
                .body("id: x\ndata: not json\n\n");
        })
        .await;
    let mut stream = std::pin::pin!(client(&server).pods().logs("p1").stream());
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(err.is_decode(), "{err:?}");
}

#[tokio::test]
async fn an_error_status_ends_the_stream_with_that_error() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method("GET").path("/v2/pods/gone/logs");
            then.status(404)
                .json_body(crate::support::problem(404, "Not Found", "pod not found"));
        })
        .await;
    let items: Vec<_> = client(&server).pods().logs("gone").stream().collect().await;
    assert_eq!(items.len(), 1);
    assert!(items[0].as_ref().unwrap_err().is_not_found());
    mock.assert_calls_async(1).await;
}
