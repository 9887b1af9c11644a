//! Pod and worker log streams (Server-Sent Events).

use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt as _;
use runpod_transport::SseEvent;
use runpod_types::rest::LogSource;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::builders::{GetPodLogs, GetWorkerLogs};
use crate::request::CallOptions;

/// One log line from a pod or a serverless worker.
///
/// The event's `data` is `{"ts": "...", "source": "container", "line": "..."}`; keys this
/// version does not know are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogLine {
    /// The SSE event id, the resume cursor (`Last-Event-ID`) for this point of the stream.
    #[serde(skip)]
    pub id: Option<String>,
    /// When the line was written (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// `container` or `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<LogSource>,
    /// The text of the line.
    #[serde(default)]
    pub line: String,
    /// Keys this version does not name.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Event names that carry a log line (`message` is the SSE default when none is given).
fn is_log_event(event: &SseEvent) -> bool {
    matches!(event.event.as_deref(), None | Some("" | "message" | "log"))
}

fn decode(event: SseEvent) -> Option<Result<LogLine>> {
    if !is_log_event(&event) || event.data.trim().is_empty() {
        return None;
    }
    // Data that is not JSON is handed to the decoder as a string, so it fails as a decode error
    // (`is_decode()`) that names what it expected.
    let value = serde_json::from_str::<serde_json::Value>(&event.data)
        .unwrap_or(serde_json::Value::String(event.data));
    let line = runpod_transport::from_value::<LogLine>(value);
    Some(line.map(|mut line| {
        line.id = event.id;
        line
    }))
}

/// Log streams stay open for as long as the caller reads them: no per-attempt bound unless the
/// caller set one.
fn unbounded(mut options: CallOptions) -> CallOptions {
    if options.attempt_timeout.is_none() {
        options.attempt_timeout = Some(None);
    }
    options
}

/// Wait before reconnecting after the server closed the stream, unless it said otherwise
/// (`retry:`), as `EventSource` does.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Connections in a row that deliver no event before the stream is taken as finished (a pod
/// that no longer exists, a server that ends every stream at once).
const MAX_EMPTY_CONNECTIONS: u32 = 3;

/// A log builder that can be re-sent from a resume cursor.
trait Resumable: Clone + Send + 'static {
    fn resume_from(&mut self, last_event_id: Option<String>);
    fn last_event_id(&self) -> Option<String>;
    fn request(self) -> runpod_transport::RequestBuilder;
}

/// Follows a log stream across connections.
///
/// The transport reconnects by itself when a connection breaks; this also reconnects when the
/// server *closes* the stream (proxies and load balancers do), resuming after the last event
/// with `Last-Event-ID`, so that no line is lost or repeated.
fn follow<B: Resumable>(builder: B) -> impl Stream<Item = Result<LogLine>> + Send + 'static {
    async_stream::stream! {
        let mut cursor = builder.last_event_id();
        let mut empty_in_a_row = 0;
        // The server's `retry:` holds until it sends another, across connections.
        let mut delay = RECONNECT_DELAY;
        loop {
            let mut request = builder.clone();
            request.resume_from(cursor.clone());
            let mut events = std::pin::pin!(request.request().send_sse());
            let mut delivered = false;
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => {
                        delivered = true;
                        if let Some(retry) = event.retry {
                            delay = retry;
                        }
                        if event.id.is_some() {
                            cursor.clone_from(&event.id);
                        }
                        if let Some(line) = decode(event) {
                            yield line;
                        }
                    }
                    Err(err) => {
                        yield Err(err);
                        return;
                    }
                }
            }
            empty_in_a_row = if delivered { 0 } else { empty_in_a_row + 1 };
            if empty_in_a_row >= MAX_EMPTY_CONNECTIONS {
                return;
            }
            tracing::debug!(last_event_id = ?cursor, "log stream closed by the server; resuming");
            tokio::time::sleep(delay).await;
        }
    }
}

macro_rules! log_stream {
    ($builder:ty) => {
        impl Resumable for $builder {
            fn resume_from(&mut self, last_event_id: Option<String>) {
                self.last_event_id = last_event_id;
            }

            fn last_event_id(&self) -> Option<String> {
                self.last_event_id.clone()
            }

            fn request(self) -> runpod_transport::RequestBuilder {
                self.into_request()
            }
        }

        impl $builder {
            /// Opens the stream: backfilled lines first (`tail`, `since` or `last_event_id`
            /// choose where from), then new lines as they are written.
            ///
            /// When the connection breaks or the server closes it, the stream reconnects by
            /// itself and resumes after the last line it delivered (`Last-Event-ID`), so no
            /// line is lost or repeated. It ends when dropped, after an error (its last item),
            /// or after 3 connections in a row that deliver nothing (the pod or worker is
            /// gone).
            pub fn stream(mut self) -> impl Stream<Item = Result<LogLine>> + Send + 'static {
                self.options = unbounded(self.options);
                follow(self)
            }
        }
    };
}

log_stream!(GetPodLogs);
log_stream!(GetWorkerLogs);
