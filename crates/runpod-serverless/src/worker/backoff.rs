//! Delays between retries: exponential, capped, with jitter so many workers do not retry in step.

use std::time::Duration;

use runpod_transport::Error;

/// Pause after a 429 without `Retry-After`, and the cap on `Retry-After`.
const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(5);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The pause a long poll takes after `err` when it is a 429: the server's `Retry-After`
/// (capped at 60 s), else 5 s as the Python worker does. `None` for any other error.
pub(crate) fn rate_limit_pause(err: &Error) -> Option<Duration> {
    err.status().is_some_and(|s| s.as_u16() == 429).then(|| {
        err.retry_after()
            .unwrap_or(RATE_LIMIT_PAUSE)
            .min(MAX_RETRY_AFTER)
    })
}

/// Exponential backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// The un-jittered delay before retry number `retry` (0-based): `initial × 2^retry`, capped.
    pub(crate) fn base(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(20));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// `base(retry)` scaled into `[base/2, base)` ("equal jitter": never near zero, so a
    /// failing server is never hammered, yet workers spread out).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        jittered(self.base(retry), super::random::unit())
    }
}

fn jittered(base: Duration, unit: f64) -> Duration {
    base.mul_f64(0.5 + unit / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(30),
    };

    #[test]
    fn doubles_then_caps() {
        let got: Vec<u128> = (0..9).map(|i| B.base(i).as_millis()).collect();
        assert_eq!(
            got,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(B.base(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_in_upper_half() {
        assert_eq!(
            jittered(Duration::from_secs(2), 0.0),
            Duration::from_secs(1)
        );
        assert!(jittered(Duration::from_secs(2), 0.999_999) < Duration::from_secs(2));
        for i in 0..8 {
            let d = B.delay(i);
            assert!(d >= B.base(i) / 2 && d < B.base(i), "{d:?}");
        }
    }
}
