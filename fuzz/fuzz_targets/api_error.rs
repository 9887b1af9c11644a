//! Error bodies: problem+json, REST v1 `message`, the queue API's `error`, GraphQL `errors`;
//! and the job error a worker reports (a JSON string holding JSON is parsed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use runpod_transport::{ApiError, Error, Report, from_value};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let parsed = ApiError::from_body(data);
    match serde_json::from_slice::<Value>(data) {
        Ok(value) => {
            assert_eq!(parsed, ApiError::from_value(&value));
            let err = Error::job_ended("job", "FAILED", Some(value.clone()));
            assert!(err.is_job_failed());
            assert!(!Report(&err).to_string().is_empty());
            let err = Error::job_ended("job", "FAILED", Some(Value::String(value.to_string())));
            assert!(!Report(&err).to_string().is_empty());
            if let Err(e) = from_value::<runpod_types::serverless::JobState>(value) {
                assert!(e.is_decode());
                assert!(e.body().map_or(0, str::len) <= 4096);
                assert!(!Report(&e).to_string().is_empty());
            }
        }
        Err(_) => assert_eq!(parsed, None),
    }
    if let Some(api) = parsed {
        // Display may be empty: `{"errors": [""]}` or `{"message": ""}` summarise as "" (found by
        // this target; reported, cosmetic). It must not panic.
        let _ = (api.to_string(), api.summary());
        for item in &api.errors {
            let _ = item.to_string();
        }
    }
});
