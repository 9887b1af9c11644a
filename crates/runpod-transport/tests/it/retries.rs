//! Retry classes, idempotency and backoff timing.

use std::time::Duration;

use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use runpod_transport::{Method, RetryPolicy};
use tokio::net::TcpListener;

use crate::support::{
    Reply, ScriptedServer, client_with, config, fast_client, no_jitter, refused_port,
};

#[tokio::test(start_paused = true)]
async fn get_503_then_200_is_retried() {
    let server = ScriptedServer::start(vec![
        Reply::json(503, r#"{"error":"no workers"}"#),
        Reply::json(200, r#"{"ok":true}"#),
    ])
    .await;
    let client = client_with(config());
    let resp = client
        .request(Method::GET, server.url("/v2/ep/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().as_ref(), br#"{"ok":true}"#);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn post_503_is_sent_exactly_once() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/ep/run");
            then.status(503).body(r#"{"error":"busy"}"#);
        })
        .await;
    let err = fast_client()
        .request(Method::POST, server.url("/v2/ep/run"))
        .json(&serde_json::json!({"input": {}}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_status() && err.is_retryable(), "{err:?}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn post_marked_idempotent_is_retried_on_503() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/ep/purge-queue");
            then.status(503);
        })
        .await;
    let err = fast_client()
        .request(Method::POST, server.url("/v2/ep/purge-queue"))
        .idempotent(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), Some(3));
    mock.assert_calls_async(3).await;
}

#[tokio::test]
async fn retry_classes_by_status_and_method() {
    let server = MockServer::start_async().await;
    let client = fast_client();
    // (status, GET hits, POST hits) with 3 attempts.
    let table = [
        (408, 3, 1),
        (429, 3, 3),
        (500, 3, 1),
        (502, 3, 1),
        (503, 3, 1),
        (504, 3, 1),
        (400, 1, 1),
        (401, 1, 1),
        (403, 1, 1),
        (404, 1, 1),
        (409, 1, 1),
        (422, 1, 1),
    ];
    for (status, get_hits, post_hits) in table {
        let path = format!("/status/{status}");
        let get = server
            .mock_async(|when, then| {
                when.method(GET).path(path.clone());
                then.status(status);
            })
            .await;
        let post = server
            .mock_async(|when, then| {
                when.method(POST).path(path.clone());
                then.status(status);
            })
            .await;
        let e = client
            .request(Method::GET, server.url(&path))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(e.is_retryable(), get_hits > 1, "{status}");
        client
            .request(Method::POST, server.url(&path))
            .send()
            .await
            .unwrap_err();
        assert_eq!(get.calls_async().await, get_hits, "GET {status}");
        assert_eq!(post.calls_async().await, post_hits, "POST {status}");
    }
}

#[tokio::test(start_paused = true)]
async fn broken_connection_is_retried_for_get_only() {
    let server = ScriptedServer::start(vec![Reply::Close]).await;
    let client = client_with(config().with_retry_policy(no_jitter(3, Duration::from_millis(10))));

    let err = client
        .request(Method::GET, server.url("/x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), runpod_transport::ErrorKind::Network, "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(server.hits(), 3);

    let err = client
        .request(Method::POST, server.url("/x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), runpod_transport::ErrorKind::Network, "{err:?}");
    assert!(
        err.is_network() && !err.is_connect(),
        "outcome unknown, not refused: {err:?}"
    );
    assert_eq!(
        server.hits(),
        4,
        "a POST whose connection broke is not resent"
    );
}

#[tokio::test(start_paused = true)]
async fn post_with_connection_refused_is_retried() {
    // Nothing listens on the port at first; the server appears during the backoff, so the
    // request can only succeed if the refused POST was retried.
    let (_, addr) = refused_port().await;
    let client = client_with(config().with_retry_policy(no_jitter(3, Duration::from_secs(1))));
    let request = client
        .request(Method::POST, format!("http://{addr}/v2/ep/run"))
        .json(&serde_json::json!({"input": {"n": 1}}));
    let appear_later = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        ScriptedServer::start_on(listener, vec![Reply::json(200, r#"{"id":"job-1"}"#)])
    };
    let (result, server) = tokio::join!(request.send(), appear_later);
    let resp = result.unwrap();
    assert_eq!(resp.json::<serde_json::Value>().unwrap()["id"], "job-1");
    assert_eq!(server.hits(), 1);
    assert_eq!(server.requests()[0].method, "POST");
    assert_eq!(server.requests()[0].body, br#"{"input":{"n":1}}"#);
}

#[tokio::test(start_paused = true)]
async fn connection_refused_exhausts_attempts_as_connect_error() {
    let (port, _) = refused_port().await;
    let client = client_with(config().with_retry_policy(no_jitter(2, Duration::from_millis(5))));
    let err = client
        .request(Method::POST, format!("http://127.0.0.1:{port}/run"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.attempts(), Some(2));
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_waited_exactly() {
    let server = ScriptedServer::start(vec![
        Reply::json(429, r#"{"title":"Too Many Requests","status":429}"#)
            .header("retry-after", "2"),
        Reply::json(200, "{}"),
    ])
    .await;
    // A POST: 429 means the server refused it, so it is retried too.
    let client = client_with(config());
    let start = tokio::time::Instant::now();
    client
        .request(Method::POST, server.url("/v2/ep/run"))
        .send()
        .await
        .unwrap();
    assert_eq!(server.gaps(), [Duration::from_secs(2)]);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_is_measured_against_the_date_header() {
    let server = ScriptedServer::start(vec![
        Reply::status(503)
            .header("date", "Wed, 21 Oct 2015 07:28:00 GMT")
            .header("retry-after", "Wed, 21 Oct 2015 07:28:03 GMT"),
        Reply::status(204),
    ])
    .await;
    let resp = client_with(config())
        .request(Method::GET, server.url("/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(server.gaps(), [Duration::from_secs(3)]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped_by_the_policy() {
    let server = ScriptedServer::start(vec![
        Reply::status(429).header("retry-after", "3600"),
        Reply::status(200),
    ])
    .await;
    let policy = RetryPolicy::builder()
        .with_max_retry_after(Duration::from_secs(5))
        .build()
        .unwrap();
    client_with(config().with_retry_policy(policy))
        .request(Method::GET, server.url("/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(server.gaps(), [Duration::from_secs(5)]);
}

#[tokio::test(start_paused = true)]
async fn backoff_sequence_is_exponential_without_jitter() {
    let server = ScriptedServer::start(vec![Reply::status(503)]).await;
    let policy = RetryPolicy::builder()
        .with_max_attempts(5)
        .with_initial_delay(Duration::from_millis(100))
        .with_multiplier(2.0)
        .with_max_delay(Duration::from_millis(500))
        .with_jitter(false)
        .build()
        .unwrap();
    let err = client_with(config().with_retry_policy(policy))
        .request(Method::GET, server.url("/x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), Some(5));
    let ms = Duration::from_millis;
    assert_eq!(server.gaps(), [ms(100), ms(200), ms(400), ms(500)]);
}

#[tokio::test(start_paused = true)]
async fn jittered_backoff_stays_under_the_exponential_bound() {
    let server = ScriptedServer::start(vec![Reply::status(500)]).await;
    let policy = RetryPolicy::builder()
        .with_max_attempts(4)
        .with_initial_delay(Duration::from_millis(100))
        .with_jitter_seed(42)
        .build()
        .unwrap();
    let run = |server_url: String, policy: RetryPolicy| async move {
        client_with(config().with_retry_policy(policy))
            .request(Method::GET, server_url)
            .send()
            .await
            .unwrap_err()
    };
    run(server.url("/a"), policy.clone()).await;
    let first = server.gaps();
    let bounds = [100, 200, 400].map(Duration::from_millis);
    for (gap, bound) in first.iter().zip(bounds) {
        assert!(*gap <= bound, "{gap:?} > {bound:?}");
    }
    // The same seed gives the same sleeps.
    let again = ScriptedServer::start(vec![Reply::status(500)]).await;
    run(again.url("/a"), policy).await;
    assert_eq!(again.gaps(), first);
}

#[tokio::test]
async fn retry_policy_none_sends_once() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path("/x").header_missing("authorization");
            then.status(500);
        })
        .await;
    let client = client_with(runpod_transport::Config::builder());
    let err = client
        .request(Method::GET, server.url("/x"))
        .auth(runpod_transport::Auth::None)
        .with_retry(RetryPolicy::none())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(err.attempts(), None);
    mock.assert_calls_async(1).await;
}
