//! The serverless queue API and worker protocol, generated from `schema/serverless/openapi.yaml`.

pub use crate::generated::serverless::*;

impl JobStatus {
    /// Whether the job has ended: `COMPLETED`, `FAILED`, `CANCELLED` or `TIMED_OUT`.
    ///
    /// An unknown status is not terminal, so a poller keeps waiting rather than stopping early.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }
}

impl JobState {
    /// Whether the job has ended (its status is terminal). A missing status is not terminal.
    pub fn is_terminal(&self) -> bool {
        self.status.as_ref().is_some_and(JobStatus::is_terminal)
    }
}

impl Batch {
    /// Whether the batch has ended: FAILED or CANCELLED, or every request completed or failed
    /// (`requestCompleted + requestFailed == requestTotal`; Runpod has no COMPLETED state).
    ///
    /// A DRAFT is never done, even when empty: its requests have not been queued yet.
    pub fn is_done(&self) -> bool {
        match &self.status {
            Some(BatchStatus::Failed | BatchStatus::Cancelled) => true,
            Some(BatchStatus::Draft) | None => false,
            Some(_) => {
                let total = self.request_total.unwrap_or(0);
                let ended = self.request_completed.unwrap_or(0) + self.request_failed.unwrap_or(0);
                ended >= total && self.request_total.is_some()
            }
        }
    }
}

impl BatchRequestStatus {
    /// Whether the request has ended. PENDING, an unknown status and the queue states are not.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }
}
