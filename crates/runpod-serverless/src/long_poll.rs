//! Long polls: `/status-sync/{id}?wait=` and `/stream/{id}?wait=`, which the server holds until
//! the job changes, so that a wait costs about one request however long the job runs.
//!
//! `/status-sync` is not in Runpod's documentation (the official JS and Go SDKs use it), so a host
//! may not have the route. The first wait that meets a missing route (404 or 405 without a job
//! error body) marks the endpoint, and every later wait on it polls `/status` adaptively.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use runpod_transport::{Error, RequestBuilder, RetryPolicy, StatusCode};

use crate::endpoint::EndpointShared;
use crate::rate_limit::Route;

/// How a wait learns that its job ended: [`JobHandle::wait`](crate::JobHandle::wait),
/// `handle.await`, the `/runsync` continuation and [`JobHandle::stream`](crate::JobHandle::stream).
///
/// Set with [`PollPolicy::with_wait_strategy`](crate::PollPolicy::with_wait_strategy).
///
/// ```
/// # use runpod_serverless::__runpod as runpod;
/// use runpod::serverless::{PollPolicy, WaitStrategy};
///
/// // A host known to lack `/status-sync`: skip the probe.
/// let policy = PollPolicy::default().with_wait_strategy(WaitStrategy::Poll);
/// assert_eq!(policy.wait_strategy(), WaitStrategy::Poll);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitStrategy {
    /// Long polls, falling back to [`Poll`](Self::Poll) for good on an endpoint whose host
    /// answers 404 or 405 for `/status-sync` (an unknown route, not an unknown job). The default.
    #[default]
    Auto,
    /// Long polls only: a host without `/status-sync` ends the wait with its 404 or 405.
    LongPoll,
    /// `/status` polled per the [`PollPolicy`](crate::PollPolicy)'s schedule, as the official
    /// Python client does (with a fixed 1 s).
    Poll,
}

/// How long the server may hold one long poll: the JS SDK's cap, and `/runsync`'s default.
pub(crate) const WAIT: Duration = Duration::from_secs(90);
/// How long the server may hold one `/stream` long poll.
pub(crate) const STREAM_WAIT: Duration = Duration::from_secs(30);
/// The attempt timeout of a long poll is its wait plus this, so that only a server that
/// overstays the wait is timed out.
const GRACE: Duration = Duration::from_secs(30);
/// A long poll held at least this long was honoured by the server: an answer without news, or
/// a connection cut after this, re-arms at once and counts as no failure. One cut sooner is a
/// failure like any other, so that a host that always cuts cannot make a wait spin.
pub(crate) const HONOURED: Duration = Duration::from_millis(900);

/// What an endpoint has learned about long polls, shared by the handles made from it.
#[derive(Debug, Default)]
pub(crate) struct LongPollSupport {
    route_missing: AtomicBool,
}

impl LongPollSupport {
    /// Whether a wait with `strategy` holds a long poll now.
    pub(crate) fn applies(&self, strategy: WaitStrategy) -> bool {
        match strategy {
            WaitStrategy::Auto => !self.route_missing.load(Ordering::Relaxed),
            WaitStrategy::LongPoll => true,
            WaitStrategy::Poll => false,
        }
    }

    /// Called with a long poll's failure; `true` when it means the host lacks the route and the
    /// wait should poll instead (recorded once per endpoint, for `Auto`).
    pub(crate) fn falls_back(&self, strategy: WaitStrategy, err: &Error) -> bool {
        if strategy != WaitStrategy::Auto || !route_missing(err) {
            return false;
        }
        if !self.route_missing.swap(true, Ordering::Relaxed) {
            tracing::debug!(
                status = ?err.status(),
                "the host has no /status-sync route; this endpoint polls /status from now on"
            );
        }
        true
    }
}

/// A 405, or a 404 without the queue API's `{"error": …}` body (which an unknown or expired job
/// gets): the route, not the job, is unknown. A router's own 404 has no body, a text one, or
/// another shape (`{"message": …}`).
pub(crate) fn route_missing(err: &Error) -> bool {
    match err.status() {
        Some(StatusCode::METHOD_NOT_ALLOWED) => true,
        Some(StatusCode::NOT_FOUND) => !err.body().is_some_and(is_job_error),
        _ => false,
    }
}

fn is_job_error(body: &str) -> bool {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(body)
        .is_ok_and(|map| map.contains_key("error"))
}

/// `GET {base}/{route}/{id}?wait=…`, with an attempt timeout that outlasts the wait and no
/// transport retries: the wait itself decides what a failure costs (a cut long poll re-arms).
pub(crate) fn request(
    endpoint: &EndpointShared,
    route: Route,
    job_id: &str,
    wait: Duration,
) -> RequestBuilder {
    // GET: the table lists GET first for both long-poll routes.
    endpoint
        .job_request(route, job_id)
        .query("wait", wait.as_millis())
        .with_attempt_timeout(Some(wait + GRACE))
        .with_retry(RetryPolicy::none())
}

/// A long poll's failure that only means the connection did not last: cut (or overstayed)
/// after the server had held it a while. The wait re-arms at once.
pub(crate) fn was_cut(err: &Error, held: Duration) -> bool {
    held >= HONOURED && (err.is_network() || err.is_timeout())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_falls_back_once_and_only_on_a_missing_route() {
        let support = LongPollSupport::default();
        assert!(support.applies(WaitStrategy::Auto));
        assert!(!support.applies(WaitStrategy::Poll));
        let unknown_job = Error::invalid_input("not an http error");
        assert!(!support.falls_back(WaitStrategy::Auto, &unknown_job));
        assert!(support.applies(WaitStrategy::Auto));
    }

    #[test]
    fn a_job_error_body_is_told_from_a_routers_404() {
        assert!(is_job_error(r#"{"error": "job j not found"}"#));
        for router in [
            "",
            "404 page not found",
            r#"{"message": "no route"}"#,
            "[1]",
        ] {
            assert!(!is_job_error(router), "{router}");
        }
    }
}
