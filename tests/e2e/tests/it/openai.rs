//! The OpenAI-compatible route end to end: runpod-local's gateway, the `openai_worker` example
//! binary (a deterministic echo "model") as a separate process, and our typed client
//! (`Endpoint::openai`).

use std::process::{Child, Command, Stdio};

use futures_util::StreamExt as _;
use runpod::serverless::openai::OpenAi;
use runpod::serverless::openai::types::chat::{
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, FinishReason,
};
use runpod::serverless::openai::types::completions::CreateCompletionRequest;
use runpod_local::{RunningServer, Server};
use serde_json::Value;

use crate::support;

pub(crate) const KEY: &str = "openai-key";
/// What the tests send; the echo model answers it back one word per chunk.
pub(crate) const TEXT: &str = "the quick brown fox jumps";
const WORDS: usize = 5;

/// The worker binary serving `endpoint` on `server`; killed when dropped.
pub(crate) struct WorkerProcess(Child);

impl WorkerProcess {
    pub(crate) fn start(server: &RunningServer, endpoint: &str, concurrency: u32) -> Self {
        Self::start_with(server, endpoint, concurrency, &[])
    }

    /// [`start`](Self::start) with more environment variables.
    fn start_with(
        server: &RunningServer,
        endpoint: &str,
        concurrency: u32,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(crate::support::example_binary("openai_worker"));
        command
            .args(["--concurrency", &concurrency.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("RUNPOD_") {
                command.env_remove(name);
            }
        }
        command.envs(server.worker_env(endpoint, "openai-worker"));
        command.envs(env.iter().copied());
        Self(command.spawn().unwrap())
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn local_server() -> RunningServer {
    Server::builder()
        .api_key(KEY)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn chat(text: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequest {
        model: "runpod-echo".to_owned(),
        messages: vec![ChatCompletionRequestUserMessage::from(text).into()],
        ..Default::default()
    }
}

fn completion(text: &str) -> CreateCompletionRequest {
    CreateCompletionRequest {
        model: "runpod-echo".to_owned(),
        prompt: text.into(),
        ..Default::default()
    }
}

fn client(server: &RunningServer, endpoint: &str) -> OpenAi {
    support::client(server, KEY).endpoint(endpoint).openai()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_the_openai_worker_through_runpod_local() {
    let server = local_server().await;
    let _worker = WorkerProcess::start(&server, "echo", 4);
    let llm = client(&server, "echo");
    assert_eq!(
        llm.base_url(),
        format!("{}/echo/openai/v1", server.serverless_base_url())
    );

    let models = llm.models().await.unwrap();
    let ids: Vec<&str> = models.data.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["runpod-echo"]);

    // Without streaming: the worker's stream, merged into one document by the helper.
    let answer = llm.chat_completion(chat(TEXT)).await.unwrap();
    assert_eq!(answer.object, "chat.completion");
    assert_eq!(answer.choices.len(), 1);
    assert_eq!(answer.choices[0].message.content.as_deref(), Some(TEXT));
    assert_eq!(answer.choices[0].finish_reason, Some(FinishReason::Stop));

    // Streaming: one chunk per word plus the closing one, then [DONE] ends the stream.
    let chunks: Vec<_> = llm
        .chat_completion_stream(chat(TEXT))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(chunks.len(), WORDS + 1);
    let chunks: Vec<_> = chunks.into_iter().map(Result::unwrap).collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices[0].delta.content.clone())
        .collect();
    assert_eq!(text, TEXT);
    assert_eq!(chunks[0].object, "chat.completion.chunk");
    assert_eq!(
        chunks.last().unwrap().choices[0].finish_reason,
        Some(FinishReason::Stop)
    );

    let answer = llm.completion(completion(TEXT)).await.unwrap();
    assert_eq!(answer.choices[0].text, TEXT);
    let chunks: Vec<_> = llm
        .completion_stream(completion(TEXT))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(chunks.len(), WORDS);
    let text: String = chunks.iter().map(|c| c.choices[0].text.as_str()).collect();
    assert_eq!(text, TEXT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_over_http2_on_both_sides() {
    // The worker's job-take, job-stream and job-done over HTTP/2 (RUNPOD_HTTP_VERSION), our
    // client's stream too: the chunks arrive whole and in order.
    let server = local_server().await;
    let _worker = WorkerProcess::start_with(&server, "echo2", 4, &[("RUNPOD_HTTP_VERSION", "2")]);
    let config = runpod::Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(server.serverless_base_url())
        .with_http_version(runpod::HttpVersion::Http2)
        .build()
        .unwrap();
    let llm = runpod::ServerlessClient::from_config(config)
        .unwrap()
        .endpoint("echo2")
        .openai();
    let streams = (0..3).map(|_| {
        let llm = llm.clone();
        async move {
            let chunks: Vec<_> = llm
                .chat_completion_stream(chat(TEXT))
                .await
                .unwrap()
                .map(Result::unwrap)
                .collect()
                .await;
            chunks
                .iter()
                .filter_map(|c| c.choices[0].delta.content.clone())
                .collect::<String>()
        }
    });
    for text in futures_util::future::join_all(streams).await {
        assert_eq!(text, TEXT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_a_400_in_openais_shape_streaming_or_not() {
    let server = local_server().await;
    let _worker = WorkerProcess::start(&server, "echo", 2);
    let llm = client(&server, "echo");
    let nothing_to_echo = CreateChatCompletionRequest {
        model: "runpod-echo".to_owned(),
        messages: vec![ChatCompletionRequestSystemMessage::from("be brief").into()],
        ..Default::default()
    };
    let error = llm
        .chat_completion(nothing_to_echo.clone())
        .await
        .unwrap_err();
    assert!(error.is_status(), "{error:?}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(
        error.api_error().unwrap().message.as_deref(),
        Some("no user message to echo")
    );
    let error = llm
        .chat_completion_stream(nothing_to_echo)
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400), "{error:?}");

    // A route the worker does not serve: its answer, through the raw call.
    let error = llm
        .call::<Value, Value>(
            runpod::transport::Method::POST,
            "embeddings",
            Some(&serde_json::json!({"input": "x"})),
        )
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert!(
        error
            .api_error()
            .unwrap()
            .message
            .as_deref()
            .unwrap()
            .contains("/v1/embeddings is not served")
    );
}

/// async-openai's own client (its HTTP stack, not ours), pointed at the endpoint's base URL
/// with the Runpod key: what many users will do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_openais_own_client_against_the_openai_worker() {
    use async_openai::config::OpenAIConfig;
    use async_openai::error::OpenAIError;

    let server = local_server().await;
    let _worker = WorkerProcess::start(&server, "echo", 4);
    let config = OpenAIConfig::new()
        .with_api_base(format!("{}/echo/openai/v1", server.serverless_base_url()))
        .with_api_key(KEY);
    let openai = async_openai::Client::with_config(config);

    let models = openai.models().list().await.unwrap();
    assert_eq!(models.data[0].id, "runpod-echo");

    let answer = openai.chat().create(chat(TEXT)).await.unwrap();
    assert_eq!(answer.choices[0].message.content.as_deref(), Some(TEXT));

    let chunks: Vec<_> = openai
        .chat()
        .create_stream(chat(TEXT))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(chunks.len(), WORDS + 1);
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices[0].delta.content.clone())
        .collect();
    assert_eq!(text, TEXT);

    let answer = openai.completions().create(completion(TEXT)).await.unwrap();
    assert_eq!(answer.choices[0].text, TEXT);

    let refused = CreateChatCompletionRequest {
        model: "runpod-echo".to_owned(),
        messages: vec![ChatCompletionRequestSystemMessage::from("be brief").into()],
        ..Default::default()
    };
    match openai.chat().create(refused).await {
        Err(OpenAIError::ApiError(e)) => {
            assert_eq!(e.status_code.as_u16(), 400);
            assert_eq!(e.api_error.message, "no user message to echo");
            assert_eq!(e.api_error.r#type.as_deref(), Some("worker_error"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}
