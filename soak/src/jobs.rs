//! The client side: submit each job once, wait for it, and account for every error.
//!
//! # Submission outcome unknown
//!
//! `/run` is not idempotent. When the server answers 5xx, or the connection breaks after the
//! request went out, the client cannot know whether the job was queued, and the SDK returns the
//! error without sending again (a second send could queue the job twice). Only failures that
//! prove nothing was queued — no connection, or a 429 — are retried by the SDK.
//!
//! Such a job is "submission outcome unknown". The soak reconciles it the way an application
//! must: every input carries a unique nonce, and the soak asks its record of what the server
//! accepted (the proxy's ledger, standing in for the application's own records, webhooks or a
//! job listing). If the server has the job, the soak waits for it by id; if not, it submits the
//! job again, which is then safe. Either way the job must end COMPLETED.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use runpod_serverless::{Endpoint, Error, JobState};
use runpod_transport::ErrorKind;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::proxy::Ledger;

/// How a job ended, as the client saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum End {
    /// COMPLETED; `matches` tells whether the output equals the input.
    Completed { matches: bool },
    /// FAILED, CANCELLED or TIMED_OUT.
    Ended(String),
    /// The server no longer knows the job (404 while waiting).
    Lost(String),
    /// Not terminal within the job timeout.
    Stuck,
    /// Could not be submitted at all (too many rejections in a row).
    NotSubmitted,
}

/// One job's story.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) nonce: String,
    pub(crate) job_id: Option<String>,
    pub(crate) end: End,
    pub(crate) retries: i64,
    pub(crate) worker: Option<String>,
    /// `/run` calls that returned an error whose outcome was unknown.
    pub(crate) unknown: u32,
    /// Of those, reconciled as accepted by the server (waited for by id).
    pub(crate) found_after_unknown: u32,
    /// Resubmissions: after a provable rejection, or after reconciling "not accepted".
    pub(crate) resubmits: u32,
    /// Waits re-attached by id after a transient error.
    pub(crate) reattaches: u32,
    /// For an output that differs from its input: both, as JSON.
    pub(crate) mismatch: Option<String>,
}

/// Every error the client returned, by operation and class.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    counts: Mutex<BTreeMap<(String, String), u64>>,
    untyped: Mutex<Vec<String>>,
}

impl Tally {
    pub(crate) fn record(&self, op: &str, err: &Error) -> String {
        let label = match classify(err) {
            Some(label) => label,
            None => {
                self.untyped
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(format!("{op}: {err:?}"));
                "UNTYPED".to_owned()
            }
        };
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((op.to_owned(), label.clone()))
            .or_default() += 1;
        label
    }

    pub(crate) fn counts(&self) -> BTreeMap<(String, String), u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn untyped(&self) -> Vec<String> {
        self.untyped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The predicate that names this error, checked against its kind; `None` if the error answers
/// to none (an untyped error) or its predicates contradict its kind.
pub(crate) fn classify(err: &Error) -> Option<String> {
    let kind = err.kind();
    let (label, agrees) = if err.is_job_failed() {
        ("job failed".to_owned(), kind == ErrorKind::JobFailed)
    } else if err.is_job_cancelled() {
        ("job cancelled".to_owned(), kind == ErrorKind::JobCancelled)
    } else if err.is_job_timed_out() {
        ("job timed out".to_owned(), kind == ErrorKind::JobTimedOut)
    } else if err.is_status() {
        let code = err.status().map_or(0, |s| s.as_u16());
        let extra = if err.is_rate_limited() {
            match err.retry_after() {
                Some(d) => format!(" (retry-after {}s)", d.as_secs()),
                None => " (no retry-after)".to_owned(),
            }
        } else {
            String::new()
        };
        (
            format!("status {code}{extra}"),
            kind == ErrorKind::Status && code != 0,
        )
    } else if err.is_timeout() {
        ("timeout".to_owned(), kind == ErrorKind::Timeout)
    } else if err.is_connect() {
        ("connect".to_owned(), kind == ErrorKind::Connect)
    } else if err.is_decode() {
        ("decode".to_owned(), kind == ErrorKind::Decode)
    } else if err.is_invalid_input() {
        ("invalid input".to_owned(), kind == ErrorKind::InvalidInput)
    } else if err.is_config() {
        ("config".to_owned(), kind == ErrorKind::Config)
    } else if err.is_graphql() {
        ("graphql".to_owned(), kind == ErrorKind::GraphQl)
    } else if kind == ErrorKind::Network {
        // No `is_network()` predicate exists; `kind()` is the only way to name this one.
        ("network (kind only)".to_owned(), true)
    } else {
        return None;
    };
    (agrees && !err.to_string().is_empty()).then_some(label)
}

/// Whether the error proves the server did not queue the job.
fn provably_not_queued(err: &Error) -> bool {
    // A 4xx is the server refusing the request as it stands (429 included): nothing queued.
    err.is_connect() || err.is_invalid_input() || err.status().is_some_and(|s| s.is_client_error())
}

/// The input of job `index`: a unique nonce and some payload, echoed back by the worker after
/// an optional short sleep.
pub(crate) fn input(index: usize, seed: u64) -> (String, Value, Value) {
    let mut rng = fastrand::Rng::with_seed(seed ^ (index as u64).wrapping_mul(0x9E37_79B9));
    let nonce = format!("soak-{seed}-{index}");
    let payload: String = (0..rng.usize(0..256)).map(|_| rng.alphanumeric()).collect();
    let echo = json!({"nonce": nonce, "i": index, "payload": payload, "n": rng.f64()});
    let sleep_ms = rng.u64(0..20);
    (
        nonce,
        json!({"sleep_ms": sleep_ms, "echo": echo.clone()}),
        echo,
    )
}

/// Submits and waits for one job.
pub(crate) async fn run_one(
    endpoint: &Endpoint,
    ledger: &Ledger,
    tally: &Tally,
    index: usize,
    seed: u64,
    job_timeout: Duration,
) -> Outcome {
    let (nonce, input, expected) = input(index, seed);
    let mut out = Outcome {
        nonce: nonce.clone(),
        job_id: None,
        end: End::NotSubmitted,
        retries: 0,
        worker: None,
        unknown: 0,
        found_after_unknown: 0,
        resubmits: 0,
        reattaches: 0,
        mismatch: None,
    };
    let deadline = Instant::now() + job_timeout;

    // Submit: at most one job per nonce ever reaches the queue.
    let job_id = loop {
        if Instant::now() >= deadline {
            return out;
        }
        match endpoint.run(input.clone()).await {
            Ok(handle) => break handle.id().to_owned(),
            Err(err) => {
                tally.record("run", &err);
                if !provably_not_queued(&err) {
                    out.unknown += 1;
                    let record = ledger.settled(&nonce).await;
                    if let Some(id) = record.accepted.first() {
                        out.found_after_unknown += 1;
                        break id.clone();
                    }
                }
                out.resubmits += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    out.job_id = Some(job_id.clone());

    // Wait: transient errors re-attach by id; only a terminal state or the deadline ends it.
    let job = endpoint.job(job_id);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            out.end = End::Stuck;
            return out;
        }
        match job.wait_with_timeout(left).await {
            Ok(state) => {
                record_completed(&mut out, &state, &expected);
                return out;
            }
            Err(err) => {
                let label = tally.record("wait", &err);
                if err.is_job_outcome() {
                    out.end = End::Ended(label);
                    return out;
                }
                if err.is_not_found() {
                    out.end = End::Lost(label);
                    return out;
                }
                out.reattaches += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn record_completed(out: &mut Outcome, state: &JobState, expected: &Value) {
    let matches = state.output.as_ref() == Some(expected);
    if !matches {
        out.mismatch = Some(format!(
            "sent {expected}, got {}",
            state.output.as_ref().unwrap_or(&Value::Null)
        ));
    }
    out.end = End::Completed { matches };
    out.retries = state.retries.unwrap_or(0);
    out.worker = state.worker_id.clone();
}

/// Runs `jobs` jobs with `concurrency` tasks; `done` counts finished jobs as they end.
pub(crate) async fn run_all(
    endpoint: Endpoint,
    ledger: Arc<Ledger>,
    tally: Arc<Tally>,
    plan: Plan,
    done: Arc<std::sync::atomic::AtomicUsize>,
) -> Vec<Outcome> {
    use std::sync::atomic::Ordering;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency.max(1) {
        let (endpoint, ledger, tally, next, done) = (
            endpoint.clone(),
            ledger.clone(),
            tally.clone(),
            next.clone(),
            done.clone(),
        );
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= plan.jobs {
                    return mine;
                }
                let outcome = run_one(
                    &endpoint,
                    &ledger,
                    &tally,
                    index,
                    plan.seed,
                    plan.job_timeout,
                )
                .await;
                mine.push(outcome);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut all = Vec::with_capacity(plan.jobs);
    while let Some(joined) = tasks.join_next().await {
        if let Ok(mine) = joined {
            all.extend(mine);
        }
    }
    all
}

/// What the client side runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) jobs: usize,
    pub(crate) concurrency: usize,
    pub(crate) seed: u64,
    pub(crate) job_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_error_kind_is_classified() {
        let samples = [
            Error::invalid_input("x"),
            Error::job_ended("j", "FAILED", None),
            Error::job_ended("j", "CANCELLED", None),
            Error::job_ended("j", "TIMED_OUT", None),
            Error::wait_timeout("j"),
        ];
        for err in samples {
            assert!(classify(&err).is_some(), "{err:?}");
        }
    }

    #[test]
    fn inputs_are_unique_and_reproducible() {
        let (a, input_a, echo_a) = input(1, 7);
        let (b, _, _) = input(2, 7);
        assert_ne!(a, b);
        assert_eq!(input(1, 7).1, input_a);
        assert_eq!(input_a["echo"], echo_a);
    }
}
