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
