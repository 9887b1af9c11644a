//! `Endpoint::openai` against httpmock and a raw TCP server: request shapes, every error status,
//! error events, garbled chunks, streams that stop early or break, and no resend of a stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt as _;
use httpmock::MockServer;
use runpod_serverless::openai::OpenAi;
use runpod_serverless::openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{EP, Recorder, assert_client_headers, client, collect_ending, config, path};

fn openai(server: &MockServer) -> OpenAi {
    client(server).endpoint(EP).openai()
}

fn request() -> CreateChatCompletionRequest {
    CreateChatCompletionRequest {
        model: "m".to_owned(),
        messages: vec![ChatCompletionRequestUserMessage::from("hi").into()],
        // Cleared by the non-streaming call, set by the streaming one.
        stream: Some(true),
        ..Default::default()
    }
}

fn completion_doc() -> Value {
    json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    })
}

fn chunk(content: &str) -> String {
    let chunk = json!({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}],
    });
    format!("data: {chunk}\n\n")
}

async fn sse_answer(server: &MockServer, status: u16, body: String) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method("POST").path(path("openai/v1/chat/completions"));
            then.status(status)
                .header("content-type", "text/event-stream")
                .body(body);
        })
        .await
}

#[tokio::test]
async fn calls_go_to_the_openai_route_with_the_key_as_bearer() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    let chat = server
        .mock_async(|when, then| {
            when.method("POST")
                .path(path("openai/v1/chat/completions"))
                .is_true(recorder.matcher("POST", path("openai/v1/chat/completions")));
            then.status(200).json_body(completion_doc());
        })
        .await;
    let models = server
        .mock_async(|when, then| {
            when.method("GET").path(path("openai/v1/models"));
            then.status(200)
                .json_body(json!({"object": "list", "data": [
                    {"id": "m", "object": "model", "created": 0, "owned_by": "me"}
                ]}));
        })
        .await;
    let llm = openai(&server);
    assert_eq!(
        llm.base_url(),
        format!("{}/{EP}/openai/v1", server.url("/v2"))
    );
    let answer = llm.chat_completion(request()).await.unwrap();
    assert_eq!(answer.choices[0].message.content.as_deref(), Some("hello"));
    let seen = recorder.only();
    assert_client_headers(&seen, &config(&server));
    let body = seen.json();
    assert_eq!(body["model"], "m");
    assert!(body.get("stream").is_none(), "{body}");
    assert_eq!(llm.models().await.unwrap().data[0].id, "m");
    chat.assert_calls_async(1).await;
    models.assert_calls_async(1).await;
}

#[tokio::test]
async fn error_statuses_are_typed_with_openais_message() {
    for (status, check) in [
        (400, Error::is_status as fn(&Error) -> bool),
        (401, Error::is_unauthorized),
        (404, Error::is_not_found),
        (500, Error::is_status),
        (504, Error::is_status),
    ] {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.method("POST").path(path("openai/v1/chat/completions"));
                then.status(status).json_body(json!({"error": {
                    "message": format!("failure {status}"), "type": "worker_error", "param": null, "code": null
                }}));
            })
            .await;
        let error = openai(&server)
            .chat_completion(request())
            .await
            .unwrap_err();
        assert!(check(&error), "{status}: {error:?}");
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(
            error.api_error().unwrap().message.as_deref(),
            Some(format!("failure {status}").as_str())
        );
        // A completion is not idempotent: an answer that may have started one is not resent.
        mock.assert_calls_async(1).await;
    }
}

type Error = runpod_serverless::Error;

#[tokio::test]
async fn a_stream_sends_stream_true_and_ends_on_done() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    let body = format!(
        "{}{}: keep-alive\n\ndata: [DONE]\n\n{}",
        chunk("a"),
        chunk("b"),
        chunk("after")
    );
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path(path("openai/v1/chat/completions"))
                .is_true(recorder.matcher("POST", path("openai/v1/chat/completions")));
            then.status(200)
                .header("content-type", "text/event-stream")
                .body(body);
        })
        .await;
    let stream = openai(&server)
        .chat_completion_stream(request())
        .await
        .unwrap();
    let chunks = collect_ending(stream).await;
    let texts: Vec<String> = chunks
        .into_iter()
        .map(|c| c.unwrap().choices[0].delta.content.clone().unwrap())
        .collect();
    // Whatever follows [DONE] is not read.
    assert_eq!(texts, ["a", "b"]);
    assert_eq!(recorder.only().json()["stream"], true);
}

#[tokio::test]
async fn a_stream_that_stops_before_done_ends_with_a_network_error() {
    let server = MockServer::start_async().await;
    let mock = sse_answer(&server, 200, chunk("a")).await;
    let stream = openai(&server)
        .chat_completion_stream(request())
        .await
        .unwrap();
    let items = collect_ending(stream).await;
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    let error = items[1].as_ref().unwrap_err();
    assert!(error.is_network(), "{error:?}");
    assert!(error.to_string().contains("[DONE]"));
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_error_event_ends_the_stream_with_its_message() {
    let server = MockServer::start_async().await;
    let error =
        r#"data: {"error": {"message": "GPU fell off", "type": "worker_error", "code": null}}"#;
    sse_answer(
        &server,
        200,
        format!("{}{error}\n\n{}", chunk("a"), chunk("b")),
    )
    .await;
    let stream = openai(&server)
        .chat_completion_stream(request())
        .await
        .unwrap();
    let items = collect_ending(stream).await;
    assert_eq!(items.len(), 2, "nothing follows the error");
    let error = items[1].as_ref().unwrap_err();
    assert!(error.is_status() && !error.is_retryable(), "{error:?}");
    assert_eq!(
        error.api_error().unwrap().message.as_deref(),
        Some("GPU fell off")
    );
}

#[tokio::test]
async fn a_garbled_chunk_is_a_decode_error_naming_the_field() {
    let server = MockServer::start_async().await;
    sse_answer(
        &server,
        200,
        format!("data: {{\"id\": 7}}\n\n{}", chunk("x")),
    )
    .await;
    // The garbled chunk comes first, so the call itself reports it.
    let error = openai(&server)
        .chat_completion_stream(request())
        .await
        .unwrap_err();
    assert!(error.is_decode(), "{error:?}");
    assert_eq!(error.json_path(), Some("id"));
}

#[tokio::test]
async fn an_error_status_on_opening_a_stream_is_returned_by_the_call_and_not_retried() {
    for status in [400, 429, 503] {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.method("POST").path(path("openai/v1/chat/completions"));
                then.status(status)
                    .json_body(json!({"error": {"message": "no", "type": "x", "code": null}}));
            })
            .await;
        let error = openai(&server)
            .chat_completion_stream(request())
            .await
            .unwrap_err();
        assert_eq!(
            error.status().map(|s| s.as_u16()),
            Some(status),
            "{error:?}"
        );
        assert_eq!(error.api_error().unwrap().message.as_deref(), Some("no"));
        mock.assert_calls_async(1).await;
    }
}

/// A server that answers one SSE chunk, then breaks the connection in the middle of the body.
#[tokio::test]
async fn a_broken_connection_ends_the_stream_with_an_error_and_is_never_reopened() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    let server = tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the JSON body (the client sends its content-length).
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            let event = chunk("a");
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            let body = format!("{:x}\r\n{event}\r\n", event.len());
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(body.as_bytes()).await.unwrap();
            socket.flush().await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            drop(socket);
        }
    });
    let config = runpod_serverless::Config::builder()
        .with_api_key("k")
        .with_serverless_base_url(format!("http://{addr}/v2"))
        .build()
        .unwrap();
    let llm = runpod_serverless::ServerlessClient::from_config(config)
        .unwrap()
        .endpoint(EP)
        .openai();
    let stream = llm.chat_completion_stream(request()).await.unwrap();
    let items = collect_ending(stream).await;
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].as_ref().unwrap().choices[0]
            .delta
            .content
            .as_deref(),
        Some("a")
    );
    assert!(
        items[1].as_ref().unwrap_err().is_network(),
        "{:?}",
        items[1]
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "the stream was reopened"
    );
    server.abort();
}

#[tokio::test]
async fn chunks_stay_typed_across_the_stream() {
    let server = MockServer::start_async().await;
    sse_answer(
        &server,
        200,
        format!("{}{}data: [DONE]\n\n", chunk("x"), chunk("y")),
    )
    .await;
    let mut stream = openai(&server)
        .chat_completion_stream(request())
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.object, "chat.completion.chunk");
    assert!(stream.next().await.unwrap().is_ok());
    assert!(stream.next().await.is_none());
    // Finished streams stay finished.
    assert!(stream.next().await.is_none());
}
