//! What happens once a job reaches a terminal state: result retention and its webhook.

use tokio::time::Instant;

use super::job::Job;
use super::timers::{TimerKind, Timers};
use crate::config::Config;
use crate::webhook::Delivery;

/// Bookkeeping once a job reached a terminal state: result retention and the webhook.
pub(super) fn settle(
    job: &mut Job,
    endpoint: &str,
    timers: &mut Timers,
    outbox: &mut Vec<Delivery>,
    now: Instant,
    config: &Config,
) {
    let retention = if job.sync {
        config.sync_result_retention
    } else {
        config.result_retention
    };
    let at = now + retention;
    job.expires_at = Some(at);
    timers.push(at, endpoint, &job.id, TimerKind::Retention);
    if let Some(url) = &job.webhook {
        outbox.push(Delivery::new(url.clone(), &job.state()));
    }
}
