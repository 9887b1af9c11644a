//! How often waiting and streaming ask the server about a job.

use std::time::Duration;

use runpod_transport::Error;

use crate::long_poll::WaitStrategy;

/// How a [`JobHandle`](crate::JobHandle) polls `/status` or `/stream` while it waits.
///
/// By default a wait holds long polls instead ([`WaitStrategy::Auto`]); this schedule then
/// applies only to hosts without them, to a host that answers them at once, and after failures.
///
/// Polling starts fast (a loopback or fast endpoint answers in milliseconds), so short jobs
/// finish with little latency, and slows down
/// geometrically to a cap, so long jobs cost few requests. The delay goes back to the start
/// when something changes (a new status, new stream chunks).
///
/// Defaults: first delay 10 ms, ×1.5 per poll, at most 2 s, and up to 5 consecutive
/// transient failures (429, 5xx, connection errors, after the transport's own retries) are
/// ridden out before the wait gives up.
///
/// Out-of-range settings are corrected rather than rejected: the first delay is at least
/// 1 ms, the cap at least the first delay, and the multiplier at least 1.
///
/// ```
/// # use runpod_serverless::__runpod as runpod;
/// use std::time::Duration;
/// use runpod::serverless::PollPolicy;
///
/// let policy = PollPolicy::default()
///     .with_initial_delay(Duration::from_millis(200))
///     .with_max_delay(Duration::from_secs(5));
/// assert_eq!(policy.max_delay(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    initial_delay: Duration,
    max_delay: Duration,
    multiplier: f64,
    max_consecutive_errors: u32,
    wait_strategy: WaitStrategy,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(2),
            multiplier: 1.5,
            max_consecutive_errors: 5,
            wait_strategy: WaitStrategy::Auto,
        }
    }
}

impl PollPolicy {
    /// A policy that polls at the same interval every time.
    #[must_use]
    pub fn fixed(interval: Duration) -> Self {
        Self::default()
            .with_initial_delay(interval)
            .with_max_delay(interval)
            .with_multiplier(1.0)
    }

    /// Sets the delay before the second poll (the first one is immediate).
    #[must_use]
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay.max(Duration::from_millis(1));
        self.max_delay = self.max_delay.max(self.initial_delay);
        self
    }

    /// Sets the longest delay between two polls.
    #[must_use]
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay.max(self.initial_delay);
        self
    }

    /// Sets the factor applied to the delay after each poll that brought nothing new.
    #[must_use]
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() && multiplier >= 1.0 {
            multiplier
        } else {
            1.0
        };
        self
    }

    /// Sets how many transient failures in a row a wait or a stream survives.
    ///
    /// Each failed poll has already been retried by the transport's retry policy; this is
    /// a second line of defence for long waits through short outages. `0` ends the wait on the
    /// first failure.
    #[must_use]
    pub fn with_max_consecutive_errors(mut self, n: u32) -> Self {
        self.max_consecutive_errors = n;
        self
    }

    /// Sets how waits learn of the job's end: long polls (`/status-sync`, held by the server
    /// until the job ends; the default, [`WaitStrategy::Auto`]) or polling on this policy's
    /// schedule. With long polls, the schedule still paces a host that answers them at once,
    /// and the wait after a failure.
    #[must_use]
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.wait_strategy = strategy;
        self
    }

    /// How waits learn of the job's end.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.wait_strategy
    }

    /// The delay before the second poll.
    pub fn initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// The longest delay between two polls.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The growth factor of the delay.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// How many transient failures in a row a wait survives.
    pub fn max_consecutive_errors(&self) -> u32 {
        self.max_consecutive_errors
    }
}

/// The delay sequence of one wait: pure, so the schedule is unit-tested without a clock.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: PollPolicy,
    next: Duration,
    consecutive_errors: u32,
}

impl Backoff {
    pub(crate) fn new(policy: &PollPolicy) -> Self {
        Self {
            policy: policy.clone(),
            next: policy.initial_delay,
            consecutive_errors: 0,
        }
    }

    /// The delay to sleep now; the following one grows by the multiplier, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let current = self.next;
        let grown = current.mul_f64(self.policy.multiplier);
        self.next = grown.min(self.policy.max_delay);
        current
    }

    /// Something changed: poll soon again.
    pub(crate) fn reset(&mut self) {
        self.next = self.policy.initial_delay;
    }

    /// A poll succeeded.
    pub(crate) fn succeeded(&mut self) {
        self.consecutive_errors = 0;
    }

    /// A poll failed. Returns the delay before the next poll when the failure is one to ride
    /// out (transient and under the limit), or `None` when the wait must end with it.
    pub(crate) fn failed(&mut self, err: &Error) -> Option<Duration> {
        if !err.is_retryable() || self.consecutive_errors >= self.policy.max_consecutive_errors {
            return None;
        }
        self.consecutive_errors += 1;
        let delay = self.next_delay();
        Some(err.retry_after().map_or(delay, |server| server.max(delay)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn default_schedule_grows_by_half_to_two_seconds() {
        let mut b = Backoff::new(&PollPolicy::default());
        let got: Vec<u128> = (0..15).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(
            got,
            [
                10, 15, 22, 33, 50, 75, 113, 170, 256, 384, 576, 864, 1297, 1946, 2000
            ]
        );
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(&PollPolicy::default());
        b.next_delay();
        b.next_delay();
        b.reset();
        assert_eq!(b.next_delay(), ms(10));
    }

    #[test]
    fn fixed_policy_never_grows() {
        let mut b = Backoff::new(&PollPolicy::fixed(ms(300)));
        assert!((0..5).all(|_| b.next_delay() == ms(300)));
    }

    #[test]
    fn settings_are_corrected_not_rejected() {
        let p = PollPolicy::default()
            .with_initial_delay(Duration::ZERO)
            .with_max_delay(Duration::ZERO)
            .with_multiplier(0.5);
        assert_eq!(p.initial_delay(), ms(1));
        assert_eq!(p.max_delay(), ms(1));
        assert!((p.multiplier() - 1.0).abs() < f64::EPSILON);
        let p = PollPolicy::default().with_multiplier(f64::NAN);
        assert!((p.multiplier() - 1.0).abs() < f64::EPSILON);
        // Raising the first delay above the cap lifts the cap.
        let p = PollPolicy::default().with_initial_delay(Duration::from_secs(10));
        assert_eq!(p.max_delay(), Duration::from_secs(10));
    }

    #[test]
    fn non_retryable_errors_end_the_wait() {
        let mut b = Backoff::new(&PollPolicy::default());
        assert_eq!(b.failed(&Error::invalid_input("bad")), None);
    }
}
