//! Delays between tries: exponential, capped and jittered. The SDK's one backoff, used by the
//! transport's retries and SSE reconnects, the serverless poll schedule and the worker runtime.

use std::time::Duration;

use crate::Error;

/// How each delay of a [`Backoff`] is randomised, so that many clients that failed together do
/// not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly the exponential delay (polling schedules, tests).
    None,
    /// Uniform in `[0, delay]` ("full jitter", the default): spreads clients the most.
    #[default]
    Full,
    /// Uniform in `[delay / 2, delay)` ("equal jitter"): never near zero, so a failing server
    /// is never hit again at once, yet clients still spread out.
    Equal,
}

/// A sequence of delays: delay *n* (0 = the first) is `initial_delay × multiplier^n`, capped at
/// `max_delay`, then randomised per its [`Jitter`].
///
/// Built by [`Backoff::builder`], which refuses values that make no schedule: a multiplier
/// that is not a finite number of at least 1, a first delay above the cap, and a zero first
/// delay with a multiplier above 1 (it would never grow). The random draws come from
/// [`delays`](Self::delays), a generator per sequence; with
/// [`with_seed`](BackoffBuilder::with_seed) they repeat between runs. Nothing here reads a
/// clock: callers sleep with `tokio::time`, so tests with paused time run the whole schedule
/// at once.
///
/// Default: 200 ms, ×2, at most 5 s, full jitter.
///
/// ```
/// # use runpod_transport::__runpod as runpod;
/// use std::time::Duration;
/// use runpod::transport::{Backoff, Jitter};
///
/// let backoff = Backoff::builder()
///     .with_initial_delay(Duration::from_millis(100))
///     .with_multiplier(3.0)
///     .with_max_delay(Duration::from_secs(1))
///     .with_jitter(Jitter::None)
///     .build()?;
/// let ms: Vec<u128> = backoff.delays().take(4).map(|d| d.as_millis()).collect();
/// assert_eq!(ms, [100, 300, 900, 1000]);
/// assert!(Backoff::builder().with_multiplier(0.0).build().is_err());
/// # Ok::<(), runpod::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial_delay: Duration,
    max_delay: Duration,
    multiplier: f64,
    jitter: Jitter,
    seed: Option<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            multiplier: 2.0,
            jitter: Jitter::Full,
            seed: None,
        }
    }
}

impl Backoff {
    /// A builder starting from the default backoff.
    pub fn builder() -> BackoffBuilder {
        BackoffBuilder {
            backoff: Self::default(),
        }
    }

    /// The same delay every time, without jitter. Valid for every interval.
    pub fn fixed(interval: Duration) -> Self {
        Self {
            initial_delay: interval,
            max_delay: interval,
            multiplier: 1.0,
            jitter: Jitter::None,
            seed: None,
        }
    }

    /// A builder starting from this backoff.
    pub fn to_builder(&self) -> BackoffBuilder {
        BackoffBuilder {
            backoff: self.clone(),
        }
    }

    /// The first delay, before jitter.
    pub fn initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// The cap on a delay, before jitter.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The growth factor between consecutive delays.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// How delays are randomised.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// Delay `n` (0 = the first) before jitter: `initial_delay × multiplier^n`, capped.
    pub fn base(&self, n: u32) -> Duration {
        let exponent = i32::try_from(n).unwrap_or(i32::MAX);
        // In nanoseconds and rounded, so that decimal steps (10 ms × 1.5) land on whole values.
        let nanos = self.initial_delay.as_nanos() as f64 * self.multiplier.powi(exponent);
        if !nanos.is_finite() || nanos >= self.max_delay.as_nanos() as f64 {
            self.max_delay
        } else {
            // In range: below the cap, which is a `Duration`, and not negative.
            Duration::from_nanos(nanos.round() as u64)
        }
    }

    /// The delays in order, each drawn with its jitter; a fresh generator per call (seeded when
    /// the backoff has a seed).
    pub fn delays(&self) -> Delays {
        Delays {
            rng: match self.seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            },
            backoff: self.clone(),
            next: 0,
        }
    }

    fn check(&self) -> Result<(), String> {
        let Self {
            initial_delay,
            max_delay,
            multiplier,
            ..
        } = *self;
        if !multiplier.is_finite() || multiplier < 1.0 {
            return Err(format!(
                "the multiplier must be a finite number of at least 1, got {multiplier}"
            ));
        }
        if initial_delay > max_delay {
            return Err(format!(
                "the initial delay ({initial_delay:?}) must not exceed the max delay ({max_delay:?})"
            ));
        }
        if initial_delay.is_zero() && multiplier > 1.0 {
            return Err(format!(
                "a zero initial delay never grows by the multiplier ({multiplier}): give a \
                 positive initial delay, or a multiplier of 1 for no delay at all"
            ));
        }
        Ok(())
    }

    /// Checks the values, naming `what` they configure in the error.
    pub(crate) fn validate(&self, what: &str) -> Result<(), Error> {
        self.check()
            .map_err(|why| Error::config(format!("{what}: {why}")))
    }
}

/// Builder for [`Backoff`]; [`build`](Self::build) validates the values.
#[derive(Debug, Clone)]
#[must_use]
pub struct BackoffBuilder {
    backoff: Backoff,
}

impl BackoffBuilder {
    /// The first delay.
    pub fn with_initial_delay(mut self, delay: Duration) -> Self {
        self.backoff.initial_delay = delay;
        self
    }

    /// The cap on a delay (at least the initial delay).
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.backoff.max_delay = delay;
        self
    }

    /// The growth factor between delays (finite, at least 1).
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.backoff.multiplier = multiplier;
        self
    }

    /// How delays are randomised (default [`Jitter::Full`]).
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.backoff.jitter = jitter;
        self
    }

    /// Draw the jitter from a generator seeded with `seed`, so delays repeat between runs
    /// (tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.backoff.seed = Some(seed);
        self
    }

    /// The backoff as set so far, unchecked: for a builder that holds one and checks it in
    /// its own `build`, naming itself.
    pub(crate) fn into_unchecked(self) -> Backoff {
        self.backoff
    }

    /// Checks the values and returns the backoff.
    ///
    /// # Errors
    /// `is_config()` for a multiplier that is not a finite number of at least 1, an initial
    /// delay above the max delay, or a zero initial delay with a multiplier above 1.
    pub fn build(self) -> Result<Backoff, Error> {
        self.backoff.validate("backoff")?;
        Ok(self.backoff)
    }
}

/// The delays of one [`Backoff`] with their random draws, made by [`Backoff::delays`]. As an
/// iterator it yields delay 0, 1, 2, … for ever; [`reset`](Self::reset) starts it over.
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    next: u32,
    rng: fastrand::Rng,
}

impl Delays {
    /// Delay `n` (0 = the first) with its jitter, for loops that count tries themselves; it does
    /// not move the iterator.
    pub fn delay(&mut self, n: u32) -> Duration {
        let base = self.backoff.base(n);
        match self.backoff.jitter {
            Jitter::None => base,
            Jitter::Full => {
                // Uniform in [0, base] at nanosecond resolution.
                let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(self.rng.u64(0..=nanos))
            }
            Jitter::Equal => equal_jitter(base, self.rng.f64()),
        }
    }

    /// Starts over from the first delay (something changed; try soon again).
    pub fn reset(&mut self) {
        self.next = 0;
    }

    /// The backoff these delays follow.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.delay(self.next);
        self.next = self.next.saturating_add(1);
        Some(delay)
    }
}

/// `base` scaled by `unit` ∈ `[0, 1)` into `[base / 2, base)`.
fn equal_jitter(base: Duration, unit: f64) -> Duration {
    base.mul_f64(0.5 + unit / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn backoff(initial: u64, max: u64, multiplier: f64, jitter: Jitter) -> Backoff {
        Backoff::builder()
            .with_initial_delay(ms(initial))
            .with_max_delay(ms(max))
            .with_multiplier(multiplier)
            .with_jitter(jitter)
            .build()
            .unwrap()
    }

    #[test]
    fn exponential_and_capped() {
        let b = backoff(100, 1000, 3.0, Jitter::None);
        let got: Vec<_> = b.delays().take(5).collect();
        assert_eq!(got, [ms(100), ms(300), ms(900), ms(1000), ms(1000)]);
        assert_eq!(b.base(u32::MAX), ms(1000));
    }

    #[test]
    fn doubling_caps_and_survives_huge_counts() {
        let b = backoff(500, 30_000, 2.0, Jitter::None);
        let got: Vec<u128> = (0..9).map(|i| b.base(i).as_millis()).collect();
        assert_eq!(
            got,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(b.base(u32::MAX), ms(30_000));
    }

    #[test]
    fn decimal_steps_round_to_whole_nanoseconds() {
        let b = backoff(10, 2000, 1.5, Jitter::None);
        let got: Vec<u128> = b.delays().take(15).map(|d| d.as_millis()).collect();
        assert_eq!(
            got,
            [
                10, 15, 22, 33, 50, 75, 113, 170, 256, 384, 576, 864, 1297, 1946, 2000
            ]
        );
        assert_eq!(b.base(1), Duration::from_nanos(15_000_000));
    }

    #[test]
    fn reset_starts_over_and_delay_does_not_move_the_iterator() {
        let mut d = backoff(10, 2000, 2.0, Jitter::None).delays();
        assert_eq!(d.delay(3), ms(80));
        assert_eq!(d.next(), Some(ms(10)));
        assert_eq!(d.next(), Some(ms(20)));
        d.reset();
        assert_eq!(d.next(), Some(ms(10)));
    }

    #[test]
    fn fixed_never_grows_and_may_be_zero() {
        assert!(
            Backoff::fixed(ms(300))
                .delays()
                .take(5)
                .all(|d| d == ms(300))
        );
        assert!(
            Backoff::fixed(Duration::ZERO)
                .delays()
                .take(3)
                .all(|d| d.is_zero())
        );
        assert!(Backoff::fixed(Duration::ZERO).check().is_ok());
    }

    #[test]
    fn full_jitter_stays_within_the_delay_and_a_seed_repeats() {
        let b = Backoff::builder().with_seed(7).build().unwrap();
        let first: Vec<_> = b.delays().take(8).collect();
        assert_eq!(first, b.delays().take(8).collect::<Vec<_>>());
        for (n, d) in (0..).zip(&first) {
            assert!(*d <= b.base(n), "delay {n}: {d:?}");
        }
        // Not all equal to the un-jittered delay (the chance of that is nil).
        assert!((0..).zip(&first).any(|(n, d)| *d != b.base(n)));
    }

    #[test]
    fn equal_jitter_stays_in_the_upper_half() {
        assert_eq!(equal_jitter(Duration::from_secs(2), 0.0), ms(1000));
        assert!(equal_jitter(Duration::from_secs(2), 0.999_999) < Duration::from_secs(2));
        let b = backoff(500, 30_000, 2.0, Jitter::Equal);
        let mut d = b.delays();
        for n in 0..8 {
            let got = d.delay(n);
            assert!(got >= b.base(n) / 2 && got < b.base(n), "{got:?}");
        }
    }

    #[test]
    fn refuses_what_makes_no_schedule() {
        assert!(Backoff::builder().build().is_ok());
        let bad = [
            Backoff::builder().with_multiplier(0.0),
            Backoff::builder().with_multiplier(-2.0),
            Backoff::builder().with_multiplier(0.5),
            Backoff::builder().with_multiplier(f64::NAN),
            Backoff::builder().with_multiplier(f64::INFINITY),
            Backoff::builder()
                .with_initial_delay(Duration::from_secs(10))
                .with_max_delay(Duration::from_secs(1)),
            Backoff::builder().with_initial_delay(Duration::ZERO),
        ];
        for b in bad {
            let err = b.clone().build().expect_err("invalid backoff accepted");
            assert!(err.is_config(), "{b:?}: {err}");
            assert!(err.to_string().contains("backoff: "), "{err}");
        }
        // A zero initial delay is a schedule when it is not meant to grow.
        assert!(
            Backoff::builder()
                .with_initial_delay(Duration::ZERO)
                .with_multiplier(1.0)
                .build()
                .is_ok()
        );
    }
}
