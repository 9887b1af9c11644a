//! A buffered successful response and JSON decoding with path-naming errors.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::{Error, RateLimit};

/// A successful (2xx) response with its whole body read.
#[derive(Debug, Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    request: Option<(http::Method, String)>,
}

impl Response {
    pub(crate) fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            headers,
            body,
            request: None,
        }
    }

    /// Remembers which request this answered, for decode errors.
    pub(crate) fn with_request(mut self, method: http::Method, path: &str) -> Self {
        self.request = Some((method, path.to_owned()));
        self
    }

    pub(crate) fn add_context(&self, err: Error) -> Error {
        let err = err.with_response(self.status, &self.headers);
        match &self.request {
            Some((method, path)) => err.with_request(method, path),
            None => err,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The status, headers and body, moved out (no copies).
    pub fn into_parts(self) -> (StatusCode, HeaderMap, Bytes) {
        (self.status, self.headers, self.body)
    }

    /// Decodes the body as JSON. An empty body decodes as `null` (so `()` and `Option<T>`
    /// accept a 204). A mismatch names the JSON path and keeps the first 4 KiB of the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        decode_slice("response body", &self.body).map_err(|e| self.add_context(e))
    }

    /// The rate-limit headers (REST v2 `RateLimit` / `RateLimit-Policy`, or `X-RateLimit-*`).
    pub fn rate_limit(&self) -> Option<RateLimit> {
        RateLimit::from_headers(&self.headers)
    }

    /// The `Retry-After` header as a delay.
    pub fn retry_after(&self) -> Option<Duration> {
        crate::error::retry_after_of(&self.headers)
    }

    /// The `x-request-id` / `request-id` header.
    pub fn request_id(&self) -> Option<&str> {
        ["x-request-id", "request-id"]
            .iter()
            .find_map(|h| self.headers.get(*h))
            .and_then(|v| v.to_str().ok())
    }
}

pub(crate) fn decode_slice<T: DeserializeOwned>(
    what: &'static str,
    body: &[u8],
) -> Result<T, Error> {
    let blank = body.iter().all(u8::is_ascii_whitespace);
    let input: &[u8] = if blank { b"null" } else { body };
    // Tracking the path costs on every decode; it is only needed to explain a failure, so a
    // failed plain decode is run again with tracking (decoding is deterministic).
    if let Ok(value) = serde_json::from_slice(input) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(input);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| Error::decode(what, e, body))?;
    de.end().map_err(|e| Error::decode_json(what, &e, body))?;
    Ok(value)
}

/// Decodes a JSON value into `T`; a mismatch names the JSON path (used for job outputs).
///
/// ```
/// # use runpod_transport::__runpod as runpod;
/// use serde_json::json;
/// #[derive(serde::Deserialize, Debug)]
/// struct Out { images: Vec<String> }
///
/// let err = runpod::transport::from_value::<Out>(json!({"images": ["a", 1]})).unwrap_err();
/// assert!(err.is_decode());
/// assert_eq!(err.json_path(), Some("images[1]"));
/// ```
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    // As in `decode_slice`: the plain decode first (from a borrow, so that a failure still has
    // the value), then the path-tracking one only to explain a failure.
    if let Ok(decoded) = T::deserialize(&value) {
        return Ok(decoded);
    }
    let body = value.to_string();
    serde_path_to_error::deserialize(&value).map_err(|e| Error::decode("value", e, body.as_bytes()))
}
