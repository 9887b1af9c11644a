//! What a worker receives: job-take bodies (one job or a batch) and job-stop bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runpod_types::serverless::{JobResult, StopSignals, WorkerJob};

fuzz_target!(|data: &[u8]| {
    runpod_fuzz::round_trip::<WorkerJob>(data);
    runpod_fuzz::round_trip::<Vec<WorkerJob>>(data);
    runpod_fuzz::round_trip::<StopSignals>(data);
    runpod_fuzz::round_trip::<JobResult>(data);
});
