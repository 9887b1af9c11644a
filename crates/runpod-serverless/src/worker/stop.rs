//! The job-stop long-poll: the platform names in-progress jobs that must stop.

use std::sync::Arc;
use std::time::Duration;

use runpod_transport::{HttpClient, Report};
use runpod_types::serverless::StopSignals;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::{doubling, rate_limit_pause};
use super::job::StopReason;
use super::sink::long_poll;
use super::supervise::Shared;

/// Settings of the job-stop loop.
pub(crate) struct StopLoop {
    pub(crate) client: HttpClient,
    pub(crate) url: String,
    pub(crate) attempt_timeout: Duration,
}

/// Minimum spacing of job-stop polls that return nothing (a server that does not hold).
const EMPTY_POLL_FLOOR: Duration = Duration::from_secs(1);
/// The first delay of the error backoff (doubling to 30 s).
const FIRST_ERROR_DELAY: Duration = Duration::from_secs(1);

impl StopLoop {
    /// Runs until `done` is cancelled (after the last job has been reported).
    ///
    /// A stopped job's token is cancelled; its handler gets the cancel-grace period, then is
    /// dropped, and no result is posted — as in the Python worker: the platform has already
    /// settled the job, and a late result for it would be discarded or rejected.
    pub(crate) async fn run(self, shared: Arc<Shared>, done: CancellationToken) {
        let mut errors = 0u32;
        let mut error_delays = doubling(FIRST_ERROR_DELAY).delays();
        loop {
            let started = Instant::now();
            let request = long_poll(&self.client, &self.url, self.attempt_timeout);
            let sent = tokio::select! {
                r = request => r,
                () = done.cancelled() => break,
            };
            let pause = match sent {
                Ok(resp) => {
                    errors = 0;
                    let body = resp.bytes();
                    let ids = if body.iter().all(u8::is_ascii_whitespace) {
                        Vec::new()
                    } else {
                        match serde_json::from_slice::<StopSignals>(body) {
                            Ok(s) => s.jobs_to_stop.unwrap_or_default(),
                            Err(e) => {
                                tracing::warn!(error = %e, "job-stop response is not {{\"jobsToStop\": [...]}}; ignored");
                                Vec::new()
                            }
                        }
                    };
                    let mut stopped_one = false;
                    for id in &ids {
                        match shared.jobs.get(id) {
                            Some(job) => {
                                tracing::info!(job.id = %id, "job-stop: stopping the job");
                                stopped_one |= !job.is_stopping();
                                job.cancel(StopReason::Stopped);
                            }
                            None => {
                                tracing::debug!(job.id = %id, "job-stop names a job this worker does not hold")
                            }
                        }
                    }
                    // Ask again at once after a stop (a second cancel must not wait); the
                    // floor applies only to answers that changed nothing, so a server that
                    // does not hold, or repeats ids we no longer have, cannot cause a hot loop.
                    if stopped_one {
                        Duration::ZERO
                    } else {
                        EMPTY_POLL_FLOOR.saturating_sub(started.elapsed())
                    }
                }
                Err(e) if e.is_timeout() => Duration::ZERO,
                Err(e) if let Some(pause) = rate_limit_pause(&e) => pause,
                Err(e) => {
                    let d = error_delays.delay(errors);
                    errors = errors.saturating_add(1);
                    tracing::warn!(error = %Report(&e), "job-stop poll failed; retrying in {d:?}");
                    d
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = done.cancelled() => break,
                }
            }
        }
        tracing::debug!("job-stop loop stopped");
    }
}
