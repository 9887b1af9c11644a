//! The OpenAI-compatible route with the official Python packages: the `openai` client against
//! runpod-local and our `openai_worker`, and the official runpod worker running a
//! worker-vllm-style handler, called by our typed client.

use std::time::Duration;

use futures_util::StreamExt as _;
use runpod::serverless::openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest, FinishReason,
};
use serde_json::{Value, json};

use super::{KEY, Process};
use crate::openai::{TEXT, WorkerProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_openai_client_against_our_openai_worker() {
    let server = super::server().bind("127.0.0.1:0").await.unwrap();
    let _worker = WorkerProcess::start(&server, "echo", 4);
    let base_url = format!("{}/echo/openai/v1", server.serverless_base_url());
    let env = [
        ("TEST_BASE_URL", base_url),
        ("TEST_API_KEY", KEY.to_owned()),
        ("TEST_TEXT", TEXT.to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let mut process = Process::spawn("openai_client.py", &[], env.to_vec());
    let status = process.wait(Duration::from_secs(120)).await;
    let log = process.log();
    assert!(
        status.is_some_and(|s| s.success()),
        "openai_client.py failed:\n{log}"
    );
    let result: Value = log
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_else(|| panic!("openai_client.py printed no RESULT:\n{log}"));

    assert_eq!(result["models"], json!(["runpod-echo"]));
    assert_eq!(
        result["chat"],
        json!({"object": "chat.completion", "content": TEXT, "finish_reason": "stop"})
    );
    // Five words, one chunk each, plus the closing chunk; [DONE] ended the iteration.
    assert_eq!(
        result["chat_stream"],
        json!({"count": 6, "text": TEXT, "finish_reason": "stop", "object": "chat.completion.chunk"})
    );
    assert_eq!(result["completion"], TEXT);
    assert_eq!(
        result["completion_stream"],
        json!({"count": 5, "text": TEXT})
    );
    for streaming in ["False", "True"] {
        assert_eq!(
            result[format!("error_stream_{streaming}")],
            json!({"class": "BadRequestError", "status": 400, "message": "no user message to echo"}),
            "stream={streaming}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_the_official_worker_with_a_worker_vllm_style_handler() {
    let server = super::server().bind("127.0.0.1:0").await.unwrap();
    let mut env = server.worker_env("vllm", "py-vllm");
    env.extend(
        [
            ("RUNPOD_SKIP_GPU_CHECK", "true"),
            ("RUNPOD_SKIP_AUTO_SYSTEM_CHECKS", "true"),
            ("RUNPOD_LOG_LEVEL", "INFO"),
            ("RUNPOD_PING_INTERVAL", "1000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let _worker = Process::spawn("vllm_style_worker.py", &[], env);
    let llm = crate::support::client(&server, KEY)
        .endpoint("vllm")
        .openai();

    let models = llm.models().await.unwrap();
    assert_eq!(models.data[0].id, "py-echo");

    let request = CreateChatCompletionRequest {
        model: "py-echo".to_owned(),
        messages: vec![ChatCompletionRequestUserMessage::from(TEXT).into()],
        ..Default::default()
    };
    // The worker yields one document; its aggregated output [document] is unwrapped.
    let answer = llm.chat_completion(request.clone()).await.unwrap();
    assert_eq!(answer.choices[0].message.content.as_deref(), Some(TEXT));

    // Raw SSE text, two events per job-stream post, [DONE] from the worker itself.
    let chunks: Vec<_> = llm
        .chat_completion_stream(request)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(chunks.len(), 6);
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices[0].delta.content.clone())
        .collect();
    assert_eq!(text, TEXT);
    assert_eq!(chunks[5].choices[0].finish_reason, Some(FinishReason::Stop));

    // worker-vllm's answer to a route it does not serve. The Python SDK turns a yielded
    // `{"error": …}` into a failed job (its error the dict's repr), which the gateway answers
    // with 500 and that text.
    let error = llm
        .call::<Value, Value>(
            runpod::transport::Method::POST,
            "embeddings",
            Some(&json!({"input": "x"})),
        )
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500), "{error:?}");
    let message = error.api_error().unwrap().message.clone().unwrap();
    assert!(message.contains("Invalid route"), "{message}");
}
