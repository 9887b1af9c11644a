//! Server-sent events against a server that drops the connection mid-stream.

use std::time::Duration;

use futures_util::StreamExt;
use runpod_transport::{Error, Method, SseEvent};

use crate::support::{Reply, ScriptedServer, client_with, config, no_jitter};

async fn collect(server: &ScriptedServer, attempts: u32) -> Vec<Result<SseEvent, Error>> {
    client_with(config().with_retry_policy(no_jitter(attempts, Duration::from_millis(250))))
        .request(Method::GET, server.url("/v2/pods/p1/logs"))
        .send_sse()
        .collect()
        .await
}

fn data(items: &[Result<SseEvent, Error>]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Ok(e) => e.data.clone(),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn reconnects_with_last_event_id_after_a_drop() {
    let server = ScriptedServer::start(vec![
        Reply::sse(
            &[
                ": hello\n",
                "retry: 3000\nid: 1\ndata: one\n\n",
                "id: 2\nevent: log\ndata: two\ndata: lines\n\n",
                "id: 3\ndata: never completed",
            ],
            false,
        ),
        Reply::sse(&["id: 4\ndata: four\n\n"], true),
    ])
    .await;
    let items = collect(&server, 3).await;
    assert_eq!(data(&items), ["one", "two\nlines", "four"]);
    let second = items[1].as_ref().unwrap();
    assert_eq!(second.id.as_deref(), Some("2"));
    assert_eq!(second.event.as_deref(), Some("log"));
    assert_eq!(
        items[0].as_ref().unwrap().retry,
        Some(Duration::from_secs(3))
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "a clean end does not reconnect");
    assert_eq!(requests[0].header("last-event-id"), None);
    assert_eq!(requests[0].header("accept"), Some("text/event-stream"));
    // The half-received event 3 was dropped, so the resume point is 2.
    assert_eq!(requests[1].header("last-event-id"), Some("2"));
    // The server's `retry:` sets the reconnect delay.
    assert_eq!(server.gaps(), [Duration::from_secs(3)]);
}

#[tokio::test(start_paused = true)]
async fn reconnect_uses_backoff_without_retry_field() {
    let server = ScriptedServer::start(vec![
        Reply::sse(&["data: a\n\n"], false),
        Reply::sse(&["data: b\n\n"], true),
    ])
    .await;
    let items = collect(&server, 3).await;
    assert_eq!(data(&items), ["a", "b"]);
    assert_eq!(server.gaps(), [Duration::from_millis(250)]);
}

#[tokio::test(start_paused = true)]
async fn reconnects_are_bounded() {
    let server = ScriptedServer::start(vec![Reply::sse(&[": nothing yet\n"], false)]).await;
    let items = collect(&server, 3).await;
    assert_eq!(items.len(), 1);
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), runpod_transport::ErrorKind::Network, "{err:?}");
    assert_eq!(err.attempts(), Some(3));
    assert_eq!(server.hits(), 3);
    // Backoff between reconnects: 250 ms, then 500 ms.
    assert_eq!(
        server.gaps(),
        [Duration::from_millis(250), Duration::from_millis(500)]
    );
}

#[tokio::test(start_paused = true)]
async fn events_reset_the_reconnect_budget() {
    // Each connection yields an event and then breaks: with 2 attempts, a budget that
    // did not reset would give up after the second break.
    let server = ScriptedServer::start(vec![
        Reply::sse(&["id: 1\ndata: a\n\n"], false),
        Reply::sse(&["id: 2\ndata: b\n\n"], false),
        Reply::sse(&["id: 3\ndata: c\n\n"], false),
        Reply::sse(&["id: 4\ndata: d\n\n"], true),
    ])
    .await;
    let items = collect(&server, 2).await;
    assert_eq!(data(&items), ["a", "b", "c", "d"]);
    let ids: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("last-event-id").map(str::to_owned))
        .collect();
    assert_eq!(
        ids,
        [None, Some("1".into()), Some("2".into()), Some("3".into())]
    );
}

#[tokio::test(start_paused = true)]
async fn no_content_ends_the_stream() {
    let server = ScriptedServer::start(vec![Reply::status(204)]).await;
    assert!(collect(&server, 3).await.is_empty());
    assert_eq!(server.hits(), 1);
}

#[tokio::test(start_paused = true)]
async fn error_status_is_one_error_item() {
    let server = ScriptedServer::start(vec![Reply::json(
        404,
        r#"{"title":"Not Found","status":404,"detail":"pod not found"}"#,
    )])
    .await;
    let items = collect(&server, 3).await;
    assert_eq!(items.len(), 1);
    let err = items[0].as_ref().unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "http status 404 (not found): pod not found"
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test(start_paused = true)]
async fn operation_timeout_bounds_the_whole_stream() {
    let server = ScriptedServer::start(vec![Reply::sse(&["data: a\n\n"], false)]).await;
    let items: Vec<_> =
        client_with(config().with_retry_policy(no_jitter(100, Duration::from_secs(1))))
            .request(Method::GET, server.url("/s"))
            .with_operation_timeout(Some(Duration::from_millis(2500)))
            .send_sse()
            .collect()
            .await;
    // Connections at t=0, 1 s (backoff resets after each event), 2 s; the next sleep would
    // pass 2.5 s.
    assert_eq!(data(&items[..3]), ["a", "a", "a"]);
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(last.is_timeout(), "{last:?}");
    assert_eq!(server.hits(), 3);
}
