//! The worker's pauses after failures: the 429 pause, and its error backoff (the SDK's one
//! [`Backoff`], with equal jitter so many workers do not retry in step).

use std::time::Duration;

use runpod_transport::{Backoff, Error, Jitter};

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

/// The worker's backoff after errors: doubling from `initial` to 30 s, each delay drawn from
/// the upper half of its step ([`Jitter::Equal`]: never near zero, so a failing server is never
/// hammered, yet workers spread out).
pub(crate) fn doubling(initial: Duration) -> Backoff {
    Backoff::builder()
        .with_initial_delay(initial)
        .with_max_delay(Duration::from_secs(30))
        .with_multiplier(2.0)
        .with_jitter(Jitter::Equal)
        .build()
        .expect("the worker's error backoffs start between 0 and 30 s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_initial_delay_to_thirty_seconds_in_the_upper_half() {
        let b = doubling(Duration::from_millis(500));
        let got: Vec<u128> = (0..9).map(|i| b.base(i).as_millis()).collect();
        assert_eq!(
            got,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(b.base(u32::MAX), Duration::from_secs(30));
        let mut delays = b.delays();
        for i in 0..8 {
            let d = delays.delay(i);
            assert!(d >= b.base(i) / 2 && d < b.base(i), "{d:?}");
        }
    }
}
