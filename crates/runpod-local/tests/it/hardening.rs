//! Exposure rules, webhook URL checks and limits: each refused with a clear error, nothing else
//! disturbed.

use std::io::ErrorKind;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::{Limits, Server};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{EP, Harness};

fn hold() -> runpod_local::ServerBuilder {
    Server::builder().hold_time(Duration::from_millis(300))
}

// ---- exposure ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_network_address_without_a_key_is_refused_before_binding() {
    // Refused before anything is bound, so this test never listens beyond loopback.
    let error = Server::builder().bind("0.0.0.0:0").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied);
    let message = error.to_string();
    assert!(
        message.contains("refusing to listen on 0.0.0.0:0 without an API key"),
        "{message}"
    );
    assert!(message.contains("--api-key KEY"), "{message}");
    assert!(message.contains("RUNPOD_LOCAL_API_KEY"), "{message}");
    assert!(message.contains("--insecure-no-auth"), "{message}");
    // Loopback without a key stays the easy default.
    let server = Server::builder().bind("127.0.0.1:0").await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn the_binary_refuses_a_network_host_without_a_key_and_says_how_to_set_one() {
    let output = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_runpod-local"))
            .args(["--host", "0.0.0.0", "--port", "0"])
            .env_remove("RUNPOD_LOCAL_API_KEY")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing announced");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without an API key"), "{stderr}");
    assert!(stderr.contains("--api-key KEY"), "{stderr}");
}

// ---- webhooks ---------------------------------------------------------------------------------

#[tokio::test]
async fn webhooks_that_are_not_http_or_https_to_an_allowed_host_are_refused_at_run() {
    let h = Harness::with(hold().allow_webhook_hosts(["hooks.internal"])).await;
    for (url, says) in [
        ("file:///etc/passwd", "scheme `file:`"),
        ("ftp://127.0.0.1/x", "scheme `ftp:`"),
        ("not a url", "not an absolute http:// or https:// URL"),
        ("http://", "not a valid URL"),
        ("https://", "not a valid URL"),
        (
            "https://example.com/hook",
            "--allow-webhook-host example.com",
        ),
        (
            "http://example.com/hook",
            "--allow-webhook-host example.com",
        ),
        ("http://10.1.2.3/hook", "--allow-webhook-host 10.1.2.3"),
    ] {
        let (status, body) = h
            .post(
                &format!("/v2/{EP}/run"),
                json!({"input": 1, "webhook": url}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{url}: {error}");
    }
    assert_eq!(h.health().await["jobs"]["inQueue"], 0, "nothing was queued");
    // Loopback and the allowed host are accepted.
    h.run_request(json!({"input": 1, "webhook": "http://127.0.0.1:9/hook"}))
        .await;
    h.run_request(json!({"input": 1, "webhook": "https://hooks.internal:8443/hook"}))
        .await;
    assert_eq!(h.health().await["jobs"]["inQueue"], 2);
}

// ---- limits -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_full_queue_answers_429_and_other_endpoints_carry_on() {
    let h = Harness::with(hold().limits(Limits::default().queued_jobs_per_endpoint(3))).await;
    let first = h.run(json!(1)).await;
    h.run(json!(2)).await;
    let cancelled = h.run(json!(3)).await;
    let (status, body) = h.post(&format!("/v2/{EP}/run"), json!({"input": 4})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("queue is full (3 jobs waiting)")
    );
    let (status, _) = h.post("/v2/other/run", json!({"input": 1})).await;
    assert_eq!(status, StatusCode::OK, "another endpoint has its own queue");
    // A cancelled job and a taken one free their places.
    h.post_empty(&format!("/v2/{EP}/cancel/{cancelled}")).await;
    h.run(json!(5)).await;
    h.take_expect("w1", &first).await;
    h.run(json!(6)).await;
    let (status, _) = h.post(&format!("/v2/{EP}/run"), json!({"input": 7})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.health().await["jobs"]["inQueue"], 3);
}

#[tokio::test]
async fn stored_bytes_are_bounded_and_given_back_when_jobs_go() {
    let h = Harness::with(hold().limits(Limits::default().stored_bytes(300))).await;
    let big = "x".repeat(200);
    let first = h.run(json!(big)).await;
    let (status, body) = h
        .post(&format!("/v2/{EP}/run"), json!({"input": big}))
        .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("at most 300 bytes")
    );
    // A result that does not fit is refused; the job stays with its worker.
    h.take_expect("w1", &first).await;
    let (status, _) = h.done("w1", &first, json!({"output": big})).await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(h.job(&first).await["status"], "IN_PROGRESS");
    let (status, _) = h.done("w1", &first, json!({"output": "ok"})).await;
    assert_eq!(status, StatusCode::OK);
    // Purging (or expiry) gives the bytes back.
    let (status, _) = h
        .post(&format!("/v2/{EP}/run"), json!({"input": "small"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    h.post_empty(&format!("/v2/{EP}/purge-queue")).await;
    let retained = Harness::with(
        hold()
            .limits(Limits::default().stored_bytes(300))
            .result_retention(Duration::from_millis(100)),
    )
    .await;
    let job = retained.run(json!(big)).await;
    retained.take_expect("w1", &job).await;
    retained.done("w1", &job, json!({"output": 1})).await;
    let (status, _) = retained
        .post(&format!("/v2/{EP}/run"), json!({"input": big}))
        .await;
    assert_eq!(
        status,
        StatusCode::INSUFFICIENT_STORAGE,
        "the result is still kept"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = retained
        .post(&format!("/v2/{EP}/run"), json!({"input": big}))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "expired result gave its bytes back: {body}"
    );
}

#[tokio::test]
async fn ids_must_be_short_and_url_safe() {
    let h = Harness::with(hold().limits(Limits::default().id_length(16))).await;
    let long = "e".repeat(17);
    let (status, body) = h
        .post(&format!("/v2/{long}/run"), json!({"input": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("endpoint id"), "{error}");
    assert!(error.contains("1 to 16 characters"), "{error}");
    let (status, _) = h.post("/v2/a%20b/run", json!({"input": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.get(&format!("/v2/{EP}/status/{long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.get(&format!("/v2/{EP}/job-take/{long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h
        .post(&format!("/v2/{}/run", "e".repeat(16)), json!({"input": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "16 characters are fine");
    // The default is 64: Runpod's own ids (and `sync-…-u1` job ids) fit.
    let d = Harness::with(hold()).await;
    let (status, _) = d
        .post(
            &format!("/v2/{}/run", "e".repeat(5000)),
            json!({"input": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = d
        .post(&format!("/v2/{EP}/runsync?wait=1000"), json!({"input": 1}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = d
        .get(&format!("/v2/{EP}/status/{}", body["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_stream_chunk_over_the_limit_answers_413_and_the_job_goes_on() {
    let h = Harness::with(hold().limits(Limits::default().stream_chunk_bytes(1024))).await;
    let id = h.run(json!(1)).await;
    h.take_expect("w1", &id).await;
    let (status, body) = h
        .chunk("w1", &id, json!({"output": "x".repeat(2000)}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, _) = h.chunk("w1", &id, json!({"output": "small"})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, stream) = h.get(&format!("/v2/{EP}/stream/{id}")).await;
    assert_eq!(stream["stream"], json!([{"output": "small"}]));
    assert_eq!(stream["status"], "IN_PROGRESS");
}

#[tokio::test]
async fn connections_over_the_limit_get_503_and_the_others_are_served() {
    let h = Harness::with(hold().limits(Limits::default().connections(2))).await;
    let addr = h.server.local_addr();
    let first = TcpStream::connect(addr).await.unwrap();
    let second = TcpStream::connect(addr).await.unwrap();
    let mut third = TcpStream::connect(addr).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), third.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("at most 2 connections"), "{answer}");
    // A client that sends its request, body and all, reads the answer rather than a reset.
    for _ in 0..5 {
        let response = reqwest::Client::new()
            .post(h.url(&format!("/v2/{EP}/run")))
            .json(&json!({"input": {"pad": "x".repeat(64 * 1024)}}))
            .send()
            .await
            .expect("a refused connection reads as an answer, not a broken connection");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    // The two open connections are still served.
    for mut stream in [first, second] {
        stream
            .write_all(
                format!("GET /v2/{EP}/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Once they are closed, new connections are served again.
    let mut served = false;
    for _ in 0..50 {
        let client = reqwest::Client::new();
        if let Ok(response) = client.get(h.url(&format!("/v2/{EP}/health"))).send().await
            && response.status() == StatusCode::OK
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served);
}

#[tokio::test]
async fn slow_clients_are_cut_off_after_the_read_timeout() {
    let h =
        Harness::with(hold().limits(Limits::default().read_timeout(Duration::from_millis(300))))
            .await;
    let addr = h.server.local_addr();
    // Headers never finished: the connection is closed.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /v2/ep/health HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closed the connection");
    // A body that never arrives: 408.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(
        format!("POST /v2/{EP}/run HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"input\":")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("not received within"), "{answer}");
    // Everyone else is served meanwhile.
    assert_eq!(h.health().await["jobs"]["inQueue"], 0);
}

#[tokio::test]
async fn a_pooled_client_keeps_working_across_idle_gaps_longer_than_the_read_timeout() {
    // The header timeout also ends a keep-alive connection left idle for longer (as a server's
    // keep-alive timeout does); clients see the close and open a new connection.
    let h =
        Harness::with(hold().limits(Limits::default().read_timeout(Duration::from_millis(200))))
            .await;
    for n in 0..3 {
        let id = h.run(json!(n)).await;
        assert_eq!(h.job(&id).await["status"], "IN_QUEUE");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
