//! Property tests of every model decoded from network data: arbitrary and near-valid bodies
//! never panic, what decodes round-trips, open enums keep unknown values, and hostile sizes
//! (deep nesting, 10 MB bodies) end in an error or a value, not a crash. Case counts are kept
//! small so the whole module runs in a second or two; `PROPTEST_CASES` raises them.

use proptest::prelude::*;
use runpod_types::rest::{Endpoint, Pod, Template};
use runpod_types::serverless::{HealthResponse, JobResult, JobState, StreamResponse, WorkerJob};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// `n`, or `PROPTEST_CASES` when set (for longer local runs).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(96),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Field names the models know, so generated objects often hit real fields with wrong types.
const KEYS: &[&str] = &[
    "id",
    "status",
    "delayTime",
    "executionTime",
    "output",
    "error",
    "retries",
    "workerId",
    "stream",
    "input",
    "webhook",
    "policy",
    "executionTimeout",
    "ttl",
    "lowPriority",
    "s3Config",
    "batchId",
    "jobs",
    "workers",
    "completed",
    "inQueue",
    "name",
    "gpuCount",
    "imageName",
    "env",
    "ports",
    "templateId",
    "workersMax",
    "workersMin",
    "machine",
    "gpuTypeIds",
    "networkVolume",
    "costPerHr",
    "desiredStatus",
    "stopPod",
    "metrics",
    "x",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        proptest::sample::select(&["COMPLETED", "IN_QUEUE", "FAILED", "HIBERNATING", ""][..])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Objects with mostly known keys: the shapes that get past the first `{` of a real decoder.
fn json_object() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(key(), json_value(), 0..10)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Decoding never panics; a decoded value serialises, and decodes back to itself.
fn round_trips<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(first) = serde_json::from_slice::<T>(bytes) else {
        return Ok(());
    };
    let text = serde_json::to_vec(&first).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let second: T = serde_json::from_slice(&text).map_err(|e| {
        TestCaseError::fail(format!(
            "re-decoding our own output failed: {e}: {}",
            String::from_utf8_lossy(&text)
        ))
    })?;
    prop_assert_eq!(first, second);
    Ok(())
}

fn all_models(bytes: &[u8]) -> Result<(), TestCaseError> {
    round_trips::<JobState>(bytes)?;
    round_trips::<StreamResponse>(bytes)?;
    round_trips::<WorkerJob>(bytes)?;
    round_trips::<JobResult>(bytes)?;
    round_trips::<HealthResponse>(bytes)?;
    round_trips::<Pod>(bytes)?;
    round_trips::<Endpoint>(bytes)?;
    round_trips::<Template>(bytes)?;
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        all_models(&bytes)?;
    }

    #[test]
    fn near_valid_objects_decode_or_fail_cleanly_and_round_trip(value in json_object()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        all_models(&bytes)?;
    }

    #[test]
    fn any_status_string_is_kept(status in "\\PC{0,24}") {
        let job: JobState =
            serde_json::from_value(serde_json::json!({"id": "j", "status": status})).unwrap();
        let decoded = job.status.clone().unwrap();
        prop_assert_eq!(decoded.as_str(), status.as_str());
        let sent = serde_json::to_value(&job).unwrap();
        prop_assert_eq!(sent["status"].as_str(), Some(status.as_str()));
        // Only the four documented ends stop a poller.
        let terminal = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"].contains(&status.as_str());
        prop_assert_eq!(job.is_terminal(), terminal);
    }

    #[test]
    fn unknown_fields_survive_a_round_trip(
        extra in proptest::collection::btree_map("[a-z]{1,6}_x", json_value(), 0..4),
        output in json_value(),
    ) {
        let mut body = Map::new();
        body.insert("id".into(), "j".into());
        body.insert("status".into(), "IN_PROGRESS".into());
        body.insert("output".into(), output.clone());
        for (k, v) in &extra {
            body.insert(k.clone(), v.clone());
        }
        let job: JobState = serde_json::from_value(Value::Object(body)).unwrap();
        for (k, v) in &extra {
            prop_assert_eq!(job.extra.get(k), Some(v));
        }
        // Kept as sent, `"output": null` included (`Some(Null)`; only a missing key is `None`).
        prop_assert_eq!(job.output, Some(output));
    }

    #[test]
    fn floats_come_back_bit_for_bit(
        f in prop_oneof![any::<f64>().prop_filter("finite", |f| f.is_finite()), 0.0f64..1.0]
    ) {
        // The soak found about one in ten floats in [0, 1) coming back 1 ulp off before
        // serde_json's `float_roundtrip` feature was enabled.
        let body = serde_json::to_vec(&serde_json::json!({"id": "j", "output": f})).unwrap();
        let job: JobState = serde_json::from_slice(&body).unwrap();
        prop_assert_eq!(job.output.and_then(|o| o.as_f64()).map(f64::to_bits), Some(f.to_bits()));
    }

    #[test]
    fn truncated_bodies_are_errors(value in json_object(), cut in any::<proptest::sample::Index>()) {
        let full = serde_json::to_vec(&value).unwrap();
        let at = cut.index(full.len());
        // A strict prefix of a JSON object is never a complete document.
        prop_assert!(serde_json::from_slice::<JobState>(&full[..at]).is_err());
        prop_assert!(serde_json::from_slice::<WorkerJob>(&full[..at]).is_err());
        prop_assert!(serde_json::from_slice::<Pod>(&full[..at]).is_err());
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let depth = 100_000;
        let body = format!(
            "{{\"id\":\"j\",\"output\":{}1{}}}",
            open.repeat(depth),
            close.repeat(depth)
        );
        let err = serde_json::from_str::<JobState>(&body).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
        assert!(serde_json::from_str::<WorkerJob>(&body.replace("output", "input")).is_err());
    }
}

#[test]
fn a_10_mb_output_decodes_and_10_mb_of_garbage_fails() {
    let big = "x".repeat(10 * 1024 * 1024);
    let body = format!("{{\"id\":\"j\",\"status\":\"COMPLETED\",\"output\":\"{big}\"}}");
    let job: JobState = serde_json::from_str(&body).unwrap();
    assert_eq!(job.output.unwrap().as_str().map(str::len), Some(big.len()));
    let garbage = vec![b'{'; 10 * 1024 * 1024];
    assert!(serde_json::from_slice::<JobState>(&garbage).is_err());
    assert!(serde_json::from_slice::<Pod>(&garbage).is_err());
}
