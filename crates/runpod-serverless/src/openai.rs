//! The OpenAI-compatible route of an endpoint: `{endpoint}/openai/v1/…`, typed with OpenAI's
//! own models.
//!
//! Endpoints running worker-vllm (and Runpod's Public Endpoints) answer OpenAI's API under
//! `https://api.runpod.ai/v2/{endpoint_id}/openai/v1`, with the Runpod API key as the bearer
//! token. [`Endpoint::openai`](crate::Endpoint::openai) gives a handle on it that shares the
//! client's configuration, key, retries and rate limiter (the `/openai/*` class: 2000 requests
//! per 10 s, 400 in flight).
//!
//! The request and response types are [`async-openai`](https://docs.rs/async-openai)'s, used
//! without its HTTP client, and re-exported here as [`types`].
//!
//! ```no_run
//! # use runpod_serverless::__runpod as runpod;
//! # async fn demo() -> runpod::serverless::Result<()> {
//! use futures_util::StreamExt;
//! use runpod::serverless::ServerlessClient;
//! use runpod::serverless::openai::types::chat::{
//!     ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
//! };
//!
//! let client = ServerlessClient::from_env()?;
//! // A vLLM endpoint of yours, or a Public Endpoint's model slug such as "qwen3-32b-awq".
//! let llm = client.endpoint("my-vllm-endpoint").openai();
//!
//! let request = CreateChatCompletionRequest {
//!     model: "Qwen/Qwen3-8B".to_owned(),
//!     messages: vec![ChatCompletionRequestUserMessage::from("Say hello").into()],
//!     ..Default::default()
//! };
//! let answer = llm.chat_completion(request.clone()).await?;
//! println!("{:?}", answer.choices[0].message.content);
//!
//! let mut chunks = llm.chat_completion_stream(request).await?;
//! while let Some(chunk) = chunks.next().await {
//!     let chunk = chunk?;
//!     if let Some(text) = chunk.choices.first().and_then(|c| c.delta.content.as_deref()) {
//!         print!("{text}");
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! An error status is [`is_status`](crate::Error::is_status) with OpenAI's error body read by
//! [`api_error`](crate::Error::api_error) (its `message`). In a stream, an error event
//! (`data: {"error": …}`) ends the stream with such an error (status 200); a stream that stops
//! before `data: [DONE]` ends with an [`is_network`](crate::Error::is_network) error, never
//! silently and never by hanging. A streamed completion is never sent twice: a stream that
//! breaks is reported, not reopened (that would start a second generation).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;
use runpod_transport::{
    Error, Method, RequestBuilder, Result, RetryPolicy, SseEvent, StatusCode, from_value,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::endpoint::EndpointShared;
use crate::rate_limit::{Permit, Route};

/// OpenAI's request and response models ([`async-openai`](https://docs.rs/async-openai)'s
/// `chat-completion-types`, `completion-types`, `model-types` and `response-types`).
pub mod types {
    pub use async_openai::types::{chat, completions, models, responses};
}

use types::chat::{
    CreateChatCompletionRequest, CreateChatCompletionResponse, CreateChatCompletionStreamResponse,
};
use types::completions::{CreateCompletionRequest, CreateCompletionResponse};
use types::models::ListModelResponse;

/// How long one call may wait for its answer (or a stream for its first chunk): the gateway
/// gives up after about five minutes, so this only catches a server that never answers.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(330);

/// The OpenAI-compatible API of one endpoint, `{endpoint base}/openai/v1`. Made by
/// [`Endpoint::openai`](crate::Endpoint::openai); cheap to clone.
#[derive(Clone)]
pub struct OpenAi {
    shared: Arc<EndpointShared>,
}

impl fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAi")
            .field("base_url", &self.base_url())
            .finish()
    }
}

impl OpenAi {
    pub(crate) fn new(shared: Arc<EndpointShared>) -> Self {
        Self { shared }
    }

    /// `{endpoint base}/openai/v1`: the base URL to give any OpenAI client, with the Runpod
    /// API key as its key.
    pub fn base_url(&self) -> String {
        format!("{}/openai/v1", self.shared.base_url())
    }

    /// `POST /chat/completions` without streaming (`stream` is cleared).
    pub async fn chat_completion(
        &self,
        mut request: CreateChatCompletionRequest,
    ) -> Result<CreateChatCompletionResponse> {
        request.stream = None;
        self.call(Method::POST, "chat/completions", Some(&request))
            .await
    }

    /// `POST /chat/completions` with `"stream": true`: the chunks as they come, ending after
    /// `data: [DONE]`. Errors before the first chunk (a refused request, an unknown model)
    /// are returned here; later ones end the stream.
    pub async fn chat_completion_stream(
        &self,
        mut request: CreateChatCompletionRequest,
    ) -> Result<ChunkStream<CreateChatCompletionStreamResponse>> {
        request.stream = Some(true);
        self.stream("chat/completions", &request).await
    }

    /// `POST /completions` without streaming (`stream` is cleared).
    pub async fn completion(
        &self,
        mut request: CreateCompletionRequest,
    ) -> Result<CreateCompletionResponse> {
        request.stream = None;
        self.call(Method::POST, "completions", Some(&request)).await
    }

    /// `POST /completions` with `"stream": true`; see
    /// [`chat_completion_stream`](Self::chat_completion_stream).
    pub async fn completion_stream(
        &self,
        mut request: CreateCompletionRequest,
    ) -> Result<ChunkStream<CreateCompletionResponse>> {
        request.stream = Some(true);
        self.stream("completions", &request).await
    }

    /// `GET /models`: the models the endpoint serves.
    pub async fn models(&self) -> Result<ListModelResponse> {
        self.call::<(), _>(Method::GET, "models", None).await
    }

    /// Any other route (`responses`, `messages`, …) with a JSON body of your own and a JSON
    /// answer of your choice, e.g. `serde_json::Value`.
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        route: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let _permit = self.permit().await;
        let mut request = self.request(method, route);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send_json().await
    }

    /// A request to `{base_url}/{route}` with the client's key and retry policy, for what the
    /// typed calls do not cover. Not rate-limited by itself.
    pub fn request(&self, method: Method, route: &str) -> RequestBuilder {
        let path = format!("openai/v1/{}", route.trim_start_matches('/'));
        self.shared
            .request(method, &path)
            .with_attempt_timeout(Some(ANSWER_TIMEOUT))
    }

    async fn permit(&self) -> Option<Permit> {
        match self.shared.queue(Route::OpenAi) {
            Some(queued) => Some(queued.await),
            None => None,
        }
    }

    async fn stream<T: DeserializeOwned + Send + 'static>(
        &self,
        route: &str,
        body: &impl Serialize,
    ) -> Result<ChunkStream<T>> {
        let permit = self.permit().await;
        let events = self
            .request(Method::POST, route)
            .json(body)
            // One connection only: reconnecting would start a second generation.
            .with_retry(RetryPolicy::none())
            .send_sse()
            .boxed();
        let mut stream = ChunkStream {
            events: Some(events),
            first: None,
            permit,
            _chunk: std::marker::PhantomData,
        };
        // Surface an error status (or an error event before any chunk) from the call itself.
        match stream.next().await {
            Some(Err(e)) => Err(e),
            first => {
                stream.first = first;
                Ok(stream)
            }
        }
    }
}

type EventStream = futures_util::stream::BoxStream<'static, Result<SseEvent>>;

/// The chunks of a streamed completion, typed; ends after `data: [DONE]`.
///
/// A stream that stops early ends with an [`is_network`](crate::Error::is_network) error, an
/// error event with an [`is_status`](crate::Error::is_status) one; nothing follows an error.
/// Holds the endpoint's `/openai/*` rate-limit slot until dropped or finished.
pub struct ChunkStream<T> {
    /// `None` once finished.
    events: Option<EventStream>,
    /// The item read ahead when the stream was opened.
    first: Option<Result<T>>,
    permit: Option<Permit>,
    _chunk: std::marker::PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ChunkStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkStream")
            .field("finished", &self.events.is_none())
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Stream for ChunkStream<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        let Some(events) = self.events.as_mut() else {
            return Poll::Ready(None);
        };
        let item = match events.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => Some(Err(Error::stream_cut(
                "the event stream ended before `data: [DONE]`",
            ))),
            Poll::Ready(Some(Err(e))) => Some(Err(e)),
            Poll::Ready(Some(Ok(event))) => decode_event(&event),
        };
        if let Some(Ok(chunk)) = item {
            return Poll::Ready(Some(Ok(chunk)));
        }
        // `[DONE]` or an error: the end. Free the rate-limit slot now, not at drop.
        self.events = None;
        self.permit = None;
        Poll::Ready(item)
    }
}

// Nothing in a `ChunkStream` is pinned: the event stream is boxed and `T` is only held by value.
impl<T> Unpin for ChunkStream<T> {}

/// One event: `None` for `[DONE]`, an error for an error event or a chunk that does not decode.
fn decode_event<T: DeserializeOwned>(event: &SseEvent) -> Option<Result<T>> {
    let data = event.data.trim();
    if data == "[DONE]" {
        return None;
    }
    let value: Value = match serde_json::from_str(data) {
        Ok(value) => value,
        Err(_) => {
            return Some(from_value::<T>(Value::String(data.to_owned())));
        }
    };
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Some(Err(Error::in_band(StatusCode::OK, data.as_bytes())));
    }
    Some(from_value(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(data: &str) -> SseEvent {
        let mut e = SseEvent::default();
        e.data = data.to_owned();
        e
    }

    #[test]
    fn events_decode_into_chunks_done_or_errors() {
        assert!(decode_event::<Value>(&event("[DONE]")).is_none());
        let chunk = decode_event::<Value>(&event(r#"{"id": "c", "choices": []}"#));
        assert_eq!(chunk.unwrap().unwrap(), json!({"id": "c", "choices": []}));
        let error = decode_event::<Value>(&event(
            r#"{"error": {"message": "bad prompt", "type": "worker_error", "code": null}}"#,
        ))
        .unwrap()
        .unwrap_err();
        assert!(error.is_status());
        assert_eq!(
            error.api_error().unwrap().message.as_deref(),
            Some("bad prompt")
        );
        let garbled =
            decode_event::<CreateChatCompletionStreamResponse>(&event("{\"id\": 1}")).unwrap();
        assert!(garbled.unwrap_err().is_decode());
        let not_json = decode_event::<CreateChatCompletionStreamResponse>(&event("hello")).unwrap();
        assert!(not_json.unwrap_err().is_decode());
    }
}
