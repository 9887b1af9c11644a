//! The proxy route: affinity, worker choice, limits, and streaming both ways.

use std::error::Error as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::Limited;
use tokio::time::{Instant, Sleep};

use super::{Gateway, Health, Slot, WORKER_ID_HEADER};
use crate::error::ApiError;

pub(crate) fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/lb/{endpoint_id}", any(proxy))
        .route("/lb/{endpoint_id}/", any(proxy))
        .route("/lb/{endpoint_id}/{*path}", any(proxy))
        .with_state(gateway)
}

/// What the caller's `X-Runpod-Worker-Id` asks for.
#[derive(Debug, PartialEq, Eq)]
enum Affinity<'a> {
    None,
    Prefer(&'a str),
    Strict(&'a str),
}

fn affinity(headers: &HeaderMap) -> Result<Affinity<'_>, ApiError> {
    let Some(value) = headers.get(WORKER_ID_HEADER) else {
        return Ok(Affinity::None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::bad_request("X-Runpod-Worker-Id is not visible ASCII"))?
        .trim();
    let mut words = value.split_ascii_whitespace();
    Ok(match (words.next(), words.next(), words.next()) {
        (None, _, _) => Affinity::None,
        (Some("strict" | "strict-resume"), Some(id), None) => Affinity::Strict(id),
        (Some(id), None, _) => Affinity::Prefer(id),
        _ => {
            return Err(ApiError::bad_request(
                "X-Runpod-Worker-Id must be `<id>`, `strict <id>` or `strict-resume <id>`",
            ));
        }
    })
}

async fn proxy(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    match forward(&gateway, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn forward(gateway: &Gateway, request: Request) -> Result<Response, ApiError> {
    if let Some(key) = &gateway.api_key
        && crate::routes::bearer_token(request.headers()) != Some(key.as_str())
    {
        return Err(ApiError::unauthorized(
            "missing or wrong API key (send `Authorization: Bearer <key>`)",
        ));
    }
    let started = Instant::now();
    let (endpoint_id, path_and_query) = split_path(request.uri())?;
    let workers = gateway.workers(endpoint_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no load-balancing endpoint `{endpoint_id}` (register its workers with --lb {endpoint_id}=URL)"
            ),
        )
    })?;
    let slot = choose(gateway, workers, affinity(request.headers())?).await?;
    let limits = gateway.limits;
    if request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|length| length > limits.max_request_bytes as u64)
    {
        return Err(ApiError::payload_too_large(limits.max_request_bytes));
    }

    let (mut parts, body) = request.into_parts();
    // The worker's server speaks HTTP/1.1 whatever the caller spoke to the gateway (HTTP/2 over
    // TLS, as to Runpod's); hyper refuses an HTTP/2 request on an HTTP/1.1 connection.
    parts.version = axum::http::Version::HTTP_11;
    parts.uri = format!("{}{path_and_query}", slot.base)
        .parse()
        .map_err(|_| ApiError::bad_request("the request path is not a valid URI"))?;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::HOST);
    parts.headers.remove(header::AUTHORIZATION);
    parts.headers.remove(WORKER_ID_HEADER);
    let body = Body::new(Limited::new(body, limits.max_request_bytes));
    let outgoing = Request::from_parts(parts, body);

    let deadline = started + limits.request_timeout;
    let answer = tokio::time::timeout_at(deadline, gateway.client.request(outgoing)).await;
    let response = match answer {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the worker did not answer within {} s",
                    limits.request_timeout.as_secs_f64()
                ),
            ));
        }
        Ok(Err(error)) if is_length_limit(&error) => {
            return Err(ApiError::payload_too_large(limits.max_request_bytes));
        }
        Ok(Err(error)) => {
            tracing::warn!(worker_id = %slot.id, %error, "lb worker request failed");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("worker {} did not answer: {error}", slot.id),
            ));
        }
        Ok(Ok(response)) => response,
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Ok(id) = HeaderValue::from_str(&slot.id) {
        parts
            .headers
            .insert(HeaderName::from_static(WORKER_ID_HEADER), id);
    }
    let body = Deadline {
        inner: Limited::new(body, limits.max_response_bytes),
        sleep: Box::pin(tokio::time::sleep_until(deadline)),
    };
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// `/lb/{endpoint_id}/{rest}?{query}` into the endpoint id and `/{rest}?{query}`, raw.
fn split_path(uri: &Uri) -> Result<(&str, String), ApiError> {
    let rest = uri
        .path()
        .strip_prefix("/lb/")
        .ok_or_else(|| ApiError::bad_request("not a load-balancing path"))?;
    let (endpoint_id, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    Ok((endpoint_id, format!("{path}{query}")))
}

/// The worker for this request, after waiting for one if the rules say so.
async fn choose(
    gateway: &Gateway,
    workers: &[Arc<Slot>],
    affinity: Affinity<'_>,
) -> Result<Arc<Slot>, ApiError> {
    let mut changes = gateway.subscribe();
    if let Affinity::Strict(id) = affinity {
        let slot = workers.iter().find(|slot| slot.id == id).ok_or_else(gone)?;
        let deadline = Instant::now() + gateway.limits.strict_wait;
        loop {
            changes.borrow_and_update();
            match slot.health() {
                Health::Healthy => return Ok(slot.clone()),
                Health::Unhealthy => return Err(gone()),
                Health::Unknown | Health::Initializing => {}
            }
            if !wait_for_change(&mut changes, deadline).await {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, "worker_timeout"));
            }
        }
    }
    if let Affinity::Prefer(id) = affinity
        && let Some(slot) = workers
            .iter()
            .find(|slot| slot.id == id && slot.health() == Health::Healthy)
    {
        return Ok(slot.clone());
    }
    let deadline = Instant::now() + gateway.limits.worker_wait;
    loop {
        changes.borrow_and_update();
        if let Some(slot) = gateway.pick(workers) {
            return Ok(slot);
        }
        let starting = workers.iter().any(|slot| slot.health().is_starting());
        if !starting || !wait_for_change(&mut changes, deadline).await {
            return Err(no_workers());
        }
    }
}

/// Waits for a health change; false when `deadline` came first.
async fn wait_for_change(
    changes: &mut tokio::sync::watch::Receiver<()>,
    deadline: Instant,
) -> bool {
    matches!(
        tokio::time::timeout_at(deadline, changes.changed()).await,
        Ok(Ok(()))
    )
}

fn gone() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "affinity_worker_gone")
}

fn no_workers() -> ApiError {
    // No Retry-After: clients pace cold-start retries themselves (5–10 s, Runpod's advice).
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no workers available")
}

fn is_length_limit(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

/// A body that fails once the request's time is over, so a worker cannot stream forever.
struct Deadline<B> {
    inner: B,
    sleep: Pin<Box<Sleep>>,
}

impl<B> HttpBody for Deadline<B>
where
    B: HttpBody + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err("the request's time limit is over".into())));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(WORKER_ID_HEADER, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn affinity_header_modes() {
        assert_eq!(affinity(&HeaderMap::new()).unwrap(), Affinity::None);
        assert_eq!(affinity(&headers("  ")).unwrap(), Affinity::None);
        assert_eq!(affinity(&headers("w1")).unwrap(), Affinity::Prefer("w1"));
        assert_eq!(
            affinity(&headers("strict w1")).unwrap(),
            Affinity::Strict("w1")
        );
        assert_eq!(
            affinity(&headers("strict-resume w1")).unwrap(),
            Affinity::Strict("w1")
        );
        assert!(affinity(&headers("strict")).is_ok_and(|a| a == Affinity::Prefer("strict")));
        assert!(affinity(&headers("strict a b")).is_err());
    }

    #[test]
    fn paths_split_into_endpoint_and_forwarded_path() {
        let uri: Uri = "/lb/ep/v1/chat?x=1&y=%20".parse().unwrap();
        assert_eq!(
            split_path(&uri).unwrap(),
            ("ep", "/v1/chat?x=1&y=%20".to_owned())
        );
        let uri: Uri = "/lb/ep".parse().unwrap();
        assert_eq!(split_path(&uri).unwrap(), ("ep", "/".to_owned()));
    }
}
