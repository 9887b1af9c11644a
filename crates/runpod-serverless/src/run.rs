//! The `/run` and `/runsync` request builders.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use runpod_transport::{Error, Result, from_value};
use runpod_types::serverless::{ExecutionPolicy, JobRequest, JobState, S3Config};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::endpoint::Endpoint;
use crate::job::{JobHandle, settle};
use crate::rate_limit::Route;

/// A boxed, sendable future, the `IntoFuture` type of the request builders.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Documented range of `policy.executionTimeout`: 5 s to 7 days.
const EXECUTION_TIMEOUT_MS: RangeInclusive<i64> = 5_000..=604_800_000;
/// Documented range of `policy.ttl`: 10 s to 7 days.
const TTL_MS: RangeInclusive<i64> = 10_000..=604_800_000;
/// Documented range of the `/runsync` hold (`?wait=`).
const HOLD_MS: RangeInclusive<u64> = 1_000..=300_000;
/// The server's default hold.
const DEFAULT_HOLD: Duration = Duration::from_secs(90);
/// Extra time the `/runsync` request may take beyond its hold before the attempt is abandoned.
const RUNSYNC_GRACE: Duration = Duration::from_secs(30);
/// Time left between the end of the server's hold and the caller's deadline, for the answer
/// that carries the job id to arrive. A deadline too short to leave it beside the 1 s minimum
/// hold is served through `/run` instead.
const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// The job fields common to `/run` and `/runsync`, shared with the blocking builders.
#[derive(Default)]
pub(crate) struct JobOptions {
    pub(crate) webhook: Option<String>,
    pub(crate) policy: Option<ExecutionPolicy>,
    pub(crate) s3_config: Option<S3Config>,
}

impl fmt::Debug for JobOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobOptions")
            .field("webhook", &self.webhook)
            .field("policy", &self.policy)
            // Holds bucket credentials.
            .field("s3_config", &self.s3_config.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl JobOptions {
    fn policy_mut(&mut self) -> &mut ExecutionPolicy {
        self.policy.get_or_insert_with(ExecutionPolicy::default)
    }

    pub(crate) fn set_execution_timeout(&mut self, timeout: Duration) {
        self.policy_mut().execution_timeout = Some(millis(timeout));
    }

    pub(crate) fn set_ttl(&mut self, ttl: Duration) {
        self.policy_mut().ttl = Some(millis(ttl));
    }

    pub(crate) fn set_low_priority(&mut self, yes: bool) {
        self.policy_mut().low_priority = Some(yes);
    }

    /// Validates and encodes the `/run` or `/runsync` body. Nothing is sent when this fails.
    pub(crate) fn encode(self, input: EncodedInput) -> Result<Vec<u8>> {
        let input = input?;
        warn_if_wrapped_twice(&input);
        if let Some(policy) = &self.policy {
            validate_policy(policy)?;
        }
        let request = JobRequest {
            // Already JSON: copied into the body as it is, not parsed or serialized again.
            input: &*input,
            webhook: self.webhook,
            webhook_v2: None,
            policy: self.policy,
            s3_config: self.s3_config,
        };
        serde_json::to_vec(&request)
            .map_err(|e| Error::invalid_input(format!("the job request cannot be encoded: {e}")))
    }
}

/// A job's input, serialized to JSON once, when the builder is made (so that the builders need
/// no type parameter and the bytes are never rebuilt).
pub(crate) type EncodedInput = Result<Box<RawValue>>;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether an input looks like a whole Python-style request body, `{"input": {...}}` and nothing
/// else. The Python SDK adds the `{"input": …}` wrapper only when it is absent; this SDK always
/// adds it, so such an input reaches the worker as `job.input.input`.
pub(crate) fn is_wrapped_input(input: &Value) -> bool {
    input
        .as_object()
        .is_some_and(|map| map.len() == 1 && map.get("input").is_some_and(Value::is_object))
}

/// Warns once per process about an input wrapped twice (see [`is_wrapped_input`]). It is sent
/// unchanged: a handler may really expect `input.input`, and silently unwrapping would break it.
fn warn_if_wrapped_twice(input: &RawValue) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // The input is compact JSON; only one that starts like a wrapper is parsed to be sure, so
    // ordinary inputs cost a prefix comparison.
    let looks_wrapped = input.get().starts_with("{\"input\":{")
        && serde_json::from_str::<Value>(input.get()).is_ok_and(|v| is_wrapped_input(&v));
    if looks_wrapped && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "the job input is {{\"input\": {{...}}}}, and this SDK wraps every input in \
             {{\"input\": ...}} itself: the worker will see `input.input`. Pass the inner object \
             (the Python SDK adds the wrapper only when absent; this SDK always does). \
             Warned once per process."
        );
    }
}

pub(crate) fn serialize_input<I: Serialize>(input: I) -> EncodedInput {
    serde_json::value::to_raw_value(&input).map_err(|e| {
        Error::invalid_input(format!("the job input cannot be serialised to JSON: {e}"))
    })
}

/// Checks a policy against the documented ranges.
pub(crate) fn validate_policy(policy: &ExecutionPolicy) -> Result<()> {
    if let Some(ms) = policy.execution_timeout
        && !EXECUTION_TIMEOUT_MS.contains(&ms)
    {
        return Err(Error::invalid_input(format!(
            "execution timeout must be between 5 s and 7 days (5000..=604800000 ms), got {ms} ms"
        )));
    }
    if let Some(ms) = policy.ttl
        && !TTL_MS.contains(&ms)
    {
        return Err(Error::invalid_input(format!(
            "ttl must be between 10 s and 7 days (10000..=604800000 ms), got {ms} ms"
        )));
    }
    Ok(())
}

/// How a run-and-wait call submits its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Submit {
    /// `POST /runsync?wait=`, the server holding the request this long.
    Hold(Duration),
    /// `POST /run`, then the wait: the caller's deadline is too short for a hold that ends
    /// (and whose answer arrives) before it, and a `/runsync` cut off by the deadline would
    /// leave a running job whose id nobody knows; or every `/runsync` slot of the rate limiter
    /// is held.
    Queue,
}

/// How to submit for a requested hold and the caller's timeout: the hold is clamped to the
/// documented range and ends [`ANSWER_MARGIN`] before the deadline, so that the answer (with the
/// job id) arrives in time; when no hold fits, the job goes through `/run`.
pub(crate) fn submission(hold: Option<Duration>, timeout: Option<Duration>) -> Submit {
    let mut hold = hold.unwrap_or(DEFAULT_HOLD);
    if let Some(timeout) = timeout {
        let room = timeout.saturating_sub(ANSWER_MARGIN);
        if room < Duration::from_millis(*HOLD_MS.start()) {
            return Submit::Queue;
        }
        hold = hold.min(room);
    }
    let ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX);
    Submit::Hold(Duration::from_millis(
        ms.clamp(*HOLD_MS.start(), *HOLD_MS.end()),
    ))
}

/// The setters shared by the `/run` and `/runsync` builders, async and blocking: `$opts` is the
/// path from `self` to the [`JobOptions`] (`opts`, or `inner.opts` in a blocking builder, which
/// holds the async one). The builder types are `#[must_use]`, so the setters need no attribute
/// of their own.
macro_rules! job_option_setters {
    ($($opts:ident).+) => {
        /// URL that Runpod POSTs the job's result to when it ends.
        pub fn webhook(mut self, url: impl Into<String>) -> Self {
            self.$($opts).+.webhook = Some(url.into());
            self
        }

        /// The whole execution policy (replaces earlier `execution_timeout`, `ttl` and
        /// `low_priority` calls). Checked against the documented ranges when sent.
        pub fn policy(mut self, policy: $crate::ExecutionPolicy) -> Self {
            self.$($opts).+.policy = Some(policy);
            self
        }

        /// How long the job may run, 5 s to 7 days (default: the endpoint's setting). Out of
        /// range → `is_invalid_input()` when sent, before any request.
        pub fn execution_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.$($opts).+.set_execution_timeout(timeout);
            self
        }

        /// How long the job lives from submission, 10 s to 7 days (default 24 h); after that its
        /// status answers 404. Out of range → `is_invalid_input()` when sent.
        pub fn ttl(mut self, ttl: ::std::time::Duration) -> Self {
            self.$($opts).+.set_ttl(ttl);
            self
        }

        /// When true the job does not make the endpoint scale up workers.
        pub fn low_priority(mut self, yes: bool) -> Self {
            self.$($opts).+.set_low_priority(yes);
            self
        }

        /// Bucket credentials handed to the worker (never returned in output).
        pub fn s3_config(mut self, config: $crate::S3Config) -> Self {
            self.$($opts).+.s3_config = Some(config);
            self
        }
    };
}
#[cfg(feature = "blocking")]
pub(crate) use job_option_setters;

/// `POST /run`, made by [`Endpoint::run`]. Resolves to a [`JobHandle`].
#[must_use = "a request does nothing until it is sent or awaited"]
pub struct RunRequest {
    endpoint: Endpoint,
    input: EncodedInput,
    pub(crate) opts: JobOptions,
}

impl fmt::Debug for RunRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunRequest")
            .field("endpoint", &self.endpoint.id())
            .field("opts", &self.opts)
            .finish()
    }
}

impl RunRequest {
    pub(crate) fn new<I: Serialize>(endpoint: Endpoint, input: I) -> Self {
        Self {
            endpoint,
            input: serialize_input(input),
            opts: JobOptions::default(),
        }
    }

    job_option_setters!(opts);

    /// Queues the job.
    ///
    /// # Errors
    /// `is_invalid_input()` for an out-of-range policy or an input that cannot be serialised
    /// (nothing is sent); otherwise transport and HTTP errors. A 5xx answer is returned as it
    /// is, without a second attempt: the job may or may not have been queued.
    pub fn send(self) -> impl Future<Output = Result<JobHandle>> + Send + 'static {
        // The body is encoded here, so that the returned future holds bytes rather than this
        // builder: an `async fn` would keep the builder twice for the whole request.
        let body = self.opts.encode(self.input);
        let shared = Arc::clone(self.endpoint.shared());
        let poll = self.endpoint.poll_policy().clone();
        async move {
            let body = body?;
            let span = tracing::info_span!(
                "runpod.serverless.run",
                endpoint_id = %shared.id,
                job_id = tracing::field::Empty,
            );
            let state: JobState = shared
                .call(Route::Run, |ep| {
                    ep.route_request(Route::Run)
                        .body(body, "application/json")
                        .idempotent(false)
                })
                .instrument(span.clone())
                .await?;
            span.record("job_id", state.id.as_str());
            tracing::debug!(parent: &span, status = ?state.status, "job queued");
            Ok(JobHandle::new(shared, state.id, poll))
        }
    }
}

impl IntoFuture for RunRequest {
    type Output = Result<JobHandle>;
    type IntoFuture = BoxFuture<Result<JobHandle>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// `POST /runsync`, made by [`Endpoint::run_sync`].
///
/// `.await` resolves to the job's output as JSON; [`output`](Self::output) decodes it into a
/// type; [`send`](Self::send) returns the whole finished job (with `delayTime`, `executionTime`).
/// A job that ends FAILED, CANCELLED or TIMED_OUT is an error (`is_job_failed()`, …, with the
/// worker's error in `job_error()`).
///
/// Two durations, two words: the **hold** ([`hold`](Self::hold)) is how long the server keeps
/// the request open before answering with the job still running; the **timeout**
/// ([`timeout`](Self::timeout)) is how long the caller waits in all, through `/status` polls
/// after the hold. Whatever the timeout, a job that was queued is never lost: past it the error
/// carries the job id.
#[must_use = "a request does nothing until it is sent or awaited"]
pub struct RunSyncRequest {
    endpoint: Endpoint,
    input: EncodedInput,
    pub(crate) opts: JobOptions,
    hold: Option<Duration>,
    timeout: Option<Duration>,
}

impl fmt::Debug for RunSyncRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunSyncRequest")
            .field("endpoint", &self.endpoint.id())
            .field("opts", &self.opts)
            .field("hold", &self.hold)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RunSyncRequest {
    pub(crate) fn new<I: Serialize>(endpoint: Endpoint, input: I) -> Self {
        Self {
            endpoint,
            input: serialize_input(input),
            opts: JobOptions::default(),
            hold: None,
            timeout: None,
        }
    }

    job_option_setters!(opts);

    /// How long the server holds the request before answering with the job still running
    /// (`?wait=`), clamped to 1 s–300 s; default 90 s.
    ///
    /// The hold always ends a second before the caller's [`timeout`](Self::timeout), so that
    /// the server's answer (with the job id) arrives in time; a timeout under 2 s leaves no room
    /// for the 1 s minimum hold, and the job is then queued through `/run` and waited for
    /// like a handle instead. So is a job sent while the endpoint's rate limiter has every
    /// `/runsync` slot in use (Runpod allows 400 at once), so that it is queued at once rather
    /// than held in the client.
    pub fn hold(mut self, hold: Duration) -> Self {
        self.hold = Some(hold);
        self
    }

    /// The old name of [`hold`](Self::hold).
    #[deprecated(
        since = "0.1.0",
        note = "renamed `hold`: `wait` is the client waiting for a job"
    )]
    pub fn wait(self, hold: Duration) -> Self {
        self.hold(hold)
    }

    /// How long the caller waits in all: past it the call fails with `is_timeout()` and
    /// `job_id()` names the job to come back to (for example with
    /// [`Endpoint::job`](crate::Endpoint::job)). The job itself keeps running.
    ///
    /// Only a job whose submission had no answer by the deadline has no id (the server may or
    /// may not have queued it).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The old name of [`timeout`](Self::timeout).
    #[deprecated(
        since = "0.1.0",
        note = "renamed `timeout`, like the other setters of this builder"
    )]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.timeout(timeout)
    }

    /// Runs the job and returns it finished (COMPLETED).
    ///
    /// # Errors
    /// `is_invalid_input()` before any request; `is_job_failed()` / `is_job_cancelled()` /
    /// `is_job_timed_out()` when the job ended so; `is_timeout()` past the caller's timeout;
    /// transport and HTTP errors.
    pub async fn send(self) -> Result<JobState> {
        let body = self.opts.encode(self.input)?;
        let started = Instant::now();
        let deadline = self.timeout.map(|t| started + t);
        let shared = Arc::clone(self.endpoint.shared());
        let submit = match submission(self.hold, self.timeout) {
            // Every `/runsync` slot of the limiter is held (Runpod allows 400 at once): a hold
            // would wait in the client with the job not even queued, so the job goes in
            // through `/run` now and is waited for on long polls.
            Submit::Hold(_) if shared.is_full(Route::RunSync) => {
                tracing::debug!(endpoint_id = %shared.id, "every /runsync slot is held; submitting through /run");
                Submit::Queue
            }
            submit => submit,
        };
        let span = tracing::info_span!(
            "runpod.serverless.run_sync",
            endpoint_id = %shared.id,
            job_id = tracing::field::Empty,
        );
        let route = match submit {
            Submit::Hold(_) => Route::RunSync,
            Submit::Queue => Route::Run,
        };
        let state: JobState = shared
            .call(route, |ep| {
                let mut req = match submit {
                    Submit::Hold(hold) => ep
                        .route_request(Route::RunSync)
                        .query("wait", hold.as_millis())
                        .with_attempt_timeout(Some(hold + RUNSYNC_GRACE)),
                    Submit::Queue => ep.route_request(Route::Run),
                };
                req = req.body(body, "application/json").idempotent(false);
                if let Some(deadline) = deadline {
                    req = req.with_operation_timeout(Some(
                        deadline.saturating_duration_since(Instant::now()),
                    ));
                }
                req
            })
            .instrument(span.clone())
            .await?;
        span.record("job_id", state.id.as_str());
        if state.is_terminal() {
            let id = state.id.clone();
            return settle(&id, state);
        }
        tracing::debug!(parent: &span, status = ?state.status, ?submit, "job not ended yet; polling");
        let job = JobHandle::new(shared, state.id, self.endpoint.poll_policy().clone());
        match deadline {
            Some(deadline) => job.wait_until(deadline).await,
            None => job.wait().await,
        }
    }

    /// Runs the job and decodes its output (a missing output decodes from `null`).
    ///
    /// # Errors
    /// As [`send`](Self::send), plus `is_decode()` (naming the JSON path) when the output does
    /// not fit `T`.
    pub async fn output<T: DeserializeOwned>(self) -> Result<T> {
        let state = self.send().await?;
        let id = state.id.clone();
        from_value(state.output.unwrap_or(Value::Null)).map_err(|e| e.with_job_id(id))
    }
}

impl IntoFuture for RunSyncRequest {
    type Output = Result<Value>;
    type IntoFuture = BoxFuture<Result<Value>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.output::<Value>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(execution_timeout: Option<i64>, ttl: Option<i64>) -> ExecutionPolicy {
        ExecutionPolicy {
            execution_timeout,
            ttl,
            ..Default::default()
        }
    }

    #[test]
    fn policy_bounds_are_inclusive() {
        for ok in [
            policy(Some(5_000), None),
            policy(Some(604_800_000), Some(10_000)),
            policy(None, Some(604_800_000)),
        ] {
            assert!(validate_policy(&ok).is_ok(), "{ok:?}");
        }
        for bad in [
            policy(Some(4_999), None),
            policy(Some(604_800_001), None),
            policy(Some(-1), None),
            policy(None, Some(9_999)),
            policy(None, Some(604_800_001)),
        ] {
            let err = validate_policy(&bad).unwrap_err();
            assert!(err.is_invalid_input(), "{bad:?}");
        }
    }

    #[test]
    fn durations_become_milliseconds_without_overflow() {
        assert_eq!(millis(Duration::from_secs(5)), 5_000);
        assert_eq!(millis(Duration::MAX), i64::MAX);
        let mut opts = JobOptions::default();
        opts.set_execution_timeout(Duration::MAX);
        assert!(
            opts.encode(serialize_input(Value::Null))
                .unwrap_err()
                .is_invalid_input()
        );
    }

    #[test]
    fn hold_is_clamped_and_ends_before_the_deadline() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(submission(None, None), Submit::Hold(s(90)));
        assert_eq!(submission(Some(ms(10)), None), Submit::Hold(s(1)));
        assert_eq!(submission(Some(s(3600)), None), Submit::Hold(s(300)));
        assert_eq!(submission(None, Some(s(30))), Submit::Hold(s(29)));
        assert_eq!(submission(Some(s(5)), Some(s(30))), Submit::Hold(s(5)));
        assert_eq!(submission(Some(ms(10)), Some(s(30))), Submit::Hold(s(1)));
        // The 1 s minimum hold plus the answer's margin fit exactly.
        assert_eq!(submission(None, Some(s(2))), Submit::Hold(s(1)));
        assert_eq!(submission(None, Some(ms(2500))), Submit::Hold(ms(1500)));
    }

    #[test]
    fn a_deadline_with_no_room_for_a_hold_goes_through_run() {
        let ms = Duration::from_millis;
        for timeout in [ms(0), ms(500), ms(1000), ms(1500), ms(1999)] {
            assert_eq!(
                submission(None, Some(timeout)),
                Submit::Queue,
                "{timeout:?}"
            );
            assert_eq!(submission(Some(ms(1)), Some(timeout)), Submit::Queue);
        }
    }

    #[test]
    fn python_style_bodies_are_recognised() {
        use serde_json::json;
        assert!(is_wrapped_input(&json!({"input": {"prompt": "x"}})));
        assert!(is_wrapped_input(&json!({"input": {}})));
        for not in [
            json!({"input": "text"}),
            json!({"input": {"prompt": "x"}, "webhook": "https://h"}),
            json!({"prompt": "x"}),
            json!([{"input": {}}]),
            json!(null),
        ] {
            assert!(!is_wrapped_input(&not), "{not}");
        }
    }

    #[test]
    fn the_body_is_the_request_model_with_the_input_as_given() {
        let mut opts = JobOptions {
            webhook: Some("http://127.0.0.1:9/hook".into()),
            ..Default::default()
        };
        opts.set_ttl(Duration::from_secs(60));
        let body = opts
            .encode(serialize_input(
                serde_json::json!({"prompt": "a", "n": [1, 2.5]}),
            ))
            .unwrap();
        let decoded: JobRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            decoded.input,
            serde_json::json!({"prompt": "a", "n": [1, 2.5]})
        );
        assert_eq!(decoded.webhook.as_deref(), Some("http://127.0.0.1:9/hook"));
        assert_eq!(decoded.policy.and_then(|p| p.ttl), Some(60_000));
    }

    #[test]
    fn unserialisable_input_is_invalid_input() {
        let mut map = std::collections::BTreeMap::new();
        map.insert((1, 2), "tuple keys are not JSON object keys");
        let err = JobOptions::default()
            .encode(serialize_input(map))
            .unwrap_err();
        assert!(err.is_invalid_input());
    }

    #[test]
    fn debug_never_shows_bucket_secrets() {
        let opts = JobOptions {
            s3_config: Some(S3Config {
                access_secret: Some("very-secret".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(!format!("{opts:?}").contains("very-secret"));
    }
}
