//! Bad input at the edges: the client given truncated, non-JSON, wrongly shaped, huge or deeply
//! nested answers, and the worker given jobs with missing or mistyped fields. Each is a clear,
//! typed error about that one call or job, nothing is sent twice, and the next call or job
//! still works.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use httpmock::MockServer;
use runpod_serverless::{Config, RateLimits, ServerlessClient};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::support::{EP, KEY, client, fast_poll, fast_retries, path};

/// A server that answers every request with `answers[i]` (the last repeats), raw bytes, then
/// closes; counts requests.
async fn raw_server(answers: Vec<Vec<u8>>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let answer = answers[n.min(answers.len() - 1)].clone();
            tokio::spawn(async move {
                // Read the request head (and a small body) before answering.
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(&answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (addr, hits)
}

fn http(status: u16, declared_len: usize, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {declared_len}\r\nconnection: close\r\n\r\n{body}"
    )
    .into_bytes()
}

fn raw_client(addr: SocketAddr) -> ServerlessClient {
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(format!("http://{addr}/v2"))
        .with_retry_policy(fast_retries())
        .build()
        .unwrap();
    ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(fast_poll())
        .with_rate_limits(RateLimits::disabled())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_run_answer_cut_short_is_typed_and_never_resent() {
    // The server queued the job (200) but the body stops half way: the outcome is unknown, so
    // the client must report it and not POST again.
    let body = r#"{"id":"job-1","status":"IN_QUEUE"}"#;
    let (addr, hits) = raw_server(vec![http(200, body.len() + 20, &body[..12])]).await;
    let err = raw_client(addr)
        .endpoint(EP)
        .run(json!({"n": 1}))
        .await
        .unwrap_err();
    assert!(!err.is_job_outcome() && !err.is_status(), "{err:?}");
    assert!(err.is_retryable() || err.is_decode(), "{err:?}");
    assert!(!err.to_string().is_empty());
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a /run was sent twice");
}

#[tokio::test]
async fn a_status_answer_cut_short_is_retried_then_read() {
    let body = r#"{"id":"j","status":"COMPLETED","output":{"ok":true}}"#;
    let (addr, hits) = raw_server(vec![
        http(200, body.len(), &body[..20]),
        http(200, body.len(), body),
    ])
    .await;
    let state = raw_client(addr)
        .endpoint(EP)
        .job("j")
        .status()
        .await
        .unwrap();
    assert_eq!(state.output, Some(json!({"ok": true})));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn wrong_shapes_are_decode_errors_that_name_the_job() {
    let server = MockServer::start_async().await;
    let answers: [(&str, &[u8]); 6] = [
        ("status/a", b"<html><body>Bad Gateway</body></html>"),
        ("status/b", b""),
        ("status/c", b"[1, 2, 3]"),
        ("status/d", br#"{"status": "COMPLETED"}"#),
        ("status/e", br#"{"id": "e", "status": 7}"#),
        ("status/f", br#"{"id": "f", "delayTime": "soon"}"#),
    ];
    for (route, body) in answers {
        server
            .mock_async(|when, then| {
                when.method("GET").path(path(route));
                then.status(200)
                    .header("content-type", "application/json")
                    .body(body);
            })
            .await;
    }
    let endpoint = client(&server).endpoint(EP);
    for id in ["a", "b", "c", "d", "e", "f"] {
        let err = endpoint.job(id).status().await.unwrap_err();
        assert!(err.is_decode(), "{id}: {err:?}");
        assert!(
            !err.is_retryable(),
            "{id}: a decode error does not go away on retry"
        );
        assert_eq!(err.job_id(), Some(id));
        assert!(err.body().map_or(0, str::len) <= 4096);
        // Waiting stops at once with the same error instead of polling forever.
        let err = endpoint
            .job(id)
            .wait_with_timeout(Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.is_decode(), "{id}: {err:?}");
    }
    let named = endpoint.job("f").status().await.unwrap_err();
    assert!(named.to_string().contains("delayTime"), "{named}");
}

#[tokio::test]
async fn huge_and_deeply_nested_outputs_do_not_crash_the_client() {
    let server = MockServer::start_async().await;
    let big = "x".repeat(10 * 1024 * 1024);
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("status/big"));
            then.status(200)
                .json_body(json!({"id": "big", "status": "COMPLETED", "output": big}));
        })
        .await;
    let deep = format!(
        r#"{{"id":"deep","status":"COMPLETED","output":{}1{}}}"#,
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("status/deep"));
            then.status(200)
                .header("content-type", "application/json")
                .body(deep.clone());
        })
        .await;
    let endpoint = client(&server).endpoint(EP);
    let output: String = endpoint.job("big").output().await.unwrap();
    assert_eq!(output.len(), big.len());
    let err = endpoint.job("deep").status().await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    // What the error keeps of the body is bounded, whatever came.
    assert!(err.body().map_or(0, str::len) <= 4096);
}

#[tokio::test]
async fn an_unknown_status_keeps_the_wait_going_until_a_real_end() {
    let server = MockServer::start_async().await;
    let polls = Arc::new(AtomicUsize::new(0));
    let p = polls.clone();
    server
        .mock_async(move |when, then| {
            let p = p.clone();
            when.method("GET")
                .path(path("status/u"))
                .is_true(move |_| p.fetch_add(1, Ordering::SeqCst) < 3);
            then.status(200)
                .json_body(json!({"id": "u", "status": "WARMING_UP_SOMEHOW"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("status/u"));
            then.status(200)
                .json_body(json!({"id": "u", "status": "COMPLETED", "output": 5}));
        })
        .await;
    let out: u32 = client(&server)
        .endpoint(EP)
        .job("u")
        .output()
        .await
        .unwrap();
    assert_eq!(out, 5);
    assert!(polls.load(Ordering::SeqCst) >= 3);
}

#[cfg(feature = "worker")]
mod worker {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use httpmock::MockServer;
    use runpod_serverless::worker::{Job, Worker, WorkerEnv};
    use serde_json::{Value, json};

    #[derive(Debug, serde::Deserialize)]
    struct Input {
        n: u32,
    }

    async fn double(job: Job<Input>) -> Result<u32, String> {
        Ok(job.input().n * 2)
    }

    fn env(server: &MockServer) -> WorkerEnv {
        let base = server.url("/v2/ep");
        WorkerEnv::from_vars([
            ("RUNPOD_WEBHOOK_GET_JOB", format!("{base}/job-take/$ID")),
            (
                "RUNPOD_WEBHOOK_POST_OUTPUT",
                format!("{base}/job-done/$RUNPOD_POD_ID/$ID"),
            ),
            ("RUNPOD_POD_ID", "w1".to_owned()),
            ("RUNPOD_AI_API_KEY", "k".to_owned()),
            ("RUNPOD_PING_INTERVAL", "60000".to_owned()),
        ])
    }

    /// One take hands out a batch of broken and good jobs; the next take hands out one more
    /// good job. Broken jobs with an id are failed by id, ones without an id cannot be reported,
    /// the good ones complete, and the worker keeps taking.
    #[tokio::test]
    async fn broken_jobs_fail_alone_and_the_queue_keeps_working() {
        let server = MockServer::start_async().await;
        let takes = Arc::new(AtomicUsize::new(0));
        let t = takes.clone();
        server
            .mock_async(move |when, then| {
                let t = t.clone();
                when.method("GET")
                    .path("/v2/ep/job-take/w1")
                    .is_true(move |_| t.fetch_add(1, Ordering::SeqCst) == 0);
                then.status(200).json_body(json!([
                    {"id": {"nested": 1}, "input": {"n": 1}},
                    {"id": "", "input": {"n": 1}},
                    {"id": true},
                    {"id": "no-input"},
                    {"id": "bad-policy", "input": {"n": 1}, "policy": {"executionTimeout": "soon"}},
                    {"id": "bad-type", "input": "not an object"},
                    {"id": "missing-field", "input": {"m": 1}},
                    {"id": "good-1", "input": {"n": 21}},
                ]));
            })
            .await;
        let t = takes.clone();
        server
            .mock_async(move |when, then| {
                let t = t.clone();
                when.method("GET")
                    .path("/v2/ep/job-take/w1")
                    .is_true(move |_| t.load(Ordering::SeqCst) == 2);
                then.status(200)
                    .json_body(json!({"id": "after", "input": {"n": 4}}));
            })
            .await;
        server
            .mock_async(|when, then| {
                when.method("GET").path("/v2/ep/job-take/w1");
                then.status(204).delay(Duration::from_millis(50));
            })
            .await;
        let posts = Arc::new(Mutex::new(Vec::<(String, Vec<u8>)>::new()));
        let p = posts.clone();
        let done = server
            .mock_async(move |when, then| {
                // httpmock may ask a matcher about other mocks' requests: check inside.
                let p = p.clone();
                when.method("POST").is_true(move |req| {
                    let path = req.uri().path().to_owned();
                    let ours = req.method_str().eq_ignore_ascii_case("POST")
                        && path.starts_with("/v2/ep/job-done/w1/");
                    if ours {
                        p.lock().unwrap().push((path, req.body_vec()));
                    }
                    ours
                });
                then.status(200).json_body(json!({}));
            })
            .await;

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(
            Worker::builder(double)
                .with_env(env(&server))
                .with_concurrency(1)
                .graceful_shutdown_on(async move {
                    let _ = stopped.await;
                })
                .run(),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while done.calls_async().await < 6 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "results not posted in time"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = stop.send(());
        worker.await.unwrap().unwrap();

        let mut results = std::collections::BTreeMap::new();
        for (path, body) in posts.lock().unwrap().iter() {
            let id = path.rsplit('/').next().unwrap().to_owned();
            let body: Value = serde_json::from_slice(body).unwrap();
            assert!(
                results.insert(id.clone(), body).is_none(),
                "{id} reported twice"
            );
        }
        let ids: Vec<&str> = results.keys().map(String::as_str).collect();
        assert_eq!(
            ids,
            [
                "after",
                "bad-policy",
                "bad-type",
                "good-1",
                "missing-field",
                "no-input"
            ],
            "only jobs with a usable id are reported, each once"
        );
        assert_eq!(results["good-1"], json!({"output": 42}));
        assert_eq!(results["after"], json!({"output": 8}));
        for id in ["bad-policy", "bad-type", "missing-field", "no-input"] {
            let error = results[id]["error"].as_str().unwrap_or_default();
            let doc: Value = serde_json::from_str(error)
                .unwrap_or_else(|e| panic!("{id}: error is not the JSON document ({e}): {error}"));
            assert!(
                doc["error_message"].as_str().is_some_and(|m| !m.is_empty()),
                "{id}: {doc}"
            );
        }
        let policy = results["bad-policy"]["error"].as_str().unwrap();
        assert!(policy.contains("policy.executionTimeout"), "{policy}");
    }
}
