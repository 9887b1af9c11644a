//! An OpenAI-compatible worker with a tiny deterministic "model", `runpod-echo`: it answers a
//! chat completion with the last user message, and a completion with the prompt, one
//! whitespace-separated token per chunk. Any OpenAI client can call it through the endpoint's
//! `/openai/v1` route; its exact answers make it a fixture for tests and benchmarks.
//!
//! - `GET /v1/models`: one model, `runpod-echo`;
//! - `POST /v1/chat/completions`: echoes the last user message (`"stream": true` for chunks);
//! - `POST /v1/completions`: echoes the prompt;
//! - other routes, or a request with nothing to echo: an OpenAI error (status 400).
//!
//! Try it offline, with the worker serving its own local endpoint:
//!
//! ```text
//! cargo run -p runpod-examples --example openai_worker -- --rp_serve_api
//! curl -s localhost:8000/v2/local/openai/v1/chat/completions \
//!   -d '{"model": "runpod-echo", "messages": [{"role": "user", "content": "hello there"}], "stream": true}'
//! ```

use std::process::ExitCode;

use futures_util::stream::{self, Stream};
use runpod::serverless::openai::types::chat::{
    ChatChoiceStream, ChatCompletionRequestMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionRequestUserMessageContentPart, ChatCompletionStreamResponseDelta, Choice,
    CompletionFinishReason, CreateChatCompletionStreamResponse, FinishReason, Prompt, Role,
};
use runpod::serverless::openai::types::completions::CreateCompletionResponse;
use runpod::worker::openai::{self, OpenAiError, OpenAiRequest, Reply};
use runpod::worker::{self, JobContext};
use serde_json::json;

const MODEL: &str = "runpod-echo";

async fn serve(request: OpenAiRequest, job: JobContext) -> Result<Reply, OpenAiError> {
    let id = format!("echo-{}", job.id());
    match request {
        OpenAiRequest::Models => Ok(Reply::json(json!({
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "runpod-rs"}],
        }))),
        // A stream for every caller: the helper merges it into one document when the caller
        // did not ask for a stream.
        OpenAiRequest::ChatCompletions(chat) => {
            let text = last_user_text(&chat.messages)
                .ok_or_else(|| OpenAiError::new("no user message to echo"))?;
            Ok(Reply::chat_stream(chat_chunks(id, &text)))
        }
        OpenAiRequest::Completions(completion) => {
            let text = match &completion.prompt {
                Prompt::String(text) => text.clone(),
                Prompt::StringArray(texts) => texts.join(" "),
                _ => String::new(),
            };
            if text.trim().is_empty() {
                return Err(OpenAiError::new("the prompt is empty"));
            }
            Ok(Reply::completion_stream(completion_chunks(id, &text)))
        }
        other => Err(OpenAiError::new(format!(
            "{} is not served by {MODEL}",
            other.route()
        ))),
    }
}

/// The text of the last user message (text parts joined), if there is any.
fn last_user_text(messages: &[ChatCompletionRequestMessage]) -> Option<String> {
    let text = messages.iter().rev().find_map(|m| match m {
        ChatCompletionRequestMessage::User(user) => Some(match &user.content {
            ChatCompletionRequestUserMessageContent::Text(text) => text.clone(),
            ChatCompletionRequestUserMessageContent::Array(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ChatCompletionRequestUserMessageContentPart::Text(t) => Some(t.text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" "),
        }),
        _ => None,
    })?;
    (!text.trim().is_empty()).then_some(text)
}

/// The tokens of `text`: each word with the space that follows it.
fn tokens(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let last = words.len().saturating_sub(1);
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == last {
                (*w).to_owned()
            } else {
                format!("{w} ")
            }
        })
        .collect()
}

/// One chunk per token (the first also names the role), then an empty one with `stop`.
fn chat_chunks(
    id: String,
    text: &str,
) -> impl Stream<Item = Result<CreateChatCompletionStreamResponse, OpenAiError>> + use<> {
    // A fixed creation time keeps the answers byte-for-byte deterministic.
    let created = 0;
    let chunk = move |delta: ChatCompletionStreamResponseDelta, finish: Option<FinishReason>| {
        Ok(CreateChatCompletionStreamResponse {
            id: id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created,
            model: MODEL.to_owned(),
            choices: vec![ChatChoiceStream {
                index: 0,
                delta,
                finish_reason: finish,
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let mut chunks: Vec<_> = tokens(text)
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let delta = ChatCompletionStreamResponseDelta {
                role: (i == 0).then_some(Role::Assistant),
                content: Some(token),
                ..Default::default()
            };
            chunk(delta, None)
        })
        .collect();
    chunks.push(chunk(Default::default(), Some(FinishReason::Stop)));
    stream::iter(chunks)
}

/// One chunk per token, the last with `stop`.
fn completion_chunks(
    id: String,
    text: &str,
) -> impl Stream<Item = Result<CreateCompletionResponse, OpenAiError>> + use<> {
    let created = 0;
    let tokens = tokens(text);
    let last = tokens.len().saturating_sub(1);
    let chunks: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            Ok(CreateCompletionResponse {
                id: id.clone(),
                object: "text_completion".to_owned(),
                created,
                model: MODEL.to_owned(),
                choices: vec![Choice {
                    text: token,
                    index: 0,
                    logprobs: None,
                    finish_reason: (i == last).then_some(CompletionFinishReason::Stop),
                }],
                ..Default::default()
            })
        })
        .collect();
    stream::iter(chunks)
}

fn main() -> ExitCode {
    worker::start(openai::handler(serve))
}
