//! The OpenAI-compatible route: calls become `{openai_route, openai_input}` jobs, answers and
//! SSE streams come from what a worker posts, errors in OpenAI's shape.

use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::{FaultConfig, Route, RouteFaults, Server};
use serde_json::{Value, json};

use crate::support::{EP, Harness};

fn chat_path() -> String {
    format!("/v2/{EP}/openai/v1/chat/completions")
}

/// Sends `request` in a task and returns it with the job a worker then takes.
async fn call_and_take(
    h: &Harness,
    request: reqwest::RequestBuilder,
) -> (tokio::task::JoinHandle<reqwest::Response>, Value) {
    let call = tokio::spawn(async move { request.send().await.unwrap() });
    let job = loop {
        if let Some(job) = h.take("w").await {
            break job;
        }
    };
    (call, job)
}

async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_call_becomes_a_job_and_its_output_the_answer() {
    let h = Harness::start().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let (call, job) = call_and_take(&h, h.http.post(h.url(&chat_path())).json(&body)).await;
    assert_eq!(
        job["input"],
        json!({"openai_route": "/v1/chat/completions", "openai_input": body})
    );
    let id = job["id"].as_str().unwrap();
    // worker-vllm aggregates its single yielded document into a list.
    let completion = json!({"id": "c1", "object": "chat.completion", "choices": []});
    h.done("w", id, json!({"output": [completion]})).await;
    let response = call.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), completion);
}

#[tokio::test]
async fn get_models_has_no_openai_input() {
    let h = Harness::start().await;
    let (call, job) =
        call_and_take(&h, h.http.get(h.url(&format!("/v2/{EP}/openai/v1/models")))).await;
    assert_eq!(job["input"], json!({"openai_route": "/v1/models"}));
    let models = json!({"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "me"}]});
    h.done("w", job["id"].as_str().unwrap(), json!({"output": models}))
        .await;
    assert_eq!(call.await.unwrap().json::<Value>().await.unwrap(), models);
}

#[tokio::test]
async fn a_stream_forwards_raw_sse_chunks_as_they_come_and_ends_with_the_job() {
    let h = Harness::start().await;
    let body = json!({"model": "m", "messages": [], "stream": true});
    let (call, job) = call_and_take(&h, h.http.post(h.url(&chat_path())).json(&body)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    h.chunk("w", &id, json!({"output": "data: {\"n\":1}\n\n"}))
        .await;
    let mut response = call.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    // The first chunk arrives before the job goes on: the stream is live, not buffered.
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(first, "data: {\"n\":1}\n\n");
    h.chunk(
        "w",
        &id,
        json!({"output": "data: {\"n\":2}\n\ndata: {\"n\":3}\n\n"}),
    )
    .await;
    let second = response.chunk().await.unwrap().unwrap();
    assert_eq!(second, "data: {\"n\":2}\n\ndata: {\"n\":3}\n\n");
    // A JSON chunk (RAW_OPENAI_OUTPUT=0) becomes one event; [DONE] is added at the end.
    h.chunk("w", &id, json!({"output": [{"n": 4}]})).await;
    h.done("w", &id, json!({"output": []})).await;
    let mut rest = Vec::new();
    while let Some(bytes) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&bytes);
    }
    assert_eq!(
        String::from_utf8(rest).unwrap(),
        "data: {\"n\":4}\n\ndata: [DONE]\n\n"
    );
}

#[tokio::test]
async fn a_failure_before_the_first_chunk_keeps_its_status_and_after_it_is_an_event() {
    let h = Harness::start().await;
    let body = json!({"model": "m", "prompt": "x", "stream": true});
    let path = format!("/v2/{EP}/openai/v1/completions");
    let (call, job) = call_and_take(&h, h.http.post(h.url(&path)).json(&body)).await;
    let refusal = json!({"error": {"message": "bad prompt", "type": "worker_error", "code": null}});
    h.chunk("w", job["id"].as_str().unwrap(), json!({"output": refusal}))
        .await;
    let response = call.await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap(), refusal);

    let (call, job) = call_and_take(&h, h.http.post(h.url(&path)).json(&body)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    h.chunk("w", &id, json!({"output": "data: {\"n\":1}\n\n"}))
        .await;
    let error =
        json!({"error": "{\"error_type\":\"RuntimeError\",\"error_message\":\"GPU fell off\"}"});
    h.done("w", &id, error).await;
    let response = call.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("data: {\"n\":1}\n\ndata: {\"error\":"),
        "{text}"
    );
    assert!(
        text.contains("GPU fell off") && !text.contains("[DONE]"),
        "{text}"
    );
}

#[tokio::test]
async fn errors_come_in_openais_shape_with_fitting_statuses() {
    let h = Harness::start().await;
    // Not JSON.
    let (status, body) = h.send(h.http.post(h.url(&chat_path())).body("{nope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(h.health().await["jobs"]["inQueue"], 0, "nothing was queued");

    // A job that fails: 500 with the worker's message.
    let (call, job) = call_and_take(
        &h,
        h.http
            .post(h.url(&chat_path()))
            .json(&json!({"model": "m"})),
    )
    .await;
    let error =
        json!({"error": "{\"error_type\":\"ValueError\",\"error_message\":\"no messages\"}"});
    h.done("w", job["id"].as_str().unwrap(), error).await;
    let (status, body) = answer(call.await.unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": {"message": "no messages", "type": "worker_error", "param": null, "code": null}})
    );
}

#[tokio::test]
async fn a_job_that_expires_unanswered_is_a_504() {
    let h = Harness::with(Server::builder().default_ttl(Duration::from_millis(300))).await;
    let (status, body) = h.post(&chat_path(), json!({"model": "m"})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["error"]["type"], "timeout");
    let (status, body) = h
        .post(&chat_path(), json!({"model": "m", "stream": true}))
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
}

#[tokio::test]
async fn a_reader_that_goes_away_cancels_the_job() {
    let h = Harness::start().await;
    let body = json!({"model": "m", "stream": true});
    let (call, job) = call_and_take(&h, h.http.post(h.url(&chat_path())).json(&body)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    h.chunk("w", &id, json!({"output": "data: {}\n\n"})).await;
    drop(call.await.unwrap());
    let mut status = Value::Null;
    for _ in 0..50 {
        status = h.job(&id).await["status"].clone();
        if status == "CANCELLED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "CANCELLED");
}

#[tokio::test]
async fn the_openai_route_is_its_own_fault_class() {
    let faults = FaultConfig::new().route(Route::OpenAi, RouteFaults::new().too_many_requests(1.0));
    let h = Harness::with(Server::builder().faults(faults)).await;
    assert_eq!(Route::from_segment("openai"), Some(Route::OpenAi));
    let (status, _) = h.post(&chat_path(), json!({"model": "m"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.health().await["jobs"]["inQueue"], 0);
    // Other routes are untouched.
    let (status, _) = h.post(&format!("/v2/{EP}/run"), json!({"input": 1})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_reader_that_leaves_after_done_does_not_cancel_the_finishing_job() {
    let h = Harness::start().await;
    let body = json!({"model": "m", "stream": true});
    let (call, job) = call_and_take(&h, h.http.post(h.url(&chat_path())).json(&body)).await;
    let id = job["id"].as_str().unwrap().to_owned();
    h.chunk("w", &id, json!({"output": "data: {}\n\n"})).await;
    let mut response = call.await.unwrap();
    assert_eq!(response.chunk().await.unwrap().unwrap(), "data: {}\n\n");
    h.chunk("w", &id, json!({"output": "data: [DONE]\n\n"}))
        .await;
    assert_eq!(response.chunk().await.unwrap().unwrap(), "data: [DONE]\n\n");
    // The client stops reading at [DONE], as OpenAI clients do, before the worker's job-done.
    drop(response);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = h.done("w", &id, json!({"output": []})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.job(&id).await["status"], "COMPLETED");
}
