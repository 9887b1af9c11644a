//! The wire models, shared with the client and the worker runtime so the three cannot drift.

pub(crate) use runpod_types::serverless::{
    Batch, BatchRequest, BatchRequestStatus, BatchRequestsPage, BatchStatus, ErrorBody,
    ExecutionPolicy, HealthJobs, HealthResponse, HealthWorkers, JobRequest, JobState, JobStatus,
    PurgeQueueResponse, S3Config, StopSignals, StreamResponse, WorkerJob,
};
