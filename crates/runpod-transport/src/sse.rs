//! Server-sent events: a pure, incremental parser (the `text/event-stream` rules of the HTML
//! standard), and the reconnecting stream of events behind
//! [`RequestBuilder::send_sse`](crate::RequestBuilder::send_sse).

use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;
use http::StatusCode;
use http::header::{HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::Error;
use crate::exchange::{Held, Prepared, Streaming};
use crate::response_future::Running;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SseEvent {
    /// The last event id in effect when this event arrived (ids persist across events, as in
    /// browsers); `None` if none was set or it was cleared with an empty `id:`.
    pub id: Option<String>,
    /// The `event:` type; `None` for the default (`message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// A `retry:` value sent in this event's block.
    pub retry: Option<Duration>,
}

/// Incremental `text/event-stream` parser: feed it bytes as they arrive, get complete events.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    started: bool,
    data: String,
    event: Option<String>,
    block_retry: Option<Duration>,
    /// Set by `id:` lines; committed to `last_event_id` when a block ends.
    id_buffer: Option<String>,
    last_event_id: Option<String>,
    reconnect: Option<Duration>,
}

impl SseParser {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Parses `bytes` and returns the events they completed.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut events);
                }
                b'\n' => self.end_line(&mut events),
                _ => self.line.push(b),
            }
        }
        events
    }

    /// The id to send as `Last-Event-ID` when reconnecting.
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref().filter(|s| !s.is_empty())
    }

    /// The reconnection delay the server asked for with `retry:`.
    pub(crate) fn reconnect_delay(&self) -> Option<Duration> {
        self.reconnect
    }

    /// Drops a half-received event (the connection broke before its blank line).
    pub(crate) fn discard_partial(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.data.clear();
        self.event = None;
        self.block_retry = None;
        self.id_buffer = self.last_event_id.clone();
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_owned();
            }
        }
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.starts_with(':') {
            return; // comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.id_buffer = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    let d = Duration::from_millis(ms);
                    self.reconnect = Some(d);
                    self.block_retry = Some(d);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        // Every complete block commits its id, with or without data (as browsers do).
        self.last_event_id = self.id_buffer.clone();
        let retry = self.block_retry.take();
        let event = self.event.take().filter(|e| !e.is_empty());
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the '\n' after the last data line
        events.push(SseEvent {
            id: self.last_event_id().map(str::to_owned),
            event,
            data,
            retry,
        });
    }
}

/// The events of a server-sent-events request, reconnecting as
/// [`RequestBuilder::send_sse`](crate::RequestBuilder::send_sse) describes.
pub(crate) fn events(
    prepared: Result<Prepared, Error>,
) -> impl Stream<Item = Result<SseEvent, Error>> + Send + 'static {
    async_stream::stream! {
        let mut prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                yield Err(e);
                return;
            }
        };
        let deadline = prepared.operation_timeout.map(|d| (Instant::now() + d, d));
        // The deadline covers the whole stream, so each connection gets none of its own.
        prepared.operation_timeout = None;
        let policy = prepared.retry_policy().clone();
        let mut delays = policy.delays();
        let mut parser = SseParser::new();
        let mut broken_in_a_row = 0u32;
        loop {
            if let Some(id) = parser.last_event_id()
                && let Ok(v) = HeaderValue::from_str(id)
            {
                prepared.headers.insert(HeaderName::from_static("last-event-id"), v);
            }
            let connect = Running::<Streaming>::start(prepared.clone());
            let connected = match deadline {
                Some((at, d)) => tokio::time::timeout_at(at, connect)
                    .await
                    .unwrap_or_else(|_| Err(Error::operation_timeout(d, None))),
                None => connect.await,
            };
            // The lease keeps the stream's connection taken while the body is read.
            let Held { response, lease: _lease } = match connected {
                Ok(r) => r,
                Err(e) => {
                    yield Err(e);
                    return;
                }
            };
            if response.status() == StatusCode::NO_CONTENT {
                return; // the server's way of saying "do not reconnect"
            }
            let mut body = response.bytes_stream();
            let broke = loop {
                let next = match deadline {
                    Some((at, d)) => match tokio::time::timeout_at(at, body.next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            yield Err(Error::operation_timeout(d, None)
                                .with_request(&prepared.method, prepared.url.path()));
                            return;
                        }
                    },
                    None => body.next().await,
                };
                match next {
                    Some(Ok(chunk)) => {
                        for event in parser.feed(&chunk) {
                            broken_in_a_row = 0;
                            yield Ok(event);
                        }
                    }
                    Some(Err(e)) => break e,
                    None => return, // clean end of stream
                }
            };
            broken_in_a_row += 1;
            let err = Error::from_reqwest(&broke)
                .with_request(&prepared.method, prepared.url.path());
            if broken_in_a_row >= policy.max_attempts() {
                yield Err(err.with_attempts(broken_in_a_row));
                return;
            }
            parser.discard_partial();
            let delay = policy.delay(broken_in_a_row, parser.reconnect_delay(), &mut delays);
            tracing::debug!(
                path = %prepared.url.path(),
                error = %err,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                last_event_id = parser.last_event_id(),
                "event stream broke; reconnecting"
            );
            if let Some((at, d)) = deadline
                && Instant::now() + delay >= at
            {
                yield Err(Error::operation_timeout(d, Some(err)));
                return;
            }
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: Option<&str>, event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            id: id.map(Into::into),
            event: event.map(Into::into),
            data: data.into(),
            retry: None,
        }
    }

    fn parse_all(input: &str) -> Vec<SseEvent> {
        SseParser::new().feed(input.as_bytes())
    }

    #[test]
    fn fields_comments_and_multiline_data() {
        let got = parse_all(
            ": keep-alive\n\
             id: 1\n\
             event: log\n\
             data: first line\n\
             data: second line\n\
             \n\
             data:no space\n\
             \n",
        );
        assert_eq!(
            got,
            [
                ev(Some("1"), Some("log"), "first line\nsecond line"),
                ev(Some("1"), None, "no space"),
            ]
        );
    }

    #[test]
    fn line_endings_crlf_cr_lf() {
        let got = parse_all("data: a\r\n\r\ndata: b\r\rdata: c\n\n");
        assert_eq!(
            got,
            [
                ev(None, None, "a"),
                ev(None, None, "b"),
                ev(None, None, "c")
            ]
        );
    }

    #[test]
    fn split_anywhere_including_inside_utf8_and_crlf() {
        let input = "id: é1\r\ndata: héllo\r\n\r\n";
        let whole = parse_all(input);
        assert_eq!(whole, [ev(Some("é1"), None, "héllo")]);
        let bytes = input.as_bytes();
        for cut in 1..bytes.len() {
            let mut p = SseParser::new();
            let mut got = p.feed(&bytes[..cut]);
            got.extend(p.feed(&bytes[cut..]));
            assert_eq!(got, whole, "cut at {cut}");
        }
        // Byte by byte.
        let mut p = SseParser::new();
        let got: Vec<_> = bytes.iter().flat_map(|b| p.feed(&[*b])).collect();
        assert_eq!(got, whole);
    }

    #[test]
    fn retry_field() {
        let mut p = SseParser::new();
        let got = p.feed(b"retry: 1500\ndata: x\n\nretry: soon\ndata: y\n\n");
        assert_eq!(got[0].retry, Some(Duration::from_millis(1500)));
        assert_eq!(got[1].retry, None);
        assert_eq!(p.reconnect_delay(), Some(Duration::from_millis(1500)));
        // A retry-only block changes the delay without an event.
        assert!(p.feed(b"retry: 10\n\n").is_empty());
        assert_eq!(p.reconnect_delay(), Some(Duration::from_millis(10)));
    }

    #[test]
    fn id_persists_resets_and_rejects_nul() {
        let mut p = SseParser::new();
        let got = p.feed(b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\0y\ndata: d\n\n");
        assert_eq!(
            got,
            [
                ev(Some("7"), None, "a"),
                ev(Some("7"), None, "b"),
                ev(None, None, "c"),
                ev(None, None, "d"),
            ]
        );
        // An id-only block updates the id without an event.
        assert!(p.feed(b"id: 9\n\n").is_empty());
        assert_eq!(p.last_event_id(), Some("9"));
    }

    #[test]
    fn empty_blocks_unknown_fields_and_empty_data() {
        let got = parse_all("\n\nevent: x\n\nfoo: bar\ndata\n\ndata:\ndata:\n\n");
        // `event: x` without data dispatches nothing and does not leak into the next event.
        assert_eq!(got, [ev(None, None, ""), ev(None, None, "\n")]);
    }

    #[test]
    fn bom_is_stripped_only_at_start() {
        let got = parse_all("\u{feff}data: a\n\n");
        assert_eq!(got, [ev(None, None, "a")]);
        let got = parse_all("data: a\n\n\u{feff}data: b\n\n");
        assert_eq!(got, [ev(None, None, "a")]);
    }

    #[test]
    fn id_of_an_incomplete_block_is_not_committed() {
        let mut p = SseParser::new();
        p.feed(b"id: 1\ndata: a\n\nid: 2\ndata: cut");
        assert_eq!(p.last_event_id(), Some("1"));
        p.discard_partial();
        assert_eq!(p.feed(b"data: b\n\n"), [ev(Some("1"), None, "b")]);
    }

    #[test]
    fn incomplete_event_is_not_dispatched_and_can_be_discarded() {
        let mut p = SseParser::new();
        assert_eq!(
            p.feed(b"id: 1\ndata: a\n\ndata: partial"),
            [ev(Some("1"), None, "a")]
        );
        p.discard_partial();
        assert_eq!(p.feed(b"data: b\n\n"), [ev(Some("1"), None, "b")]);
    }
}
