//! Retry policy (over the one [`Backoff`]) and the classification of failures into transient and fatal.
//!
//! The classification is a pair of pure functions ([`classify`], [`may_retry`]) over
//! [`Failure`], so the table of what is retried is unit-tested without a network.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::Error;
use crate::backoff::{Backoff, BackoffBuilder, Delays, Jitter};

/// How a request is retried: attempts, a [`Backoff`] between them, and `Retry-After`.
///
/// Attempts count the first try: `with_max_attempts(3)` means one try and at most two retries.
/// The delay before retry *n* (1-based) is the backoff's delay *n − 1*: `initial_delay ×
/// multiplier^(n-1)`, capped at `max_delay`; with jitter (the default) the actual sleep is drawn
/// uniformly from `[0, that]` ("full jitter"). When the server sends `Retry-After` (429 or 503),
/// that delay is used instead, capped at `max_retry_after`.
///
/// Default: 3 attempts, 200 ms initial delay, ×2, 5 s cap, full jitter, `Retry-After`
/// honoured up to 60 s.
///
/// ```
/// # use runpod_transport::__runpod as runpod;
/// use std::time::Duration;
/// use runpod::RetryPolicy;
///
/// let policy = RetryPolicy::builder()
///     .with_max_attempts(5)
///     .with_initial_delay(Duration::from_millis(100))
///     .with_max_delay(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(policy.max_attempts(), 5);
/// assert!(RetryPolicy::builder().with_max_attempts(0).build().is_err());
/// # Ok::<(), runpod::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A builder starting from the default policy.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: Self::default(),
        }
    }

    /// One attempt, no retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Attempts including the first.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delays between attempts.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// Delay before the first retry (before jitter).
    pub fn initial_delay(&self) -> Duration {
        self.backoff.initial_delay()
    }

    /// Upper bound of a computed backoff delay.
    pub fn max_delay(&self) -> Duration {
        self.backoff.max_delay()
    }

    /// Growth factor between consecutive backoff delays.
    pub fn multiplier(&self) -> f64 {
        self.backoff.multiplier()
    }

    /// Whether delays are randomised.
    pub fn jitter(&self) -> bool {
        self.backoff.jitter() != Jitter::None
    }

    /// Upper bound applied to a server's `Retry-After`.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The backoff before retry number `retry` (1 = the first retry), before jitter.
    #[cfg(test)]
    pub(crate) fn base_delay(&self, retry: u32) -> Duration {
        self.backoff.base(retry.saturating_sub(1))
    }

    /// The delays of one operation, with a fresh random source for their jitter.
    pub(crate) fn delays(&self) -> Delays {
        self.backoff.delays()
    }

    /// The sleep before retry number `retry` (1 = the first retry): the server's
    /// `Retry-After` (capped) if given, otherwise the (jittered) backoff.
    pub(crate) fn delay(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        delays: &mut Delays,
    ) -> Duration {
        match retry_after {
            Some(server) => server.min(self.max_retry_after),
            None => delays.delay(retry.saturating_sub(1)),
        }
    }
}

/// Builder for [`RetryPolicy`]; [`build`](Self::build) validates the values.
#[derive(Debug, Clone)]
#[must_use]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// Attempts including the first (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.policy.max_attempts = attempts;
        self
    }

    /// The whole backoff between attempts (replaces the delay, multiplier and jitter settings
    /// made before).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.policy.backoff = backoff;
        self
    }

    fn map_backoff(mut self, f: impl FnOnce(BackoffBuilder) -> BackoffBuilder) -> Self {
        // Checked as a whole in `build`, with the retry policy named in the error.
        self.policy.backoff = f(self.policy.backoff.to_builder()).into_unchecked();
        self
    }

    /// Delay before the first retry.
    pub fn with_initial_delay(self, delay: Duration) -> Self {
        self.map_backoff(|b| b.with_initial_delay(delay))
    }

    /// Upper bound of a computed backoff delay (at least the initial delay).
    pub fn with_max_delay(self, delay: Duration) -> Self {
        self.map_backoff(|b| b.with_max_delay(delay))
    }

    /// Growth factor between delays (finite, at least 1).
    pub fn with_multiplier(self, multiplier: f64) -> Self {
        self.map_backoff(|b| b.with_multiplier(multiplier))
    }

    /// Randomise each delay uniformly in `[0, backoff]` (default on).
    pub fn with_jitter(self, jitter: bool) -> Self {
        let jitter = if jitter { Jitter::Full } else { Jitter::None };
        self.map_backoff(|b| b.with_jitter(jitter))
    }

    /// Draw jitter from a generator seeded with `seed`, so delays repeat between runs (tests).
    pub fn with_jitter_seed(self, seed: u64) -> Self {
        self.map_backoff(|b| b.with_seed(seed))
    }

    /// Cap on a server's `Retry-After`; a longer value waits this long. `Duration::ZERO`
    /// retries at once.
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.policy.max_retry_after = cap;
        self
    }

    /// Checks the values and returns the policy; an invalid value is a config error (as
    /// [`BackoffBuilder::build`] says for the backoff's).
    pub fn build(self) -> Result<RetryPolicy, Error> {
        let p = self.policy;
        if p.max_attempts == 0 {
            return Err(Error::config(
                "retry policy: max attempts counts the first try and must be at least 1",
            ));
        }
        p.backoff.validate("retry policy")?;
        Ok(p)
    }
}

/// What went wrong in one attempt, reduced to what retry decisions need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The server answered with a non-success status.
    Status(StatusCode),
    /// No connection was made: the request never reached the server.
    Connect,
    /// The attempt timed out after the request may have been sent.
    Timeout,
    /// The connection broke after it was made (reset, incomplete message, body error).
    Network,
    /// The response could not be decoded.
    Decode,
    /// The request could not be built (bad URL, header, body).
    Builder,
    /// Too many or invalid redirects.
    Redirect,
}

/// Whether another attempt may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retryable {
    Transient,
    Fatal,
}

/// Transient: 408, 429, 5xx, connect, timeout, broken connection. Fatal: everything else.
pub(crate) fn classify(failure: Failure) -> Retryable {
    match failure {
        Failure::Status(s)
            if s == StatusCode::REQUEST_TIMEOUT
                || s == StatusCode::TOO_MANY_REQUESTS
                || s.is_server_error() =>
        {
            Retryable::Transient
        }
        Failure::Connect | Failure::Timeout | Failure::Network => Retryable::Transient,
        Failure::Status(_) | Failure::Decode | Failure::Builder | Failure::Redirect => {
            Retryable::Fatal
        }
    }
}

/// Whether this failure may be retried for a request of this idempotency.
///
/// A non-idempotent request (POST/PATCH by default) is retried only when it provably had no
/// effect: the connection was never made, or the server refused it with 429.
pub(crate) fn may_retry(failure: Failure, idempotent: bool) -> bool {
    classify(failure) == Retryable::Transient
        && (idempotent
            || matches!(failure, Failure::Connect)
            || failure == Failure::Status(StatusCode::TOO_MANY_REQUESTS))
}

/// Maps a reqwest error to a [`Failure`].
pub(crate) fn failure_of(err: &reqwest::Error) -> Failure {
    // A connect timeout is both `is_connect` and `is_timeout`; it never reached the server.
    if err.is_connect() {
        Failure::Connect
    } else if err.is_timeout() {
        Failure::Timeout
    } else if err.is_builder() {
        Failure::Builder
    } else if err.is_redirect() {
        Failure::Redirect
    } else {
        // `is_request`, `is_body`, and `is_decode`: we never ask reqwest to decode (no
        // `.json()`, no decompression), and it reports a body cut short (e.g. "unexpected EOF
        // during chunk size line") as a decode error. All are a connection that broke after
        // it was made; JSON decode failures are ours and classified separately.
        Failure::Network
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date. A date is measured against the
/// response's `Date` header when present (no clock skew), else against `now`.
pub(crate) fn parse_retry_after(
    value: &str,
    date_header: Option<&str>,
    now: impl FnOnce() -> SystemTime,
) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let reference = date_header
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .unwrap_or_else(now);
    Some(at.duration_since(reference).unwrap_or(Duration::ZERO))
}

/// Wall-clock time, only for turning a `Retry-After` date into a delay when the response
/// carries no `Date` header.
#[allow(clippy::disallowed_methods)]
pub(crate) fn wall_clock() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(n: u16) -> Failure {
        Failure::Status(StatusCode::from_u16(n).unwrap())
    }

    #[test]
    fn classification_table() {
        use Retryable::*;
        let table = [
            (st(408), Transient),
            (st(429), Transient),
            (st(500), Transient),
            (st(502), Transient),
            (st(503), Transient),
            (st(504), Transient),
            (st(599), Transient),
            (Failure::Connect, Transient),
            (Failure::Timeout, Transient),
            (Failure::Network, Transient),
            (st(400), Fatal),
            (st(401), Fatal),
            (st(403), Fatal),
            (st(404), Fatal),
            (st(409), Fatal),
            (st(422), Fatal),
            (st(499), Fatal),
            (st(301), Fatal),
            (Failure::Decode, Fatal),
            (Failure::Builder, Fatal),
            (Failure::Redirect, Fatal),
        ];
        for (failure, want) in table {
            assert_eq!(classify(failure), want, "{failure:?}");
        }
    }

    #[test]
    fn idempotency_table() {
        // (failure, idempotent, may retry)
        let table = [
            (st(503), true, true),
            (st(503), false, false),
            (st(500), false, false),
            (st(408), false, false),
            (st(429), false, true),
            (st(429), true, true),
            (Failure::Connect, false, true),
            (Failure::Connect, true, true),
            (Failure::Timeout, false, false),
            (Failure::Timeout, true, true),
            (Failure::Network, false, false),
            (Failure::Network, true, true),
            (st(404), true, false),
            (Failure::Decode, true, false),
            (Failure::Builder, true, false),
        ];
        for (failure, idempotent, want) in table {
            assert_eq!(
                may_retry(failure, idempotent),
                want,
                "{failure:?} idempotent={idempotent}"
            );
        }
    }

    #[test]
    fn builder_validation() {
        assert!(RetryPolicy::builder().build().is_ok());
        let bad = [
            RetryPolicy::builder().with_max_attempts(0),
            RetryPolicy::builder()
                .with_initial_delay(Duration::from_secs(10))
                .with_max_delay(Duration::from_secs(1)),
            RetryPolicy::builder().with_multiplier(0.5),
            RetryPolicy::builder().with_multiplier(f64::NAN),
            RetryPolicy::builder().with_multiplier(f64::INFINITY),
        ];
        for b in bad {
            let err = b.clone().build().expect_err("invalid policy accepted");
            assert!(err.is_config(), "{b:?}: {err}");
        }
        assert_eq!(RetryPolicy::none().max_attempts(), 1);
    }

    #[test]
    fn default_policy_values() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts(), 3);
        assert_eq!(p.initial_delay(), Duration::from_millis(200));
        assert_eq!(p.multiplier(), 2.0);
        assert_eq!(p.max_delay(), Duration::from_secs(5));
        assert!(p.jitter());
        assert_eq!(p.max_retry_after(), Duration::from_secs(60));
    }

    #[test]
    fn exponential_backoff_is_capped() {
        let p = RetryPolicy::builder()
            .with_initial_delay(Duration::from_millis(100))
            .with_multiplier(3.0)
            .with_max_delay(Duration::from_secs(1))
            .with_jitter(false)
            .build()
            .unwrap();
        let mut delays = p.delays();
        let got: Vec<_> = (1..=5).map(|n| p.delay(n, None, &mut delays)).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(got, [ms(100), ms(300), ms(900), ms(1000), ms(1000)]);
        assert_eq!(p.base_delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_backoff_and_seed_repeats() {
        let p = RetryPolicy::builder()
            .with_max_attempts(10)
            .with_jitter_seed(7)
            .build()
            .unwrap();
        let run = || {
            let mut delays = p.delays();
            (1..=8)
                .map(|n| p.delay(n, None, &mut delays))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run(), "a seeded policy gives the same delays");
        for (i, d) in first.iter().enumerate() {
            assert!(*d <= p.base_delay(i as u32 + 1), "retry {}: {d:?}", i + 1);
        }
        // Not all equal to the un-jittered backoff (the chance of that is nil).
        assert!((1..=8).any(|n| first[n as usize - 1] != p.base_delay(n)));
    }

    #[test]
    fn retry_after_overrides_backoff_and_is_capped() {
        let p = RetryPolicy::builder()
            .with_max_retry_after(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut delays = p.delays();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2)), &mut delays),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(120)), &mut delays),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn retry_after_parsing() {
        let never = || panic!("clock must not be read");
        assert_eq!(
            parse_retry_after("2", None, never),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after(" 120 ", None, never),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("-1", None, never), None);
        assert_eq!(parse_retry_after("1.5", None, never), None);
        assert_eq!(parse_retry_after("soon", None, never), None);
        assert_eq!(parse_retry_after("", None, never), None);
        // HTTP-date against the response's Date header.
        assert_eq!(
            parse_retry_after(
                "Wed, 21 Oct 2015 07:28:30 GMT",
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                never
            ),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after(
                "Wed, 21 Oct 2015 07:27:00 GMT",
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                never
            ),
            Some(Duration::ZERO)
        );
        // Without a Date header the clock seam is used.
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", None, || now),
            Some(Duration::from_secs(5))
        );
    }
}
