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

/// Who calls a [`Route`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Clients of the queue API (`Authorization: Bearer <key>`).
    Client,
    /// Workers, through the `RUNPOD_WEBHOOK_*` URLs (the raw key as `Authorization`).
    Worker,
}

impl Route {
    /// The route whose [`segment`](Self::segment) is `segment` (`"job-take"`).
    pub fn from_segment(segment: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.segment() == segment)
    }

    /// The route a path below the serverless base (`/{endpoint_id}/{segment}/…`) addresses.
    pub fn from_path(path: &str) -> Option<Route> {
        let mut segments = path.strip_prefix('/')?.split('/');
        let _endpoint = segments.next()?;
        Route::from_segment(segments.next()?)
    }

    /// Whether the route takes a job id after its segment (`/status/{job_id}`), as every client
    /// route that addresses one job does.
    pub fn has_job_id(self) -> bool {
        self.path().ends_with("{job_id}")
    }
}

impl std::fmt::Display for Route {
    /// The route's segment (`job-take`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.segment())
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
