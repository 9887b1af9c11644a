//! OpenAI-compatible workers: answer the jobs Runpod's `/openai/v1/…` route makes, in the form
//! worker-vllm uses, so that any OpenAI client can call the endpoint.
//!
//! The gateway turns each call into a job whose input is `{"openai_route": "/v1/chat/completions",
//! "openai_input": {…the request body…}}`. [`handler`] decodes it into an [`OpenAiRequest`] with
//! OpenAI's own request type (from [`async-openai`](crate::openai::types)) and sends back what
//! the function returns:
//!
//! - one JSON document ([`Reply::json`]) for a call without `"stream": true`, posted as the
//!   job's only stream item and, aggregated, as its output (`[document]`, which the gateway
//!   unwraps);
//! - for a streaming call, each chunk as raw SSE text (`"data: {chunk}\n\n"`), one job-stream
//!   post per chunk, then `"data: [DONE]\n\n"` ([`Reply::chat_stream`],
//!   [`Reply::completion_stream`]). A stream returned for a call that did not ask for one is
//!   merged into one `chat.completion` / `text_completion` document;
//! - an [`OpenAiError`] as `{"error": {"message": …, "type": "worker_error", "code": null}}`,
//!   which the gateway answers with status 400 (or the error's [code](OpenAiError::with_code)).
//!   An error in the middle of a stream is sent as one last `data: {"error": …}` event, without
//!   `[DONE]`.
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! use runpod::serverless::worker::{self, openai::{self, OpenAiError, OpenAiRequest, Reply}};
//! use runpod::serverless::worker::JobContext;
//!
//! async fn serve(request: OpenAiRequest, _job: JobContext) -> Result<Reply, OpenAiError> {
//!     match request {
//!         OpenAiRequest::Models => Ok(Reply::json(serde_json::json!({
//!             "object": "list",
//!             "data": [{"id": "my-model", "object": "model", "created": 0, "owned_by": "me"}],
//!         }))),
//!         other => Err(OpenAiError::new(format!("{} is not served here", other.route()))),
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     worker::start(openai::handler(serve))
//! }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures_core::Stream;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::handler::{Streaming, streaming};
use super::job::{Job, JobContext};
use crate::openai::types::chat::{CreateChatCompletionRequest, CreateChatCompletionStreamResponse};
use crate::openai::types::completions::{CreateCompletionRequest, CreateCompletionResponse};
use crate::openai::types::responses::CreateResponse;

/// The job input the gateway sends: the route and, for calls with a body, the body.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct OpenAiInput {
    /// `/v1/chat/completions`, `/v1/completions`, `/v1/models`, `/v1/responses`, …
    pub openai_route: String,
    /// The request body; absent for `GET /v1/models`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openai_input: Option<Value>,
}

/// A call of the OpenAI-compatible route, decoded by its route.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OpenAiRequest {
    /// `POST /v1/chat/completions`.
    ChatCompletions(Box<CreateChatCompletionRequest>),
    /// `POST /v1/completions`.
    Completions(Box<CreateCompletionRequest>),
    /// `GET /v1/models`.
    Models,
    /// `POST /v1/responses`.
    Responses(Box<CreateResponse>),
    /// Any other route (`/v1/messages`, `/v1/embeddings`, …), its body kept as JSON.
    Other {
        /// The route, e.g. `/v1/messages`.
        route: String,
        /// The body, if any.
        input: Option<Value>,
    },
}

impl OpenAiRequest {
    /// Decodes a job's input. A body that does not fit its route's type is an
    /// [`OpenAiError`] naming the field (sent back to the caller as a 400).
    pub fn from_input(input: OpenAiInput) -> Result<Self, OpenAiError> {
        fn typed<T: serde::de::DeserializeOwned>(
            route: &str,
            input: Option<Value>,
        ) -> Result<Box<T>, OpenAiError> {
            let body = input.ok_or_else(|| OpenAiError::new(format!("{route} needs a body")))?;
            serde_path_to_error::deserialize(body)
                .map(Box::new)
                .map_err(|e| {
                    OpenAiError::new(format!(
                        "invalid {route} request at `{}`: {}",
                        e.path(),
                        e.inner()
                    ))
                })
        }
        let route = input.openai_route;
        let input = input.openai_input;
        Ok(match route.trim_end_matches('/') {
            "/v1/chat/completions" => Self::ChatCompletions(typed(&route, input)?),
            "/v1/completions" => Self::Completions(typed(&route, input)?),
            "/v1/models" => Self::Models,
            "/v1/responses" => Self::Responses(typed(&route, input)?),
            _ => Self::Other { route, input },
        })
    }

    /// The route this request came on, e.g. `/v1/chat/completions`.
    pub fn route(&self) -> &str {
        match self {
            Self::ChatCompletions(_) => "/v1/chat/completions",
            Self::Completions(_) => "/v1/completions",
            Self::Models => "/v1/models",
            Self::Responses(_) => "/v1/responses",
            Self::Other { route, .. } => route,
        }
    }

    /// Whether the caller asked for a stream (`"stream": true`).
    pub fn is_stream(&self) -> bool {
        match self {
            Self::ChatCompletions(r) => r.stream == Some(true),
            Self::Completions(r) => r.stream == Some(true),
            Self::Responses(r) => r.stream == Some(true),
            Self::Models => false,
            Self::Other { input, .. } => input
                .as_ref()
                .and_then(|i| i.get("stream"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// An error answered to the caller: `{"error": {"message", "type": "worker_error", "code"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiError {
    message: String,
    code: Option<u16>,
}

impl OpenAiError {
    /// An error with this message and no code (the gateway answers 400).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: None,
        }
    }

    /// Sets `code`, which the gateway uses as the HTTP status (e.g. 404 for an unknown model).
    #[must_use]
    pub fn with_code(mut self, status: u16) -> Self {
        self.code = Some(status);
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error document, as worker-vllm sends it.
    pub fn to_json(&self) -> Value {
        json!({"error": {"message": self.message, "type": "worker_error", "code": self.code}})
    }
}

impl fmt::Display for OpenAiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpenAiError {}

/// What an OpenAI-compatible handler answers: one document or a stream of chunks.
pub struct Reply(ReplyKind);

enum ReplyKind {
    Json(Value),
    Stream(StreamKind, BoxStream<'static, Result<Value, OpenAiError>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Chat,
    Completion,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ReplyKind::Json(v) => f.debug_tuple("Reply::Json").field(v).finish(),
            ReplyKind::Stream(kind, _) => f.debug_tuple("Reply::Stream").field(kind).finish(),
        }
    }
}

impl Reply {
    /// One JSON document: a `chat.completion`, a `text_completion`, a model list, a response…
    /// A value that cannot be serialized becomes an error answer.
    pub fn json(document: impl Serialize) -> Self {
        Self(ReplyKind::Json(
            serde_json::to_value(document).unwrap_or_else(|e| {
                OpenAiError::new(format!("the answer could not be serialized: {e}")).to_json()
            }),
        ))
    }

    /// A stream of `chat.completion.chunk`s.
    pub fn chat_stream(
        chunks: impl Stream<Item = Result<CreateChatCompletionStreamResponse, OpenAiError>>
        + Send
        + 'static,
    ) -> Self {
        Self::stream(StreamKind::Chat, chunks)
    }

    /// A stream of `text_completion` chunks.
    pub fn completion_stream(
        chunks: impl Stream<Item = Result<CreateCompletionResponse, OpenAiError>> + Send + 'static,
    ) -> Self {
        Self::stream(StreamKind::Completion, chunks)
    }

    fn stream<T: Serialize>(
        kind: StreamKind,
        chunks: impl Stream<Item = Result<T, OpenAiError>> + Send + 'static,
    ) -> Self {
        let chunks = chunks.map(|chunk| {
            chunk.and_then(|c| {
                serde_json::to_value(c)
                    .map_err(|e| OpenAiError::new(format!("a chunk could not be serialized: {e}")))
            })
        });
        Self(ReplyKind::Stream(kind, chunks.boxed()))
    }
}

/// Wraps `f(request, job) -> Result<Reply, OpenAiError>` as a worker handler for the
/// OpenAI-compatible route (a streaming handler with aggregated output, as worker-vllm runs).
/// Give it to [`worker::start`](crate::worker::start) or
/// [`Worker::builder`](crate::worker::Worker::builder).
pub fn handler<F, Fut>(
    f: F,
) -> Streaming<
    impl Fn(Job<OpenAiInput>) -> BoxStream<'static, Result<Value, Infallible>> + Send + Sync + 'static,
>
where
    F: Fn(OpenAiRequest, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, OpenAiError>> + Send + 'static,
{
    let f = Arc::new(f);
    streaming(move |job: Job<OpenAiInput>| {
        let f = Arc::clone(&f);
        let (input, ctx) = job.into_parts();
        answer(move || async move {
            let request = OpenAiRequest::from_input(input)?;
            let stream = request.is_stream();
            Ok((stream, f(request, ctx).await?))
        })
        .boxed()
    })
    .aggregate_output(true)
}

/// The job's stream items for one call: documents, or raw SSE text when streaming.
fn answer<Run, Fut>(run: Run) -> impl Stream<Item = Result<Value, Infallible>> + Send + 'static
where
    Run: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(bool, Reply), OpenAiError>> + Send + 'static,
{
    async_stream::stream! {
        let (streaming, reply) = match run().await {
            Ok(answer) => answer,
            Err(error) => {
                yield Ok(error.to_json());
                return;
            }
        };
        match reply.0 {
            ReplyKind::Json(document) => yield Ok(document),
            ReplyKind::Stream(_, mut chunks) if streaming => {
                while let Some(chunk) = chunks.next().await {
                    match chunk {
                        Ok(chunk) => yield Ok(Value::String(format!("data: {chunk}\n\n"))),
                        Err(error) => {
                            yield Ok(Value::String(format!("data: {}\n\n", error.to_json())));
                            return;
                        }
                    }
                }
                yield Ok(Value::String("data: [DONE]\n\n".to_owned()));
            }
            ReplyKind::Stream(kind, chunks) => {
                let all: Result<Vec<Value>, OpenAiError> =
                    chunks.collect::<Vec<_>>().await.into_iter().collect();
                yield Ok(match all {
                    Ok(all) => merge(kind, &all),
                    Err(error) => error.to_json(),
                });
            }
        }
    }
}

/// Merges the chunks of a stream into the one document a non-streaming caller expects: the
/// text of each choice joined, the last finish reason and usage kept.
fn merge(kind: StreamKind, chunks: &[Value]) -> Value {
    let first = chunks.first().cloned().unwrap_or_else(|| json!({}));
    let mut choices: Vec<(u64, String, Value)> = Vec::new();
    let mut usage = Value::Null;
    for chunk in chunks {
        if !chunk["usage"].is_null() {
            usage = chunk["usage"].clone();
        }
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            let index = choice["index"].as_u64().unwrap_or(0);
            let text = match kind {
                StreamKind::Chat => choice["delta"]["content"].as_str(),
                StreamKind::Completion => choice["text"].as_str(),
            };
            let at = match choices.iter().position(|(i, ..)| *i == index) {
                Some(at) => at,
                None => {
                    choices.push((index, String::new(), Value::Null));
                    choices.len() - 1
                }
            };
            choices[at].1.push_str(text.unwrap_or_default());
            if !choice["finish_reason"].is_null() {
                choices[at].2 = choice["finish_reason"].clone();
            }
        }
    }
    let choices: Vec<Value> = choices
        .into_iter()
        .map(|(index, text, finish_reason)| match kind {
            StreamKind::Chat => json!({
                "index": index,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": null,
            }),
            StreamKind::Completion => json!({
                "index": index,
                "text": text,
                "finish_reason": finish_reason,
                "logprobs": null,
            }),
        })
        .collect();
    let mut document = Map::new();
    for key in ["id", "created", "model", "system_fingerprint"] {
        if let Some(v) = first.get(key) {
            document.insert(key.to_owned(), v.clone());
        }
    }
    let object = match kind {
        StreamKind::Chat => "chat.completion",
        StreamKind::Completion => "text_completion",
    };
    document.insert("object".to_owned(), json!(object));
    document.insert("choices".to_owned(), Value::Array(choices));
    document.insert("usage".to_owned(), usage);
    Value::Object(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn input(route: &str, body: Option<Value>) -> OpenAiInput {
        OpenAiInput {
            openai_route: route.to_owned(),
            openai_input: body,
        }
    }

    #[test]
    fn routes_decode_into_typed_requests() {
        let chat =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true});
        let r = OpenAiRequest::from_input(input("/v1/chat/completions", Some(chat))).unwrap();
        assert!(matches!(&r, OpenAiRequest::ChatCompletions(c) if c.model == "m"));
        assert!(r.is_stream());
        let r = OpenAiRequest::from_input(input("/v1/models", None)).unwrap();
        assert_eq!((r.route(), r.is_stream()), ("/v1/models", false));
        let r = OpenAiRequest::from_input(input(
            "/v1/completions",
            Some(json!({"model": "m", "prompt": "x"})),
        ))
        .unwrap();
        assert!(matches!(r, OpenAiRequest::Completions(_)));
        let r = OpenAiRequest::from_input(input(
            "/v1/responses",
            Some(json!({"model": "m", "input": "x"})),
        ))
        .unwrap();
        assert!(matches!(r, OpenAiRequest::Responses(_)));
        let r = OpenAiRequest::from_input(input("/v1/messages", Some(json!({"stream": true}))))
            .unwrap();
        assert_eq!(r.route(), "/v1/messages");
        assert!(r.is_stream());
        let bad =
            OpenAiRequest::from_input(input("/v1/chat/completions", Some(json!({"model": 3}))))
                .unwrap_err();
        assert!(bad.message().contains("`model`"), "{bad}");
        let none = OpenAiRequest::from_input(input("/v1/completions", None)).unwrap_err();
        assert!(none.message().contains("needs a body"));
    }

    #[test]
    fn errors_have_worker_vllms_shape() {
        assert_eq!(
            OpenAiError::new("nope").to_json(),
            json!({"error": {"message": "nope", "type": "worker_error", "code": null}})
        );
        assert_eq!(
            OpenAiError::new("x").with_code(404).to_json()["error"]["code"],
            404
        );
    }

    fn chat_chunk(content: &str, finish: Option<&str>) -> CreateChatCompletionStreamResponse {
        serde_json::from_value(json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
        }))
        .unwrap()
    }

    async fn items(streaming: bool, reply: Result<Reply, OpenAiError>) -> Vec<Value> {
        answer(move || async move { reply.map(|r| (streaming, r)) })
            .map(|item| match item {
                Ok(v) => v,
                Err(never) => match never {},
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn streams_go_out_as_raw_sse_text_or_merged() {
        let chunks =
            || stream::iter([Ok(chat_chunk("a", None)), Ok(chat_chunk("b", Some("stop")))]);
        let sent = items(true, Ok(Reply::chat_stream(chunks()))).await;
        assert_eq!(sent.len(), 3);
        assert!(
            sent[0].as_str().unwrap().starts_with("data: {")
                && sent[0].as_str().unwrap().ends_with("}\n\n")
        );
        let first: Value = serde_json::from_str(
            sent[0]
                .as_str()
                .unwrap()
                .trim()
                .strip_prefix("data: ")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(first["choices"][0]["delta"]["content"], "a");
        assert_eq!(sent[2], "data: [DONE]\n\n");

        let merged = items(false, Ok(Reply::chat_stream(chunks()))).await;
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0]["object"], "chat.completion");
        assert_eq!(merged[0]["choices"][0]["message"]["content"], "ab");
        assert_eq!(merged[0]["choices"][0]["finish_reason"], "stop");
        let typed: crate::openai::types::chat::CreateChatCompletionResponse =
            serde_json::from_value(merged[0].clone()).unwrap();
        assert_eq!(typed.choices[0].message.content.as_deref(), Some("ab"));
    }

    #[tokio::test]
    async fn errors_end_the_answer() {
        let sent = items(true, Err(OpenAiError::new("no"))).await;
        assert_eq!(sent, [OpenAiError::new("no").to_json()]);
        let broken = stream::iter([Ok(chat_chunk("a", None)), Err(OpenAiError::new("oom"))]);
        let sent = items(true, Ok(Reply::chat_stream(broken))).await;
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[1],
            format!("data: {}\n\n", OpenAiError::new("oom").to_json())
        );
        let doc = items(
            false,
            Ok(Reply::json(json!({"object": "list", "data": []}))),
        )
        .await;
        assert_eq!(doc, [json!({"object": "list", "data": []})]);
    }
}
