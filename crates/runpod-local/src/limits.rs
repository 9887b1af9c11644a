//! Limits that keep one client from taking the process down: queued jobs per endpoint, bytes of
//! stored inputs and results, id length and characters, stream chunk size, concurrent connections,
//! HTTP/2 streams per connection and the time a client may take to send a request.
//!
//! Each limit answers with a clear error on the request that crossed it and nothing else: the
//! queue, other endpoints and other connections carry on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::store::Store;

/// The limits of a [`Server`](crate::Server); see [`ServerBuilder::limits`](crate::ServerBuilder::limits).
///
/// ```
/// let limits = runpod_local::Limits::default()
///     .queued_jobs_per_endpoint(1_000)
///     .stored_bytes(64 * 1024 * 1024);
/// # let _ = limits;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub(crate) queued_jobs_per_endpoint: usize,
    pub(crate) stored_bytes: usize,
    pub(crate) id_length: usize,
    pub(crate) stream_chunk_bytes: usize,
    pub(crate) connections: usize,
    pub(crate) streams_per_connection: u32,
    pub(crate) read_timeout: Duration,
}

impl Default for Limits {
    /// 50 000 queued jobs per endpoint (Runpod's), 1 GiB of stored inputs, results and stream
    /// chunks, ids of at most 64 characters, 1 MiB stream chunks, 1 024 connections, 256 HTTP/2
    /// streams per connection, 30 s to send a request's headers or body.
    fn default() -> Self {
        Self {
            queued_jobs_per_endpoint: 50_000,
            stored_bytes: 1024 * 1024 * 1024,
            id_length: 64,
            stream_chunk_bytes: 1024 * 1024,
            connections: 1024,
            streams_per_connection: 256,
            read_timeout: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Jobs waiting in one endpoint's queue; `/run` beyond it answers 429.
    #[must_use]
    pub fn queued_jobs_per_endpoint(mut self, jobs: usize) -> Self {
        self.queued_jobs_per_endpoint = jobs;
        self
    }

    /// Bytes of job inputs, results and stream chunks kept in memory, over every endpoint (as
    /// sent on the wire); a `/run` or worker post beyond it answers 507.
    #[must_use]
    pub fn stored_bytes(mut self, bytes: usize) -> Self {
        self.stored_bytes = bytes;
        self
    }

    /// Longest endpoint, job or worker id in a path; longer ids, or ids with characters other
    /// than ASCII letters, digits, `-`, `_` and `.`, answer 400.
    #[must_use]
    pub fn id_length(mut self, chars: usize) -> Self {
        self.id_length = chars;
        self
    }

    /// Largest job-stream post; larger ones answer 413.
    #[must_use]
    pub fn stream_chunk_bytes(mut self, bytes: usize) -> Self {
        self.stream_chunk_bytes = bytes;
        self
    }

    /// Connections served at once; one more is answered 503 and closed.
    #[must_use]
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Requests in flight on one HTTP/2 connection (`SETTINGS_MAX_CONCURRENT_STREAMS`); a client
    /// wanting more waits for a stream or opens another connection. Runpod documents no value
    /// for its hosts; 256 is a common edge proxy's, and above the 100 that RFC 9113 §6.5.2 asks
    /// servers to allow at least, which is what runpod-rs's client assumes.
    #[must_use]
    pub fn streams_per_connection(mut self, streams: u32) -> Self {
        self.streams_per_connection = streams;
        self
    }

    /// Time a client has to send a request's headers (the connection is closed after it; a
    /// keep-alive connection idle for as long is closed too, as by a keep-alive timeout) and,
    /// separately, its body (answered 408).
    #[must_use]
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }
}

/// Parses a size written as `512`, `64K`, `10M`, `1G` (powers of 1 024; `KB`/`MiB` spellings too).
pub fn parse_size(value: &str) -> Result<usize, String> {
    let text = value.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{value}` is not a size (e.g. 512, 64K, 10M, 1G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{value}`: unknown size unit (use K, M or G)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{value}` is too large"))
}

/// Bytes held by stored inputs, results and stream chunks, against [`Limits::stored_bytes`].
#[derive(Debug)]
pub(crate) struct Ledger {
    used: AtomicUsize,
    limit: usize,
}

impl Ledger {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// Reserves `bytes`, or answers 507 when that would pass the limit.
    pub(crate) fn charge(self: &Arc<Self>, bytes: usize) -> Result<Charge, ApiError> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if next > self.limit {
                return Err(ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    format!(
                        "runpod-local keeps at most {} bytes of job inputs and results and has \
                         {used} in use; wait for results to expire, purge the queue, or raise \
                         --max-stored-bytes",
                        self.limit
                    ),
                ));
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Ok(Charge {
                        ledger: Some(Arc::clone(self)),
                        bytes,
                    });
                }
                Err(actual) => used = actual,
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// Bytes reserved in the [`Ledger`], given back when dropped (with the job that holds them).
#[derive(Debug, Default)]
pub(crate) struct Charge {
    ledger: Option<Arc<Ledger>>,
    bytes: usize,
}

impl Charge {
    /// Adds `other`'s bytes to this charge (stream chunks of one job).
    pub(crate) fn absorb(&mut self, mut other: Charge) {
        if let Some(ledger) = other.ledger.take() {
            self.bytes += std::mem::take(&mut other.bytes);
            self.ledger.get_or_insert(ledger);
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(ledger) = &self.ledger {
            ledger.used.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

/// `/run` into a queue already holding `limit` jobs: 429, the queue untouched.
pub(crate) fn check_queue(queued: usize, limit: usize) -> Result<(), ApiError> {
    if queued < limit {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "the endpoint's queue is full ({limit} jobs waiting); retry when workers have taken \
             some, or raise --max-queued-jobs"
        ),
    ))
}

/// Whether `id` is a short, URL-safe id.
pub(crate) fn is_valid_id(id: &str, max: usize) -> bool {
    !id.is_empty()
        && id.len() <= max
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Route layer of the queue routes: every id in `/v2/{endpoint}/{route}/{ids…}` must be short
/// and URL-safe, so that a client cannot create endpoints or workers under ids of any size.
pub(crate) async fn check_ids(
    State(store): State<Arc<Store>>,
    request: Request,
    next: Next,
) -> Response {
    let max = store.config().limits.id_length;
    let segments = request.uri().path().split('/').filter(|s| !s.is_empty());
    for (index, segment) in segments.enumerate() {
        // 0 is `v2`, 2 the route name: both fixed by the router.
        if index == 0 || index == 2 || is_valid_id(segment, max) {
            continue;
        }
        let what = if index == 1 { "endpoint id" } else { "id" };
        let shown: String = segment.chars().take(40).collect();
        let more = if shown.len() < segment.len() {
            "…"
        } else {
            ""
        };
        return ApiError::bad_request(format!(
            "{what} `{shown}{more}` is not valid: ids are 1 to {max} characters of ASCII \
             letters, digits, `-`, `_` and `.`"
        ))
        .into_response();
    }
    next.run(request).await
}

/// The answer to a connection over [`Limits::connections`], written before closing it.
pub(crate) fn too_many_connections(limit: usize) -> Vec<u8> {
    let body = format!(
        "{{\"error\":\"runpod-local serves at most {limit} connections at once; retry later\"}}"
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64K"), Ok(64 * 1024));
        assert_eq!(parse_size("10MB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5T").is_err());
    }

    #[test]
    fn ids_are_short_and_url_safe() {
        assert!(is_valid_id("abc-DEF_1.2", 64));
        assert!(is_valid_id(
            "sync-3f1a2b3c-0000-4000-8000-000000000000-u1",
            64
        ));
        assert!(!is_valid_id("", 64));
        assert!(!is_valid_id(&"a".repeat(65), 64));
        for bad in ["a b", "a%20b", "ä", "a?b", "$ID"] {
            assert!(!is_valid_id(bad, 64), "{bad}");
        }
    }

    #[test]
    fn charges_are_given_back_when_dropped() {
        let ledger = Ledger::new(100);
        let a = ledger.charge(60).unwrap();
        let error = ledger.charge(41).unwrap_err();
        assert_eq!(error.status, StatusCode::INSUFFICIENT_STORAGE);
        let mut b = ledger.charge(40).unwrap();
        assert_eq!(ledger.used(), 100);
        drop(a);
        b.absorb(ledger.charge(50).unwrap());
        assert_eq!(ledger.used(), 90);
        drop(b);
        assert_eq!(ledger.used(), 0);
    }
}
