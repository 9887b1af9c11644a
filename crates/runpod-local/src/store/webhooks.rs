//! Webhooks: queued under the lock when a job reaches a terminal state (with its result
//! retention), sent once the lock is released.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::job::Job;
use super::timers::{TimerKind, Timers};
use crate::config::Config;
use crate::webhook::{self, Delivery};

/// Sends the webhooks a critical section queued, each in a task of its own.
pub(super) fn send(
    outbox: Vec<Delivery>,
    shutdown: &CancellationToken,
    observer: Option<&webhook::AttemptObserver>,
) {
    for delivery in outbox {
        tokio::spawn(webhook::deliver(
            delivery,
            shutdown.clone(),
            observer.cloned(),
        ));
    }
}

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
        outbox.push(Delivery::new(
            url.clone(),
            &job.state(),
            config.webhook_hosts.clone(),
        ));
    }
}
