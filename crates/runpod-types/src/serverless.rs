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

    /// The status, to print or match without unwrapping: an answer that carried none reads as
    /// `JobStatus::Unknown("UNKNOWN")`.
    ///
    /// ```
    /// # use runpod_types::__runpod as runpod;
    /// use runpod::types::serverless::{JobState, JobStatus};
    ///
    /// let state: JobState = serde_json::from_str(r#"{"id":"j1","status":"IN_PROGRESS"}"#).unwrap();
    /// assert_eq!(state.state(), JobStatus::InProgress);
    /// assert_eq!(state.state().to_string(), "IN_PROGRESS");
    /// assert_eq!(state.to_string(), "job j1: IN_PROGRESS");
    /// ```
    pub fn state(&self) -> JobStatus {
        self.status
            .clone()
            .unwrap_or_else(|| JobStatus::Unknown("UNKNOWN".to_owned()))
    }
}

/// `job {id}: {STATUS}`, the status as Runpod writes it.
impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.status {
            Some(status) => write!(f, "job {}: {status}", self.id),
            None => write!(f, "job {}: UNKNOWN", self.id),
        }
    }
}
