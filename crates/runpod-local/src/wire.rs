//! The wire models, shared with the client and the worker runtime so the three cannot drift.

pub(crate) use runpod_types::serverless::{
    ErrorBody, ExecutionPolicy, HealthJobs, HealthResponse, HealthWorkers, JobRequest, JobResult,
    JobState, JobStatus, PurgeQueueResponse, S3Config, StopSignals, StreamChunk, StreamResponse,
    WorkerJob,
};
