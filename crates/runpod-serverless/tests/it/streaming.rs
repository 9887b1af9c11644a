//! `/stream` polling: chunks in order, an end for every terminal state, no polling once dropped.

use std::time::Duration;

use futures_util::StreamExt as _;
use httpmock::{Mock, MockServer};
use runpod_serverless::PollPolicy;
use serde_json::{Value, json};

use crate::support::{EP, answers_status, client, collect_ending, path};

async fn stream_answers(server: &MockServer, body: Value) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method("GET").path(path("stream/j"));
            then.status(200).json_body(body);
        })
        .await
}

/// The stream only asks the server when it is polled, so the test can change the answer
/// between items and know which answer each item came from.
#[tokio::test]
async fn chunks_arrive_in_order_and_completed_ends_the_stream() {
    let server = MockServer::start_async().await;
    let job = client(&server).endpoint(EP).job("j");
    let mut stream = Box::pin(job.chunks());

    let first = stream_answers(
        &server,
        json!({
            "status": "IN_PROGRESS",
            "stream": [{"output": "Hel"}, {"output": "lo", "metrics": {"tokens": 1}}],
        }),
    )
    .await;
    let a = stream.next().await.unwrap().unwrap();
    let b = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (a.output, b.output),
        (Some(json!("Hel")), Some(json!("lo")))
    );
    assert_eq!(b.metrics, Some(json!({"tokens": 1})));
    first.assert_calls_async(1).await;
    first.delete_async().await;

    // The job ended but this answer still has a chunk: the stream asks once more.
    let ending = stream_answers(
        &server,
        json!({"status": "COMPLETED", "stream": [{"output": " world"}]}),
    )
    .await;
    assert_eq!(
        stream.next().await.unwrap().unwrap().output,
        Some(json!(" world"))
    );
    ending.delete_async().await;
    let drained = stream_answers(&server, json!({"status": "COMPLETED", "stream": []})).await;
    assert!(stream.next().await.is_none());
    drained.assert_calls_async(1).await;
    // Ended for good.
    assert!(stream.next().await.is_none());
    drained.assert_calls_async(1).await;
}

#[tokio::test]
async fn empty_polls_are_not_items() {
    let server = MockServer::start_async().await;
    let job = client(&server).endpoint(EP).job("j");
    let queued = stream_answers(&server, json!({"status": "IN_QUEUE"})).await;
    let mut stream = Box::pin(job.chunks());
    let first = tokio::spawn(async move {
        let item = stream.next().await;
        (stream, item)
    });
    crate::support::calls_at_least(&queued, 3).await;
    queued.delete_async().await;
    let progress = stream_answers(
        &server,
        json!({"status": "IN_PROGRESS", "stream": [{"output": 1}, {"output": 2}]}),
    )
    .await;
    let (mut stream, item) = first.await.unwrap();
    assert_eq!(item.unwrap().unwrap().output, Some(json!(1)));
    assert_eq!(stream.next().await.unwrap().unwrap().output, Some(json!(2)));
    progress.assert_calls_async(1).await;
    progress.delete_async().await;
    stream_answers(&server, json!({"status": "COMPLETED", "stream": []})).await;
    assert!(stream.next().await.is_none());
}

/// The items of a stream whose first answer is `body`, which must end it.
async fn end_of_stream(body: Value) -> runpod_serverless::Error {
    let server = MockServer::start_async().await;
    stream_answers(&server, body).await;
    let mut items = collect_ending(client(&server).endpoint(EP).job("j").chunks()).await;
    assert_eq!(items.len(), 1, "{items:?}");
    items.pop().unwrap().unwrap_err()
}

#[tokio::test]
async fn failed_ends_the_stream_with_the_workers_error() {
    // No `stream` key at all (the official SDK raises KeyError here).
    let err =
        end_of_stream(json!({"status": "FAILED", "error": "{\"error_message\": \"boom\"}"})).await;
    assert!(err.is_job_failed(), "{err:?}");
    assert_eq!(err.job_id(), Some("j"));
    assert_eq!(err.job_error().unwrap()["error_message"], "boom");
}

#[tokio::test]
async fn cancelled_ends_the_stream() {
    // The official SDK loops forever here (CANCELLED missing from its final states).
    let err = end_of_stream(json!({"status": "CANCELLED", "stream": []})).await;
    assert!(err.is_job_cancelled(), "{err:?}");
}

#[tokio::test]
async fn timed_out_ends_the_stream() {
    let err = end_of_stream(json!({"status": "TIMED_OUT"})).await;
    assert!(err.is_job_timed_out(), "{err:?}");
}

#[tokio::test]
async fn failed_after_chunks_yields_them_then_the_error() {
    let server = MockServer::start_async().await;
    let job = client(&server).endpoint(EP).job("j");
    let mut stream = Box::pin(job.chunks());
    let ending = stream_answers(
        &server,
        json!({"status": "FAILED", "stream": [{"output": "partial"}], "error": "oom"}),
    )
    .await;
    assert_eq!(
        stream.next().await.unwrap().unwrap().output,
        Some(json!("partial"))
    );
    ending.delete_async().await;
    // The drain poll finds the results gone; the stream still ends with the job's failure.
    answers_status(&server, "GET", "stream/j", 404).await;
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(err.is_job_failed(), "{err:?}");
    assert_eq!(err.job_error(), Some(&json!("oom")));
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn a_request_error_ends_the_stream_with_it() {
    let server = MockServer::start_async().await;
    stream_answers(&server, json!({"status": "IN_PROGRESS"})).await;
    answers_status(&server, "GET", "stream/other", 404).await;
    let items = collect_ending(client(&server).endpoint(EP).job("other").chunks()).await;
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(
        err.is_not_found() && err.job_id() == Some("other"),
        "{err:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_stops_polling() {
    let server = MockServer::start_async().await;
    let busy = stream_answers(
        &server,
        json!({"status": "IN_PROGRESS", "stream": [{"output": "tick"}]}),
    )
    .await;
    let job = client(&server)
        .endpoint(EP)
        .job("j")
        .with_poll_policy(PollPolicy::fixed(Duration::from_millis(5)));
    let mut stream = Box::pin(job.chunks());
    for _ in 0..3 {
        stream.next().await.unwrap().unwrap();
    }
    busy.assert_calls_async(3).await;
    drop(stream);
    // Sixty poll intervals of real time: a poller left running would have hit the mock again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    busy.assert_calls_async(3).await;
}

#[tokio::test]
async fn a_stream_not_polled_sends_nothing() {
    let server = MockServer::start_async().await;
    let busy = stream_answers(&server, json!({"status": "IN_PROGRESS"})).await;
    let _stream = client(&server).endpoint(EP).job("j").chunks();
    tokio::time::sleep(Duration::from_millis(100)).await;
    busy.assert_calls_async(0).await;
}
