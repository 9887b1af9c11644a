//! The load-balancing client against httpmock: header bytes, worker ids, cold-start retries.

use std::time::Duration;

use futures_util::StreamExt as _;
use httpmock::MockServer;
use runpod_serverless::ServerlessClient;
use runpod_serverless::lb::{Affinity, ColdStart, LbErrorExt, LoadBalancer};
use serde_json::{Value, json};

use crate::support::{EP, KEY, config};

fn lb(server: &MockServer) -> LoadBalancer {
    ServerlessClient::builder()
        .with_config(config(server))
        .with_lb_base_url(server.url("/lb/{endpoint_id}"))
        .build()
        .unwrap()
        .load_balancer(EP)
}

fn lb_path(rest: &str) -> String {
    format!("/lb/{EP}{rest}")
}

/// `POST /work` answered as by a gateway with no worker up: 503 "no workers available".
async fn no_workers_at_post_work(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method("POST").path(lb_path("/work"));
            then.status(503)
                .json_body(json!({"error": "no workers available"}));
        })
        .await
}

#[tokio::test]
async fn every_affinity_mode_sends_its_header_bytes_and_the_worker_id_comes_back() {
    let server = MockServer::start_async().await;
    let cases = [
        (Affinity::prefer("w-7"), "w-7"),
        (Affinity::strict("w-7"), "strict w-7"),
        (Affinity::strict_resume("w-7"), "strict-resume w-7"),
    ];
    let lb = lb(&server);
    for (affinity, bytes) in cases {
        let mock = server
            .mock_async(|when, then| {
                when.method("POST")
                    .path(lb_path("/v1/echo"))
                    .query_param("n", "1")
                    .header("authorization", format!("Bearer {KEY}"))
                    .header("x-runpod-worker-id", bytes)
                    .json_body(json!({"a": 1}));
                then.status(200)
                    .header("x-runpod-worker-id", "w-7")
                    .json_body(json!({"ok": true}));
            })
            .await;
        let answer = lb
            .post("/v1/echo")
            .query("n", 1)
            .affinity(affinity.clone())
            .json(&json!({"a": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.worker_id(), Some("w-7"));
        assert_eq!(answer.json::<Value>().unwrap(), json!({"ok": true}));
        assert_eq!(answer.stick(), Affinity::strict("w-7"));
        mock.assert_calls_async(1).await;
        mock.delete_async().await;
    }
    // No affinity: no header at all.
    let mock = server
        .mock_async(|when, then| {
            when.method("GET")
                .path(lb_path("/plain"))
                .header_missing("x-runpod-worker-id");
            then.status(200).body("hello");
        })
        .await;
    let answer = lb.get("plain").send().await.unwrap();
    assert_eq!(answer.text(), "hello");
    assert_eq!(answer.worker_id(), None);
    mock.assert_calls_async(1).await;
}

#[tokio::test(start_paused = true)]
async fn no_workers_available_is_retried_5_s_apart_within_the_deadline() {
    let server = MockServer::start_async().await;
    let mock = no_workers_at_post_work(&server).await;
    let lb = lb(&server);
    let started = tokio::time::Instant::now();
    let err = lb
        .post("/work")
        .body("x", "text/plain")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_no_workers_available(), "{err:?}");
    mock.assert_calls_async(4).await;
    // Three 5 s waits; paused time may also jump to a connection-pool timer while the mock
    // server (another thread) answers, so only the lower bound is exact.
    assert!(
        started.elapsed() >= Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // Disabled: one try.
    let err = lb
        .clone()
        .with_cold_start(ColdStart::disabled())
        .post("/work")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_no_workers_available());
    mock.assert_calls_async(5).await;
}

// Real time: a caller's timeout is a timer, which paused time would fire while the mock answers.
#[tokio::test]
async fn cold_start_retries_stop_at_the_callers_deadline() {
    let server = MockServer::start_async().await;
    let mock = no_workers_at_post_work(&server).await;
    let lb = lb(&server).with_cold_start(ColdStart {
        attempts: 10,
        delay: Duration::from_millis(700),
    });
    // Room for tries at about 0, 0.7 and 1.4 s (fewer if the loaded machine answers slowly),
    // never for the ten the policy allows.
    let started = tokio::time::Instant::now();
    let err = lb
        .post("/work")
        .timeout(Duration::from_millis(1_800))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_no_workers_available(), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1_800));
    let calls = mock.calls_async().await;
    assert!((2..=3).contains(&calls), "{calls} tries");
}

#[tokio::test]
async fn a_post_that_reached_a_worker_is_not_sent_again() {
    let server = MockServer::start_async().await;
    let post = server
        .mock_async(|when, then| {
            when.method("POST").path(lb_path("/charge"));
            then.status(502)
                .header("x-runpod-worker-id", "w-1")
                .json_body(json!({"error": "worker crashed"}));
        })
        .await;
    let get = server
        .mock_async(|when, then| {
            when.method("GET").path(lb_path("/charge"));
            then.status(502)
                .json_body(json!({"error": "worker crashed"}));
        })
        .await;
    let lb = lb(&server);
    let err = lb
        .post("/charge")
        .json(&json!({}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
    assert_eq!(LbErrorExt::worker_id(&err), Some("w-1"));
    assert!(!err.is_no_workers_available());
    post.assert_calls_async(1).await;
    // A GET follows transport's rules: retried on 5xx (3 tries in the test policy).
    lb.get("/charge").send().await.unwrap_err();
    get.assert_calls_async(3).await;
}

#[tokio::test]
async fn strict_failures_are_typed() {
    let server = MockServer::start_async().await;
    let answers = [
        ("/timeout", 400, json!({"error": "worker_timeout"})),
        (
            "/problem",
            400,
            json!({"status": 400, "title": "Bad Request", "detail": "timed out waiting for worker"}),
        ),
        ("/gone", 404, json!({"error": "affinity_worker_gone"})),
        ("/plain-404", 404, json!({"error": "no such user"})),
    ];
    for (path, status, body) in answers {
        server
            .mock_async(|when, then| {
                when.path(lb_path(path));
                then.status(status).json_body(body);
            })
            .await;
    }
    let lb = lb(&server);
    let strict = Affinity::strict("w");
    let send = |path: &'static str| lb.post(path).affinity(strict.clone()).send();
    let err = send("/timeout").await.unwrap_err();
    assert!(err.is_worker_timeout() && !err.is_affinity_worker_gone());
    assert!(send("/problem").await.unwrap_err().is_worker_timeout());
    let err = send("/gone").await.unwrap_err();
    assert!(err.is_affinity_worker_gone() && !err.is_worker_timeout());
    let err = send("/plain-404").await.unwrap_err();
    assert!(!err.is_affinity_worker_gone() && err.is_not_found());
}

#[tokio::test]
async fn server_sent_events_and_streamed_uploads() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET")
                .path(lb_path("/events"))
                .header("accept", "text/event-stream");
            then.status(200)
                .header("content-type", "text/event-stream")
                .header("x-runpod-worker-id", "w-2")
                .body("data: one\n\nevent: tick\ndata: two\n\n");
        })
        .await;
    let upload = server
        .mock_async(|when, then| {
            when.method("PUT")
                .path(lb_path("/blob"))
                .header("content-type", "application/octet-stream")
                .body("abcdef");
            then.status(201).header("x-runpod-worker-id", "w-3");
        })
        .await;
    let lb = lb(&server);
    let events: Vec<_> = lb.get("/events").events().await.unwrap().collect().await;
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].data, "one");
    assert_eq!(events[1].event.as_deref(), Some("tick"));

    let chunks = futures_util::stream::iter(
        ["abc", "def"].map(|c| Ok::<_, std::io::Error>(bytes::Bytes::from_static(c.as_bytes()))),
    );
    let answer = lb
        .put("/blob")
        .body_stream(chunks, "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (answer.status().as_u16(), answer.worker_id()),
        (201, Some("w-3"))
    );
    upload.assert_calls_async(1).await;
}

#[test]
fn the_blocking_client_sends_and_iterates_events() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method("POST")
            .path(lb_path("/sse"))
            .header("x-runpod-worker-id", "strict w-9");
        then.status(200)
            .header("x-runpod-worker-id", "w-9")
            .body("data: {\"n\":1}\n\ndata: {\"n\":2}\n\n");
    });
    let lb = runpod_serverless::blocking::ServerlessClient::builder()
        .with_config(config(&server))
        .with_lb_base_url(server.url("/lb/{endpoint_id}"))
        .build()
        .unwrap()
        .load_balancer(EP);
    let answer = lb
        .post("/sse")
        .affinity(Affinity::strict("w-9"))
        .send()
        .unwrap();
    assert_eq!(answer.worker_id(), Some("w-9"));
    let data: Vec<String> = lb
        .post("/sse")
        .affinity(Affinity::strict("w-9"))
        .events()
        .unwrap()
        .map(|e| e.unwrap().data)
        .collect();
    assert_eq!(data, [r#"{"n":1}"#, r#"{"n":2}"#]);
}
