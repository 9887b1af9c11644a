//! `GET /stream` and `/health` bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runpod_types::serverless::{HealthResponse, PurgeQueueResponse, StreamChunk, StreamResponse};

fuzz_target!(|data: &[u8]| {
    runpod_fuzz::round_trip::<StreamResponse>(data);
    runpod_fuzz::round_trip::<StreamChunk>(data);
    runpod_fuzz::round_trip::<HealthResponse>(data);
    runpod_fuzz::round_trip::<PurgeQueueResponse>(data);
});
