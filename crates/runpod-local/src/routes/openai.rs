//! The OpenAI-compatible route, `/v2/{endpoint_id}/openai/v1/…`, served like Runpod's gateway.
//!
//! Each call becomes a queue job whose input is `{"openai_route": "/v1/chat/completions",
//! "openai_input": {…the request body…}}` (no `openai_input` for a call without a body, such as
//! `GET /v1/models`), so any worker can take it: ours, or the official Python worker running a
//! worker-vllm-style handler. Without `"stream": true` the answer is the job's output; with it,
//! a `text/event-stream` that forwards each stream chunk as the worker posts it and ends when
//! the job ends.
//!
//! What the worker sends is passed on as it is: a stream chunk that is a string is raw SSE text
//! (worker-vllm's `RAW_OPENAI_OUTPUT`, the default) and goes out verbatim; any other chunk goes
//! out as one `data: {json}` event. A stream that ends without `data: [DONE]` gets one, unless
//! the job failed: then the last event is an OpenAI error object and there is no `[DONE]`, so a
//! client sees the failure rather than a short answer. A non-streaming answer that the worker
//! aggregated (`[document]`, worker-vllm's `return_aggregate_stream`) is unwrapped.
//!
//! Errors use OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`: a worker's
//! `{"error": {…}}` answer keeps its body, with the status its numeric `code` names, else 400
//! (the worker refused the request) or 500 when the error is a bare string (the worker could not
//! serve); a failed job is 500, a cancelled one 503, a timed-out or expired one or a wait that
//! runs out 504.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::read_body;
use crate::channel_body::ChannelBody;
use crate::config::{RUNSYNC_BODY_LIMIT, WAIT_MAX_MS};
use crate::store::Store;
use runpod_types::serverless::{JobRequest, JobState, JobStatus};

/// How long a call waits for its job to end (or, when streaming, to send its first chunk)
/// before answering 504: Runpod's `/runsync` maximum.
const ANSWER_WAIT: Duration = Duration::from_millis(WAIT_MAX_MS);
/// How long one read of a streaming job holds before looking again.
const STREAM_HOLD: Duration = Duration::from_secs(30);
/// Chunks buffered between the job and a slow reader.
const STREAM_BUFFER: usize = 64;
const DONE: &str = "data: [DONE]\n\n";

/// An error answer in OpenAI's shape.
#[derive(Debug)]
pub(crate) struct OpenAiError {
    status: StatusCode,
    body: Value,
}

impl OpenAiError {
    fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        let body = json!({"error": {
            "message": message.into(),
            "type": kind,
            "param": null,
            "code": null,
        }});
        Self { status, body }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// The error as one SSE event, for a stream that has already started.
    fn event(&self) -> String {
        format!("data: {}\n\n", self.body)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// `ANY /v2/{endpoint_id}/openai/{*route}`.
pub(super) async fn forward(
    State(store): State<Arc<Store>>,
    Path((endpoint, route)): Path<(String, String)>,
    method: Method,
    body: Body,
) -> Result<Response, OpenAiError> {
    let openai_route = format!("/{}", route.trim_start_matches('/'));
    let bytes = read_body(body, RUNSYNC_BODY_LIMIT, store.config().limits.read_timeout)
        .await
        .map_err(|e| OpenAiError::new(e.status, "invalid_request_error", e.message))?;
    let openai_input = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Some(map),
            Ok(_) => return Err(OpenAiError::bad_request("the body must be a JSON object")),
            Err(e) => {
                return Err(OpenAiError::bad_request(format!(
                    "the body is not valid JSON: {e}"
                )));
            }
        }
    };
    if openai_input.is_none() && method == Method::POST {
        return Err(OpenAiError::bad_request(format!(
            "POST {openai_route} needs a JSON body"
        )));
    }
    let stream = openai_input
        .as_ref()
        .and_then(|input| input.get("stream"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut input = Map::new();
    input.insert("openai_route".to_owned(), Value::String(openai_route));
    if let Some(body) = openai_input {
        input.insert("openai_input".to_owned(), Value::Object(body));
    }
    let request = JobRequest {
        input: Value::Object(input),
        ..JobRequest::default()
    };
    // The job's input is charged against the stored-bytes limit like a `/runsync` body.
    let charge = store
        .ledger()
        .charge(bytes.len())
        .map_err(|e| OpenAiError::new(e.status, "rate_limit_error", e.message))?;
    let job = store
        .submit(&endpoint, request, charge, true)
        .map_err(|e| OpenAiError::new(e.status, "rate_limit_error", e.message))?
        .id;
    let call = Call {
        store,
        endpoint,
        job,
    };
    if stream {
        call.stream().await
    } else {
        call.answer().await
    }
}

/// One call's job.
struct Call {
    store: Arc<Store>,
    endpoint: String,
    job: String,
}

impl Call {
    async fn answer(self) -> Result<Response, OpenAiError> {
        let state = self
            .store
            .wait_terminal(&self.endpoint, &self.job, ANSWER_WAIT)
            .await;
        let Some(state) = state else {
            return Err(expired());
        };
        let status = state.status.clone().unwrap_or(JobStatus::InQueue);
        if !status.is_terminal() {
            self.store.cancel(&self.endpoint, &self.job);
            return Err(waited_too_long());
        }
        let output = outcome(&status, state)?;
        Ok(Json(output).into_response())
    }

    async fn stream(self) -> Result<Response, OpenAiError> {
        // The first chunk decides the answer: an error before any output still gets its
        // status code; after that the status is 200 and errors travel as events.
        let deadline = Instant::now() + ANSWER_WAIT;
        let first = loop {
            let Some(read) = self
                .read(STREAM_HOLD.min(deadline.saturating_duration_since(Instant::now())))
                .await
            else {
                return Err(expired());
            };
            if !read.chunks.is_empty() || read.status.is_terminal() {
                break read;
            }
            if Instant::now() >= deadline || self.store.is_shutting_down() {
                self.store.cancel(&self.endpoint, &self.job);
                return Err(waited_too_long());
            }
        };
        if let Some(error) = first.chunks.first().and_then(worker_error) {
            return Err(error);
        }
        let mut text = SseText::default();
        for chunk in &first.chunks {
            text.push_chunk(chunk);
        }
        if first.status.is_terminal() {
            if first.chunks.is_empty() {
                // A worker that answered with one document although a stream was asked for.
                let output = outcome(&first.status, first.state.clone())?;
                text.push_chunk(&output);
            }
            text.finish(&first.status, &first.state);
            return Ok(sse_response(immediate(text.take())));
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let _ = tx.try_send(text.take());
        tokio::spawn(self.pump(text, tx));
        Ok(sse_response(rx))
    }

    /// Forwards the job's chunks until it ends; cancels the job if the caller goes away.
    async fn pump(self, mut text: SseText, tx: mpsc::Sender<Bytes>) {
        loop {
            let read = tokio::select! {
                read = self.read(STREAM_HOLD) => read,
                () = tx.closed() => {
                    self.reader_gone(&text);
                    return;
                }
            };
            let Some(read) = read else {
                let _ = tx.send(Bytes::from(expired().event())).await;
                return;
            };
            let done_before = text.done_sent;
            for chunk in &read.chunks {
                text.push_chunk(chunk);
            }
            let terminal = read.status.is_terminal();
            if terminal {
                text.finish(&read.status, &read.state);
            } else if self.store.is_shutting_down() {
                text.push(
                    &OpenAiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server_error",
                        "the server is shutting down",
                    )
                    .event(),
                );
            }
            if !text.is_empty() && tx.send(text.take()).await.is_err() {
                // What could not be sent may have held `[DONE]`: only an earlier one counts.
                text.done_sent = done_before;
                self.reader_gone(&text);
                return;
            }
            if terminal || self.store.is_shutting_down() {
                return;
            }
        }
    }

    /// The caller stopped reading. Before `[DONE]` reached it, the answer is abandoned and the
    /// job cancelled; after, the caller simply closed a finished stream while the worker still
    /// reports the job done, which must not turn into a cancellation.
    fn reader_gone(&self, text: &SseText) {
        if text.done_sent {
            return;
        }
        tracing::debug!(job = %self.job, "OpenAI stream reader went away; cancelling");
        self.store.cancel(&self.endpoint, &self.job);
    }

    /// The chunks posted since the last read (each chunk's `output`), and the job's state.
    async fn read(&self, hold: Duration) -> Option<StreamRead> {
        let body = self
            .store
            .read_stream(&self.endpoint, &self.job, hold)
            .await?;
        let chunks = body
            .stream
            .unwrap_or_default()
            .into_iter()
            .map(|chunk| chunk.output.unwrap_or(Value::Null))
            .collect();
        let state = JobState {
            id: body.id.unwrap_or_default(),
            status: body.status,
            output: body.output,
            error: body.error,
            ..JobState::default()
        };
        Some(StreamRead {
            chunks,
            status: state.status.clone().unwrap_or(JobStatus::InQueue),
            state,
        })
    }
}

struct StreamRead {
    chunks: Vec<Value>,
    status: JobStatus,
    state: JobState,
}

/// The SSE text waiting to be sent, and whether `[DONE]` went out already.
#[derive(Default)]
struct SseText {
    pending: String,
    done_sent: bool,
}

impl SseText {
    fn push(&mut self, text: &str) {
        if text.contains(DONE.trim_end()) {
            self.done_sent = true;
        }
        self.pending.push_str(text);
    }

    /// A chunk as SSE: raw text verbatim, a list item by item, anything else as one event.
    fn push_chunk(&mut self, chunk: &Value) {
        match chunk {
            Value::String(raw) => self.push(raw),
            Value::Array(items) => items.iter().for_each(|item| self.push_chunk(item)),
            Value::Null => {}
            other => self.push(&format!("data: {other}\n\n")),
        }
    }

    /// Ends the stream: `[DONE]` after a completed job, an error event after any other end.
    fn finish(&mut self, status: &JobStatus, state: &JobState) {
        match outcome(status, state.clone()) {
            Ok(_) if !self.done_sent => self.push(DONE),
            Ok(_) => {}
            Err(error) => self.push(&error.event()),
        }
    }

    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.pending))
    }
}

/// A finished job's answer: its output (unwrapped if aggregated), or the error it stands for.
fn outcome(status: &JobStatus, state: JobState) -> Result<Value, OpenAiError> {
    match status {
        JobStatus::Completed => {
            let output = match state.output {
                Some(Value::Array(mut items)) if items.len() == 1 => items.remove(0),
                Some(output) => output,
                None => Value::Null,
            };
            match worker_error(&output) {
                Some(error) => Err(error),
                None => Ok(output),
            }
        }
        JobStatus::Failed => Err(OpenAiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "worker_error",
            failure_message(state.error.as_ref()),
        )),
        JobStatus::Cancelled => Err(OpenAiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "the job was cancelled",
        )),
        JobStatus::TimedOut => Err(OpenAiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the job ran past its execution timeout",
        )),
        _ => Err(waited_too_long()),
    }
}

/// A worker's `{"error": …}` answer as an error response.
fn worker_error(output: &Value) -> Option<OpenAiError> {
    let error = output.as_object()?.get("error")?;
    let (status, body) = match error {
        Value::Object(fields) => {
            let code = fields
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .filter(|s| s.is_client_error() || s.is_server_error());
            (code.unwrap_or(StatusCode::BAD_REQUEST), output.clone())
        }
        Value::String(message) => {
            return Some(OpenAiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "worker_error",
                message.clone(),
            ));
        }
        _ => return None,
    };
    Some(OpenAiError { status, body })
}

/// A failed job's message. The Python worker (and ours) put a JSON document inside the error
/// string; its `error_message` is what a caller wants to read.
fn failure_message(error: Option<&Value>) -> String {
    let Some(error) = error else {
        return "the worker failed without a message".to_owned();
    };
    let text = match error {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|doc| doc.get("error_message")?.as_str().map(str::to_owned))
        .unwrap_or(text)
}

fn expired() -> OpenAiError {
    OpenAiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        "the job expired before a worker answered",
    )
}

fn waited_too_long() -> OpenAiError {
    OpenAiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        format!("no worker answered within {} s", ANSWER_WAIT.as_secs()),
    )
}

fn immediate(bytes: Bytes) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(bytes);
    rx
}

fn sse_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let mut response = Body::new(ChannelBody::new(rx)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_sse_text() {
        let mut text = SseText::default();
        text.push_chunk(&json!("data: {\"a\":1}\n\ndata: {\"a\":2}\n\n"));
        text.push_chunk(&json!([{"b": 1}, "data: {\"c\":1}\n\n"]));
        text.push_chunk(&Value::Null);
        assert!(!text.done_sent);
        let completed = JobState {
            status: Some(JobStatus::Completed),
            output: Some(json!([])),
            ..JobState::default()
        };
        text.finish(&JobStatus::Completed, &completed);
        assert_eq!(
            text.take(),
            "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: {\"b\":1}\n\ndata: {\"c\":1}\n\ndata: [DONE]\n\n"
        );
        // A worker that sent [DONE] itself does not get a second one.
        let mut text = SseText::default();
        text.push_chunk(&json!("data: {}\n\ndata: [DONE]\n\n"));
        text.finish(&JobStatus::Completed, &completed);
        assert_eq!(text.take(), "data: {}\n\ndata: [DONE]\n\n");
    }

    #[test]
    fn failed_streams_end_with_an_error_event_and_no_done() {
        let mut text = SseText::default();
        let failed = JobState {
            status: Some(JobStatus::Failed),
            error: Some(json!("{\"error_type\":\"X\",\"error_message\":\"boom\"}")),
            ..JobState::default()
        };
        text.finish(&JobStatus::Failed, &failed);
        let sent = String::from_utf8(text.take().to_vec()).unwrap();
        assert!(!sent.contains("[DONE]"));
        let event: Value =
            serde_json::from_str(sent.trim().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(event["error"]["message"], "boom");
        assert_eq!(event["error"]["type"], "worker_error");
    }

    #[test]
    fn outcomes_map_to_openai_statuses() {
        let state = |status: JobStatus, output: Value| JobState {
            status: Some(status),
            output: Some(output),
            ..JobState::default()
        };
        let ok = outcome(
            &JobStatus::Completed,
            state(JobStatus::Completed, json!([{"id": "x"}])),
        );
        assert_eq!(ok.unwrap(), json!({"id": "x"}));
        let many = outcome(
            &JobStatus::Completed,
            state(JobStatus::Completed, json!([1, 2])),
        );
        assert_eq!(many.unwrap(), json!([1, 2]));
        let refused = json!({"error": {"message": "no", "type": "worker_error", "code": null}});
        let e = outcome(
            &JobStatus::Completed,
            state(JobStatus::Completed, refused.clone()),
        )
        .unwrap_err();
        assert_eq!((e.status, e.body), (StatusCode::BAD_REQUEST, refused));
        let coded = json!({"error": {"message": "no", "type": "NotFoundError", "code": 404}});
        let e = outcome(
            &JobStatus::Completed,
            state(JobStatus::Completed, json!([coded])),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let e = outcome(
            &JobStatus::Completed,
            state(JobStatus::Completed, json!({"error": "no CUDA"})),
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.body["error"]["message"], "no CUDA");
        for (status, code) in [
            (JobStatus::Failed, StatusCode::INTERNAL_SERVER_ERROR),
            (JobStatus::Cancelled, StatusCode::SERVICE_UNAVAILABLE),
            (JobStatus::TimedOut, StatusCode::GATEWAY_TIMEOUT),
            (JobStatus::InProgress, StatusCode::GATEWAY_TIMEOUT),
        ] {
            let e = outcome(&status, state(status.clone(), Value::Null)).unwrap_err();
            assert_eq!(e.status, code, "{status:?}");
            assert!(e.body["error"]["message"].is_string());
        }
    }
}
