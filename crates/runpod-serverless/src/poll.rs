//! How often waiting and streaming ask the server about a job.

use std::time::Duration;

use runpod_transport::{Backoff, BackoffBuilder, Delays, Error, Jitter};

use crate::long_poll::WaitStrategy;

/// How a [`JobHandle`](crate::JobHandle) polls `/status` or `/stream` while it waits.
///
/// By default a wait holds long polls instead ([`WaitStrategy::Auto`]); this schedule then
/// applies only to hosts without them, to a host that answers them at once, and after failures.
///
/// Polling starts fast (a loopback or fast endpoint answers in milliseconds), so short jobs
/// finish with little latency, and slows down
/// geometrically to a cap, so long jobs cost few requests. The delay goes back to the start
/// when something changes (a new status, new stream chunks). The schedule is a
/// [`Backoff`] without jitter (a wait is one client's, nothing to spread out).
///
/// Defaults: first delay 10 ms, ×1.5 per poll, at most 2 s, and up to 5 consecutive
/// transient failures (429, 5xx, connection errors, after the transport's own retries) are
/// ridden out before the wait gives up.
///
/// [`builder`](Self::builder) checks the values as
/// [`RetryPolicy::builder`](runpod_transport::RetryPolicy::builder) does: a multiplier that is
/// not a finite number of at least 1, a first delay above the cap, or a zero first delay that
/// should grow is an `is_config()` error, not corrected.
///
/// ```
/// # use runpod_serverless::__runpod as runpod;
/// use std::time::Duration;
/// use runpod::serverless::PollPolicy;
///
/// let policy = PollPolicy::builder()
///     .with_initial_delay(Duration::from_millis(200))
///     .with_max_delay(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(policy.max_delay(), Duration::from_secs(5));
/// assert!(PollPolicy::builder().with_multiplier(0.0).build().is_err());
/// # Ok::<(), runpod::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    schedule: Backoff,
    max_consecutive_errors: u32,
    wait_strategy: WaitStrategy,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            schedule: Backoff::builder()
                .with_initial_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_secs(2))
                .with_multiplier(1.5)
                .with_jitter(Jitter::None)
                .build()
                .expect("the default poll schedule is valid"),
            max_consecutive_errors: 5,
            wait_strategy: WaitStrategy::Auto,
        }
    }
}

impl PollPolicy {
    /// A builder starting from the default policy; [`build`](PollPolicyBuilder::build) checks
    /// the values.
    pub fn builder() -> PollPolicyBuilder {
        let policy = Self::default();
        PollPolicyBuilder {
            schedule: policy.schedule.to_builder(),
            policy,
        }
    }

    /// A policy that polls at the same interval every time (any interval: zero polls again as
    /// soon as an answer arrives, paced by the `/status` rate limit).
    #[must_use]
    pub fn fixed(interval: Duration) -> Self {
        Self {
            schedule: Backoff::fixed(interval),
            ..Self::default()
        }
    }

    /// Sets the delay before the second poll, correcting rather than refusing: at least 1 ms,
    /// and the cap raised to it.
    #[deprecated(
        since = "0.1.0",
        note = "use `PollPolicy::builder()`, which refuses, not corrects"
    )]
    #[must_use]
    pub fn with_initial_delay(self, delay: Duration) -> Self {
        let delay = delay.max(Duration::from_millis(1));
        let max = self.max_delay().max(delay);
        self.corrected(|b| b.with_initial_delay(delay).with_max_delay(max))
    }

    /// Sets the longest delay between two polls, correcting rather than refusing: at least the
    /// first delay.
    #[deprecated(
        since = "0.1.0",
        note = "use `PollPolicy::builder()`, which refuses, not corrects"
    )]
    #[must_use]
    pub fn with_max_delay(self, delay: Duration) -> Self {
        let max = delay.max(self.initial_delay());
        self.corrected(|b| b.with_max_delay(max))
    }

    /// Sets the growth factor, correcting rather than refusing: anything but a finite number
    /// of at least 1 becomes 1.
    #[deprecated(
        since = "0.1.0",
        note = "use `PollPolicy::builder()`, which refuses, not corrects"
    )]
    #[must_use]
    pub fn with_multiplier(self, multiplier: f64) -> Self {
        let multiplier = if multiplier.is_finite() && multiplier >= 1.0 {
            multiplier
        } else {
            1.0
        };
        self.corrected(|b| b.with_multiplier(multiplier))
    }

    /// The deprecated setters' path: their values are corrected into range first, so the
    /// builder accepts them; a combination it still refuses leaves the policy as it was.
    fn corrected(self, set: impl FnOnce(BackoffBuilder) -> BackoffBuilder) -> Self {
        match set(self.schedule.to_builder()).build() {
            Ok(schedule) => Self { schedule, ..self },
            Err(_) => self,
        }
    }

    /// Sets how many transient failures in a row a wait or a stream survives (any number is
    /// valid; see [`PollPolicyBuilder::with_max_consecutive_errors`]).
    #[must_use]
    pub fn with_max_consecutive_errors(mut self, n: u32) -> Self {
        self.max_consecutive_errors = n;
        self
    }

    /// Sets how waits learn of the job's end (any strategy is valid; see
    /// [`PollPolicyBuilder::with_wait_strategy`]).
    #[must_use]
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.wait_strategy = strategy;
        self
    }

    /// How waits learn of the job's end.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.wait_strategy
    }

    /// The delays between polls.
    pub fn backoff(&self) -> &Backoff {
        &self.schedule
    }

    /// The delay before the second poll.
    pub fn initial_delay(&self) -> Duration {
        self.schedule.initial_delay()
    }

    /// The longest delay between two polls.
    pub fn max_delay(&self) -> Duration {
        self.schedule.max_delay()
    }

    /// The growth factor of the delay.
    pub fn multiplier(&self) -> f64 {
        self.schedule.multiplier()
    }

    /// How many transient failures in a row a wait survives.
    pub fn max_consecutive_errors(&self) -> u32 {
        self.max_consecutive_errors
    }
}

/// Builder for [`PollPolicy`]; [`build`](Self::build) validates the values.
#[derive(Debug, Clone)]
#[must_use]
pub struct PollPolicyBuilder {
    schedule: BackoffBuilder,
    policy: PollPolicy,
}

impl PollPolicyBuilder {
    /// The delay before the second poll (the first one is immediate).
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.schedule = self.schedule.with_initial_delay(delay);
        self
    }

    /// The longest delay between two polls (at least the initial delay).
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.schedule = self.schedule.with_max_delay(delay);
        self
    }

    /// The factor applied to the delay after each poll that brought nothing new (finite, at
    /// least 1).
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.schedule = self.schedule.with_multiplier(multiplier);
        self
    }

    /// How many transient failures in a row a wait or a stream survives.
    ///
    /// Each failed poll has already been retried by the transport's retry policy; this is
    /// a second line of defence for long waits through short outages. `0` ends the wait on the
    /// first failure.
    pub fn with_max_consecutive_errors(mut self, n: u32) -> Self {
        self.policy.max_consecutive_errors = n;
        self
    }

    /// How waits learn of the job's end: long polls (`/status-sync`, held by the server
    /// until the job ends; the default, [`WaitStrategy::Auto`]) or polling on this policy's
    /// schedule. With long polls, the schedule still paces a host that answers them at once,
    /// and the wait after a failure.
    pub fn with_wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.policy.wait_strategy = strategy;
        self
    }

    /// Checks the values and returns the policy.
    ///
    /// # Errors
    /// `is_config()` as [`BackoffBuilder::build`]: a multiplier that is not a finite number of
    /// at least 1, an initial delay above the max delay, or a zero initial delay with a
    /// multiplier above 1.
    pub fn build(self) -> Result<PollPolicy, Error> {
        Ok(PollPolicy {
            schedule: self.schedule.build()?,
            ..self.policy
        })
    }
}

/// The delay sequence of one wait, and its count of failures in a row: the wait's side of a
/// [`PollPolicy`], pure, so it is unit-tested without a clock.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    delays: Delays,
    max_consecutive_errors: u32,
    consecutive_errors: u32,
}

impl Schedule {
    pub(crate) fn new(policy: &PollPolicy) -> Self {
        Self {
            delays: policy.schedule.delays(),
            max_consecutive_errors: policy.max_consecutive_errors,
            consecutive_errors: 0,
        }
    }

    /// The delay to sleep now; the following one grows by the multiplier, up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        // A `Delays` iterator never ends.
        self.delays.next().unwrap_or_default()
    }

    /// Something changed: poll soon again.
    pub(crate) fn reset(&mut self) {
        self.delays.reset();
    }

    /// A poll succeeded.
    pub(crate) fn succeeded(&mut self) {
        self.consecutive_errors = 0;
    }

    /// A poll failed. Returns the delay before the next poll when the failure is one to ride
    /// out (transient and under the limit), or `None` when the wait must end with it.
    pub(crate) fn failed(&mut self, err: &Error) -> Option<Duration> {
        if !err.is_retryable() || self.consecutive_errors >= self.max_consecutive_errors {
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
        let mut b = Schedule::new(&PollPolicy::default());
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
        let mut b = Schedule::new(&PollPolicy::default());
        b.next_delay();
        b.next_delay();
        b.reset();
        assert_eq!(b.next_delay(), ms(10));
    }

    #[test]
    fn fixed_policy_never_grows() {
        let mut b = Schedule::new(&PollPolicy::fixed(ms(300)));
        assert!((0..5).all(|_| b.next_delay() == ms(300)));
    }

    #[test]
    fn builder_sets_every_value() {
        let p = PollPolicy::builder()
            .with_initial_delay(ms(20))
            .with_max_delay(ms(500))
            .with_multiplier(2.0)
            .with_max_consecutive_errors(9)
            .with_wait_strategy(WaitStrategy::Poll)
            .build()
            .unwrap();
        assert_eq!(p.initial_delay(), ms(20));
        assert_eq!(p.max_delay(), ms(500));
        assert!((p.multiplier() - 2.0).abs() < f64::EPSILON);
        assert_eq!(p.max_consecutive_errors(), 9);
        assert_eq!(p.wait_strategy(), WaitStrategy::Poll);
        let mut b = Schedule::new(&p);
        let got: Vec<_> = (0..6).map(|_| b.next_delay()).collect();
        assert_eq!(got, [ms(20), ms(40), ms(80), ms(160), ms(320), ms(500)]);
        assert_eq!(
            PollPolicy::builder().build().unwrap(),
            PollPolicy::default()
        );
    }

    /// Each value the old setters corrected silently is refused by the builder, with a config
    /// error that says why.
    #[test]
    fn builder_refuses_each_out_of_range_value() {
        let cases = [
            (PollPolicy::builder().with_multiplier(0.0), "multiplier"),
            (PollPolicy::builder().with_multiplier(-1.5), "multiplier"),
            (PollPolicy::builder().with_multiplier(0.5), "multiplier"),
            (
                PollPolicy::builder().with_multiplier(f64::NAN),
                "multiplier",
            ),
            (
                PollPolicy::builder().with_multiplier(f64::INFINITY),
                "multiplier",
            ),
            (
                PollPolicy::builder().with_max_delay(ms(5)),
                "must not exceed the max delay",
            ),
            (
                PollPolicy::builder()
                    .with_initial_delay(Duration::from_secs(10))
                    .with_max_delay(Duration::from_secs(1)),
                "must not exceed the max delay",
            ),
            (
                PollPolicy::builder().with_initial_delay(Duration::from_secs(10)),
                "must not exceed the max delay",
            ),
            (
                PollPolicy::builder().with_initial_delay(Duration::ZERO),
                "zero initial delay",
            ),
        ];
        for (builder, why) in cases {
            let err = builder
                .clone()
                .build()
                .expect_err("out-of-range policy accepted");
            assert!(err.is_config(), "{builder:?}: {err}");
            assert!(err.to_string().contains(why), "{builder:?}: {err}");
        }
    }

    /// The deprecated setters still correct rather than refuse, so old code keeps its
    /// behaviour.
    #[test]
    #[allow(deprecated)]
    fn deprecated_setters_still_correct() {
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
        let p = PollPolicy::default().with_max_delay(Duration::from_secs(5));
        assert_eq!(p.max_delay(), Duration::from_secs(5));
        assert_eq!(p.initial_delay(), ms(10));
    }

    #[test]
    fn fixed_takes_any_interval() {
        let p = PollPolicy::fixed(Duration::ZERO);
        assert_eq!(p.initial_delay(), Duration::ZERO);
        let mut b = Schedule::new(&p);
        assert!((0..3).all(|_| b.next_delay().is_zero()));
    }

    #[test]
    fn non_retryable_errors_end_the_wait() {
        let mut b = Schedule::new(&PollPolicy::default());
        assert_eq!(b.failed(&Error::invalid_input("bad")), None);
    }
}
