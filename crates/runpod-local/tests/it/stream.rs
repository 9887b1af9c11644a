//! `/stream`: partial output handed out exactly once, in order, then an empty stream at the end.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{EP, Harness};

async fn read(h: &Harness, id: &str) -> Value {
    let (status, body) = h.get(&format!("/v2/{EP}/stream/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn chunks_are_delivered_exactly_once_and_in_order() {
    let h = Harness::start().await;
    let id = h.run(json!({"stream": true})).await;
    let before = read(&h, &id).await;
    assert_eq!(
        before,
        json!({"id": id, "status": "IN_QUEUE", "stream": []})
    );

    h.take_expect("w", &id).await;
    for token in ["a", "b", "c"] {
        let (status, _) = h.chunk("w", &id, json!({"output": token})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let first = read(&h, &id).await;
    assert_eq!(first["status"], "IN_PROGRESS");
    assert_eq!(
        first["stream"],
        json!([{"output": "a"}, {"output": "b"}, {"output": "c"}])
    );
    assert_eq!(read(&h, &id).await["stream"], json!([]), "nothing twice");

    h.chunk("w", &id, json!({"output": "d"})).await;
    // POST works too (the Go SDK's form).
    let (_, second) = h.post_empty(&format!("/v2/{EP}/stream/{id}")).await;
    assert_eq!(second["stream"], json!([{"output": "d"}]));

    h.chunk("w", &id, json!({"output": "e"})).await;
    h.send(
        h.http
            .post(h.url(&format!("/v2/{EP}/job-done/w/{id}?gpu=LOCAL&isStream=true")))
            .body(r#"{"output": []}"#),
    )
    .await;
    let last = read(&h, &id).await;
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(
        last["stream"],
        json!([{"output": "e"}]),
        "unread chunks survive the end"
    );
    let end = read(&h, &id).await;
    assert_eq!(
        (end["status"].clone(), end["stream"].clone()),
        (json!("COMPLETED"), json!([]))
    );
}

#[tokio::test]
async fn chunks_are_kept_verbatim() {
    let h = Harness::start().await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    h.chunk("w", &id, json!({"output": null})).await;
    h.chunk(
        "w",
        &id,
        json!({"output": {"t": "x"}, "metrics": {"tokens": 3}, "extra": [1]}),
    )
    .await;
    let body = read(&h, &id).await;
    assert_eq!(
        body["stream"],
        json!([{"output": null}, {"output": {"t": "x"}, "metrics": {"tokens": 3}, "extra": [1]}])
    );
}

#[tokio::test]
async fn a_failed_stream_reports_its_error() {
    let h = Harness::start().await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    h.chunk("w", &id, json!({"output": 0})).await;
    h.done("w", &id, json!({"error": "generator failed at 1"}))
        .await;
    let body = read(&h, &id).await;
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["error"], "generator failed at 1");
    assert_eq!(body["stream"], json!([{"output": 0}]));
}

#[tokio::test(start_paused = true)]
async fn stream_with_wait_holds_until_a_chunk_arrives() {
    let h = Harness::start().await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    let started = Instant::now();
    let produce = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        h.chunk("w", &id, json!({"output": "late"})).await
    };
    let ((status, body), _) =
        tokio::join!(h.get(&format!("/v2/{EP}/stream/{id}?wait=30000")), produce);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["stream"], json!([{"output": "late"}]));
    assert_eq!(started.elapsed().as_secs(), 2);

    let started = Instant::now();
    let (_, body) = h.get(&format!("/v2/{EP}/stream/{id}?wait=3000")).await;
    assert_eq!(body["stream"], json!([]));
    assert_eq!(started.elapsed().as_secs(), 3);
}

#[tokio::test]
async fn stream_of_an_unknown_job_is_404() {
    let h = Harness::start().await;
    let (status, body) = h.get(&format!("/v2/{EP}/stream/nope")).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"error": "job nope not found"})
        )
    );
    let (status, _) = h.chunk("w", "nope", json!({"output": 1})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
