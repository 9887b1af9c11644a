//! Typed where Python is typed by convention: stream items decode like outputs, job states
//! print and match as Runpod writes them.

use futures_util::StreamExt as _;
use httpmock::MockServer;
use runpod_serverless::JobStatus;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::{EP, client, collect_ending, path, status_answers};

/// Serves `/stream/{id}` with `chunks` while the job runs, then its end with no chunks.
/// The stream asks only when polled, so the test swaps the answer after reading `chunks`.
async fn stream_then_end<T: serde::de::DeserializeOwned + Send + 'static>(
    server: &MockServer,
    id: &str,
    chunks: Value,
    end: Value,
) -> Vec<runpod_serverless::Result<T>> {
    let n = chunks.as_array().unwrap().len();
    let running = server
        .mock_async(|when, then| {
            when.method("GET").path(path(&format!("stream/{id}")));
            then.status(200)
                .json_body(json!({"status": "IN_PROGRESS", "stream": chunks}));
        })
        .await;
    let mut stream = client(server).endpoint(EP).job(id).stream::<T>();
    let mut items = Vec::new();
    for _ in 0..n {
        items.push(stream.next().await.unwrap());
    }
    running.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method("GET").path(path(&format!("stream/{id}")));
            then.status(200).json_body(end);
        })
        .await;
    items.extend(collect_ending(stream).await);
    items
}

#[tokio::test]
async fn stream_items_decode_into_the_callers_type() {
    let server = MockServer::start_async().await;
    let items = stream_then_end::<String>(
        &server,
        "text",
        json!([{"output": "Hel"}, {"output": "lo", "metrics": {"tokens": 1}}]),
        json!({"status": "COMPLETED"}),
    )
    .await;
    let words: Vec<String> = items.into_iter().map(Result::unwrap).collect();
    // No JSON quotes left: the items are the strings themselves.
    assert_eq!(words.concat(), "Hello");
}

#[tokio::test]
async fn a_chunk_that_does_not_fit_is_a_decode_error_and_the_stream_goes_on() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct Token {
        text: String,
    }
    let server = MockServer::start_async().await;
    let items = stream_then_end::<Token>(
        &server,
        "mixed",
        json!([{"output": {"text": "a"}}, {"output": {"txt": "b"}}, {"output": {"text": "c"}}]),
        json!({"status": "FAILED", "error": "oom"}),
    )
    .await;
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &Token { text: "a".into() });
    let bad = items[1].as_ref().unwrap_err();
    assert!(bad.is_decode() && bad.job_id() == Some("mixed"), "{bad:?}");
    assert_eq!(items[2].as_ref().unwrap(), &Token { text: "c".into() });
    let end = items[3].as_ref().unwrap_err();
    assert!(end.is_job_failed(), "{end:?}");
}

#[tokio::test]
async fn a_status_prints_and_matches_as_runpod_writes_it() {
    let server = MockServer::start_async().await;
    status_answers(&server, "j", json!({"id": "j", "status": "IN_PROGRESS"})).await;
    status_answers(&server, "bare", json!({"id": "bare"})).await;
    let endpoint = client(&server).endpoint(EP);

    let state = endpoint.job("j").status().await.unwrap();
    assert_eq!(state.to_string(), "job j: IN_PROGRESS");
    assert_eq!(state.state().to_string(), "IN_PROGRESS");
    assert!(matches!(state.state(), JobStatus::InProgress));

    let bare = endpoint.job("bare").status().await.unwrap();
    assert_eq!(bare.to_string(), "job bare: UNKNOWN");
    assert!(!bare.state().is_terminal());
}
