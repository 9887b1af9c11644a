//! `GET /status`, `/runsync`, `/cancel`, `/retry`, webhooks: the job status body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runpod_types::serverless::{JobState, JobStatus};

fuzz_target!(|data: &[u8]| {
    runpod_fuzz::round_trip::<JobState>(data);
    if let Ok(job) = serde_json::from_slice::<JobState>(data) {
        // Open enum: whatever status came is sent back unchanged, and only the four ends stop a poller.
        if let Some(status) = &job.status {
            let again = JobStatus::from(status.as_str());
            assert_eq!(&again, status);
            assert_eq!(
                job.is_terminal(),
                matches!(
                    status.as_str(),
                    "COMPLETED" | "FAILED" | "CANCELLED" | "TIMED_OUT"
                )
            );
        }
    }
});
