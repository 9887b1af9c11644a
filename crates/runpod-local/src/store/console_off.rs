//! Without the `console` feature the store's console hooks hold nothing and do nothing.

use serde_json::Value;
use tokio::time::Instant;

use super::job::Job;
use crate::webhook::AttemptObserver;

#[derive(Debug, Default)]
pub(crate) struct Console;

#[derive(Debug, Default)]
pub(crate) struct Trace;

impl Console {
    pub(super) fn job(&mut self, _endpoint: &str, _job: &Job, _now: Instant) {}

    pub(super) fn gone(&mut self, _endpoint: &str, _job_id: &str, _now: Instant) {}

    pub(super) fn trace(&mut self, _now: Instant) -> Trace {
        Trace
    }

    pub(super) fn webhook_observer(&self) -> Option<AttemptObserver> {
        None
    }
}

impl Trace {
    pub(super) fn progress(&mut self, _console: &Console, _now: Instant, _output: Option<&Value>) {}
}
