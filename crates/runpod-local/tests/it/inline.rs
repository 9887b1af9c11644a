//! In-process handlers: jobs answered inside the server, through the same queue as a worker's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::{Limits, Server};
use serde_json::{Value, json};

use crate::support::{EP, Harness};

/// Polls `/status` until the job leaves IN_QUEUE / IN_PROGRESS (bounded).
async fn until_ended(h: &Harness, job: &str) -> Value {
    for _ in 0..500 {
        let body = h.job(job).await;
        if !matches!(body["status"].as_str(), Some("IN_QUEUE" | "IN_PROGRESS")) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {job} did not end");
}

#[tokio::test]
async fn echo_answers_run_and_runsync_without_a_worker() {
    let h = Harness::with(Server::builder().echo()).await;
    let input = json!({"prompt": "hi", "n": [1, 2]});
    let id = h.run(input.clone()).await;
    let done = until_ended(&h, &id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["output"], input);
    assert!(done["executionTime"].is_u64(), "{done}");

    let (status, sync) = h
        .post(&format!("/v2/{EP}/runsync"), json!({"input": {"x": 1}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&sync["status"], &sync["output"]),
        (&json!("COMPLETED"), &json!({"x": 1}))
    );

    let health = h.health().await;
    assert_eq!(health["jobs"]["completed"], 2, "{health}");
    assert_eq!(health["jobs"]["inQueue"], 0, "{health}");
}

#[tokio::test]
async fn a_handler_error_or_panic_fails_the_job_with_a_message() {
    let h = Harness::with(Server::builder().inline_handler(|input: Value| async move {
        match input["do"].as_str() {
            Some("fail") => Err("no such model".to_owned()),
            Some("panic") => panic!("handler bug"),
            _ => Ok(input),
        }
    }))
    .await;
    let failed = h.run(json!({"do": "fail"})).await;
    let panicked = h.run(json!({"do": "panic"})).await;
    let fine = h.run(json!({"do": "ok"})).await;

    let body = until_ended(&h, &failed).await;
    assert_eq!(
        (&body["status"], &body["error"]),
        (&json!("FAILED"), &json!("no such model"))
    );
    let body = until_ended(&h, &panicked).await;
    assert_eq!(body["status"], "FAILED");
    assert!(
        body["error"].as_str().unwrap().contains("panicked"),
        "{body}"
    );
    // A panicking job takes nothing else down.
    assert_eq!(until_ended(&h, &fine).await["status"], "COMPLETED");
}

#[tokio::test]
async fn a_cancelled_job_stays_cancelled_when_its_handler_finishes() {
    let h = Harness::with(Server::builder().inline_handler(|input: Value| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(input)
    }))
    .await;
    let id = h.run(json!({"slow": true})).await;
    // Taken at once: the handler is running.
    for _ in 0..100 {
        if h.job(&id).await["status"] == "IN_PROGRESS" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(h.job(&id).await["status"], "IN_PROGRESS");
    let (status, body) = h.post_empty(&format!("/v2/{EP}/cancel/{id}")).await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("CANCELLED"))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = h.job(&id).await;
    assert_eq!(
        body["status"], "CANCELLED",
        "the late result was refused: {body}"
    );
    assert!(body.get("output").is_none_or(Value::is_null), "{body}");
}

#[tokio::test]
async fn a_retried_job_comes_back_to_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let h = Harness::with(Server::builder().inline_handler(move |input: Value| {
        let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                Err("flaky".to_owned())
            } else {
                Ok(input)
            }
        }
    }))
    .await;
    let id = h.run(json!({"try": "again"})).await;
    assert_eq!(until_ended(&h, &id).await["status"], "FAILED");
    let (status, _) = h.post_empty(&format!("/v2/{EP}/retry/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let body = until_ended(&h, &id).await;
    assert_eq!(
        (&body["status"], &body["output"]),
        (&json!("COMPLETED"), &json!({"try": "again"}))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn inline_results_count_against_the_stored_bytes_limit() {
    let h = Harness::with(
        Server::builder()
            .limits(Limits::default().stored_bytes(300))
            // Long enough that the first result is still kept while the next jobs run.
            .result_retention(Duration::from_secs(2))
            .inline_handler(|input: Value| async move {
                let n = input["n"].as_u64().unwrap_or(0);
                Ok(json!("x".repeat(usize::try_from(n).unwrap_or(0))))
            }),
    )
    .await;
    // A ~20-byte input whose ~210-byte result is kept with the job.
    let big = h.run(json!({"n": 200})).await;
    assert_eq!(until_ended(&h, &big).await["status"], "COMPLETED");
    // Inputs alone (~20 + ~110 bytes) would fit in 300; with the kept result they do not.
    let (status, body) = h
        .post(&format!("/v2/{EP}/run"), json!({"input": "y".repeat(100)}))
        .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    // A result that does not fit fails its job with the limit's message.
    let too_big = h.run(json!({"n": 150})).await;
    let body = until_ended(&h, &too_big).await;
    assert_eq!(body["status"], "FAILED", "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("not kept") && error.contains("at most 300 bytes"),
        "{error}"
    );
    // Once the results expire their bytes are given back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = h
            .post(&format!("/v2/{EP}/run"), json!({"input": "y".repeat(100)}))
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "bytes never given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
