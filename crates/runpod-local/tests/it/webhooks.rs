//! Webhooks: the status body POSTed to a loopback URL at a terminal state, retried twice 10 s apart.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::support::{EP, Harness};

struct Hit {
    at: Instant,
    request_line: String,
    body: Value,
}

/// A loopback HTTP listener answering each request with the next status of `answers`
/// (the last one repeats) and reporting what it received.
async fn hook(answers: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Hit>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hooks/job?token=t",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for n in 0.. {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut raw = Vec::new();
            let mut buffer = [0u8; 4096];
            let body_start = loop {
                let read = stream.read(&mut buffer).await.unwrap();
                raw.extend_from_slice(&buffer[..read]);
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
            };
            let head = String::from_utf8_lossy(&raw[..body_start]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            while raw.len() < body_start + length {
                let read = stream.read(&mut buffer).await.unwrap();
                raw.extend_from_slice(&buffer[..read]);
            }
            let status = answers.get(n).or(answers.last()).copied().unwrap();
            stream
                .write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let _ = tx.send(Hit {
                at: Instant::now(),
                request_line: head.lines().next().unwrap().to_owned(),
                body: serde_json::from_slice(&raw[body_start..body_start + length]).unwrap(),
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn a_finished_job_posts_its_status_body_to_the_webhook() {
    let h = Harness::start().await;
    let (url, mut hits) = hook(vec![200]).await;
    let id = h.run_request(json!({"input": 1, "webhook": url})).await;
    h.take_expect("w", &id).await;
    h.done("w", &id, json!({"output": {"answer": 42}})).await;
    let hit = hits.recv().await.unwrap();
    assert_eq!(hit.request_line, "POST /hooks/job?token=t HTTP/1.1");
    assert_eq!(
        hit.body,
        h.job(&id).await,
        "the webhook body is the /status body"
    );
    assert_eq!(hit.body["output"], json!({"answer": 42}));
}

#[tokio::test]
async fn cancelled_and_failed_jobs_call_their_webhooks_too() {
    let h = Harness::start().await;
    let (url, mut hits) = hook(vec![200]).await;
    let cancelled = h.run_request(json!({"input": 1, "webhook": url})).await;
    h.post_empty(&format!("/v2/{EP}/cancel/{cancelled}")).await;
    assert_eq!(hits.recv().await.unwrap().body["status"], "CANCELLED");
    let failed = h.run_request(json!({"input": 1, "webhook": url})).await;
    h.take_expect("w", &failed).await;
    h.done("w", &failed, json!({"error": "nope"})).await;
    let hit = hits.recv().await.unwrap();
    assert_eq!(
        (hit.body["status"].clone(), hit.body["error"].clone()),
        (json!("FAILED"), json!("nope"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_webhook_is_retried_twice_ten_seconds_apart() {
    let h = Harness::start().await;
    let (url, mut hits) = hook(vec![500]).await;
    let id = h.run_request(json!({"input": 1, "webhook": url})).await;
    h.take_expect("w", &id).await;
    h.done("w", &id, json!({"output": 1})).await;
    let mut times = Vec::new();
    for _ in 0..3 {
        times.push(hits.recv().await.unwrap().at);
    }
    assert_eq!(times[1] - times[0], Duration::from_secs(10));
    assert_eq!(times[2] - times[1], Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(hits.try_recv().is_err(), "no fourth attempt");
}

#[tokio::test(start_paused = true)]
async fn retries_stop_once_the_webhook_answers_200() {
    let h = Harness::start().await;
    let (url, mut hits) = hook(vec![503, 200]).await;
    let id = h.run_request(json!({"input": 1, "webhook": url})).await;
    h.take_expect("w", &id).await;
    h.done("w", &id, json!({"output": 1})).await;
    let first = hits.recv().await.unwrap().at;
    let second = hits.recv().await.unwrap().at;
    assert_eq!(second - first, Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(hits.try_recv().is_err());
}
