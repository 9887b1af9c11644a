//! Reading REST v2 failures the way the `createPod` guidance in the spec does.
//!
//! | Status | Meaning | Predicate | [`CreateAdvice`] |
//! | --- | --- | --- | --- |
//! | 422 | The body does not match the contract | [`is_validation`] | `FixRequest` (never retry) |
//! | 400 | A cross-field rule, or no capacity for this GPU / data center | [`is_no_capacity`] (best effort) | `NextCandidate` |
//! | 402 | Insufficient balance | [`is_insufficient_balance`] | `Stop` |
//! | 403 | No access to this pool | `Error::is_forbidden` | `NextCandidate` |
//! | 429 | Rate limited | `Error::is_rate_limited` | `RetryAfter(..)` |
//! | 5xx, timeout, broken connection | Transient; a create may have happened | [`may_have_been_applied`] | `RetrySameCandidate` |

use std::time::Duration;

use runpod_transport::{Error, ErrorKind, StatusCode};

/// The API rejected the request body or parameters as malformed (HTTP 422, with each violation
/// in `api_error().errors`). Sending it again can never succeed.
pub fn is_validation(err: &Error) -> bool {
    err.status() == Some(StatusCode::UNPROCESSABLE_ENTITY)
}

/// The account balance cannot pay for the request (HTTP 402). No other GPU type or data center
/// will help.
pub fn is_insufficient_balance(err: &Error) -> bool {
    err.status() == Some(StatusCode::PAYMENT_REQUIRED)
}

/// The request conflicts with the resource's current state (HTTP 409), e.g. an action the
/// pod's status does not allow.
pub fn is_conflict(err: &Error) -> bool {
    err.status() == Some(StatusCode::CONFLICT)
}

/// Phrases Runpod uses when a GPU cannot be placed. The API has no machine-readable code for
/// this (the spec says so), so the `detail` text is all there is.
const NO_CAPACITY_PHRASES: &[&str] = &[
    "capacity",
    "no longer any instances",
    "no instances",
    "not enough free",
    "no available",
    "not available",
    "unavailable",
    "could not be placed",
    "out of stock",
    "no gpus",
    "insufficient resources",
];

/// Best-effort: a `400` whose message says the GPU type (in that data center) has no capacity
/// right now. Another GPU type or data center may succeed.
///
/// Runpod sends a rule violation and "no capacity" with the same status and no code, so this
/// reads the human-readable `detail`; a `400` it does not recognise returns `false`. When
/// trying candidates in order, move on after *any* `400` (as [`create_advice`] does) and use this
/// only for reporting.
pub fn is_no_capacity(err: &Error) -> bool {
    if err.status() != Some(StatusCode::BAD_REQUEST) {
        return false;
    }
    let mut text = String::new();
    if let Some(api) = err.api_error() {
        for part in [&api.title, &api.detail, &api.message]
            .into_iter()
            .flatten()
        {
            text.push_str(part);
            text.push('\n');
        }
        for item in &api.errors {
            text.push_str(&item.message);
            text.push('\n');
        }
    } else if let Some(body) = err.body() {
        text.push_str(body);
    }
    let text = text.to_lowercase();
    NO_CAPACITY_PHRASES.iter().any(|p| text.contains(p))
}

/// The request may have reached the server and taken effect even though no success came back:
/// a 5xx, a timed-out attempt or a connection that broke after sending. Before retrying a
/// create, look the resource up (a retry could create a second, billed one).
pub fn may_have_been_applied(err: &Error) -> bool {
    match err.kind() {
        ErrorKind::Status => err.status().is_some_and(|s| s.is_server_error()),
        ErrorKind::Timeout | ErrorKind::Network => true,
        _ => false,
    }
}

/// What to do after a failed create, per the `createPod` guidance of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateAdvice {
    /// 422 (or a request rejected before sending): fix the request; never retry.
    FixRequest,
    /// 400 or 403: this candidate (GPU type, data center) will not work; try the next one.
    NextCandidate,
    /// 402: stop; no candidate will succeed.
    Stop,
    /// 429: wait this long (the server's `Retry-After`, when it sent one), then resume.
    RetryAfter(Option<Duration>),
    /// 5xx, timeout, broken connection or no connection: retry the same candidate with backoff,
    /// after checking whether the create happened anyway ([`may_have_been_applied`]).
    RetrySameCandidate,
    /// Anything else (401, 404, 409, a decode error, …): give up and report the error.
    GiveUp,
}

/// Classifies a failed create (see [`CreateAdvice`]).
pub fn create_advice(err: &Error) -> CreateAdvice {
    if is_insufficient_balance(err) {
        return CreateAdvice::Stop;
    }
    if is_validation(err) || err.is_invalid_input() {
        return CreateAdvice::FixRequest;
    }
    if err.is_rate_limited() {
        return CreateAdvice::RetryAfter(err.retry_after());
    }
    match err.status() {
        Some(StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN) => {
            return CreateAdvice::NextCandidate;
        }
        Some(s) if s.is_server_error() => return CreateAdvice::RetrySameCandidate,
        Some(_) => return CreateAdvice::GiveUp,
        None => {}
    }
    match err.kind() {
        ErrorKind::Timeout | ErrorKind::Network | ErrorKind::Connect => {
            CreateAdvice::RetrySameCandidate
        }
        _ => CreateAdvice::GiveUp,
    }
}

/// The error [`crate::WaitUntilRunning`] returns when the pod reaches a state it will not leave
/// by itself (`EXITED`, `ERROR`, `TERMINATED`).
pub(crate) fn pod_not_running(pod_id: &str, status: &str) -> Error {
    Error::unexpected_state("pod", pod_id, status)
}

/// The pod being waited for reached `EXITED`, `ERROR` or `TERMINATED` instead of `RUNNING`;
/// `resource_id()` holds the pod id and `state()` the status.
pub fn is_pod_not_running(err: &Error) -> bool {
    err.is_unexpected_state()
}
