//! The bodies a worker POSTs: results, progress updates, stream chunks, and errors in the Python
//! worker's format so that the Runpod console shows them the same way.

use bytes::Bytes;
use runpod_types::serverless::{JobResult, JobStatus, StreamChunk, WorkerError};
use serde::Serialize;
use serde_json::{Map, Value};

/// The version reported in `runpod_version` (ping and error reports).
pub(crate) const RUNPOD_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Default cap on a serialized result body: the documented 20 MB `/runsync` payload limit.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 20 * 1024 * 1024;

/// How a job ended, before it is turned into a body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// The handler's output (for a stream: the aggregate list, or `[]`).
    Output(Value),
    /// The job failed.
    Failed(Failure),
}

/// A job failure, reported as `WorkerError`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// `error_type`: what kind of failure (the handler's error type, `Panic`, …).
    pub(crate) kind: String,
    /// `error_message`.
    pub(crate) message: String,
    /// `error_traceback`: Rust has no traceback to give; this says where the failure came from.
    pub(crate) origin: String,
}

impl Failure {
    pub(crate) fn new(
        kind: impl Into<String>,
        message: impl Into<String>,
        origin: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            origin: origin.into(),
        }
    }
}

/// Who is reporting: goes into every error document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reporter {
    pub(crate) hostname: String,
    pub(crate) worker_id: String,
}

impl Reporter {
    /// `{"error": "<JSON string of WorkerError>"}` content: the Python worker's encoding.
    fn error_string(&self, failure: &Failure) -> String {
        let doc = WorkerError {
            error_type: Some(failure.kind.clone()),
            error_message: Some(failure.message.clone()),
            error_traceback: Some(failure.origin.clone()),
            hostname: Some(self.hostname.clone()),
            worker_id: Some(self.worker_id.clone()),
            runpod_version: Some(RUNPOD_VERSION.to_owned()),
            ..WorkerError::default()
        };
        // Serializing a struct of strings cannot fail; keep the message if it somehow does.
        serde_json::to_string(&doc).unwrap_or_else(|_| failure.message.clone())
    }

    /// The final job-done body. A result over `max_bytes` is replaced by an error saying so,
    /// so the caller learns what happened instead of the platform rejecting or losing it.
    pub(crate) fn final_body(&self, outcome: &Outcome, stop_pod: bool, max_bytes: usize) -> Bytes {
        let body = self.encode_final(outcome, stop_pod);
        if body.len() <= max_bytes {
            return body;
        }
        let failure = Failure::new(
            "OutputTooLarge",
            format!(
                "the job's result is {} bytes once serialized, over the {} byte limit for results",
                body.len(),
                max_bytes
            ),
            "checked by the worker before sending the result",
        );
        self.encode_final(&Outcome::Failed(failure), stop_pod)
    }

    fn encode_final(&self, outcome: &Outcome, stop_pod: bool) -> Bytes {
        // The output is borrowed into the model, so a large result is not copied before it is
        // serialized; `Some(&Value::Null)` still sends `"output": null`.
        let body = match outcome {
            Outcome::Output(output) => JobResult {
                output: Some(output),
                ..result_body()
            },
            Outcome::Failed(failure) => JobResult {
                error: Some(Value::String(self.error_string(failure))),
                ..result_body()
            },
        };
        to_bytes(&JobResult {
            stop_pod: stop_pod.then_some(true),
            ..body
        })
    }
}

/// An empty job-done body borrowing its output.
fn result_body<'a>() -> JobResult<&'a Value> {
    JobResult {
        output: None,
        error: None,
        status: None,
        stop_pod: None,
        extra: Map::new(),
    }
}

/// A progress update: `{"status": "IN_PROGRESS", "output": value}`, posted to job-done.
pub(crate) fn progress_body<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Bytes> {
    encode(&JobResult {
        status: Some(JobStatus::InProgress),
        output: Some(value),
        error: None,
        stop_pod: None,
        extra: Map::new(),
    })
}

/// A stream chunk: `{"output": value}`, posted to job-stream.
pub(crate) fn chunk_body<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Bytes> {
    encode(&StreamChunk {
        output: Some(value),
        metrics: None,
        extra: Map::new(),
    })
}

fn encode(body: &impl Serialize) -> serde_json::Result<Bytes> {
    serde_json::to_vec(body).map(Bytes::from)
}

fn to_bytes(body: &JobResult<&Value>) -> Bytes {
    // Strings, booleans and `Value`s (whose map keys are strings) always serialize.
    encode(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reporter() -> Reporter {
        Reporter {
            hostname: "host-1".into(),
            worker_id: "w1".into(),
        }
    }

    fn parse(b: &Bytes) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn output_bodies_keep_null_and_stop_pod() {
        let r = reporter();
        assert_eq!(
            parse(&r.final_body(&Outcome::Output(Value::Null), false, 1000)),
            json!({"output": null})
        );
        assert_eq!(
            parse(&r.final_body(&Outcome::Output(json!({"a": 1})), true, 1000)),
            json!({"output": {"a": 1}, "stopPod": true})
        );
    }

    #[test]
    fn errors_are_a_json_string_in_python_format() {
        let r = reporter();
        let body = parse(&r.final_body(
            &Outcome::Failed(Failure::new("Panic", "boom", "here")),
            false,
            10_000,
        ));
        let s = body["error"].as_str().unwrap();
        let doc: Value = serde_json::from_str(s).unwrap();
        assert_eq!(
            doc,
            json!({
                "error_type": "Panic", "error_message": "boom", "error_traceback": "here",
                "hostname": "host-1", "worker_id": "w1", "runpod_version": RUNPOD_VERSION
            })
        );
        assert_eq!(body.as_object().unwrap().len(), 1);
    }

    #[test]
    fn oversized_output_becomes_an_error() {
        let r = reporter();
        let big = Outcome::Output(Value::String("x".repeat(2000)));
        let body = parse(&r.final_body(&big, false, 1000));
        let doc: Value = serde_json::from_str(body["error"].as_str().unwrap()).unwrap();
        assert_eq!(doc["error_type"], "OutputTooLarge");
        assert!(
            doc["error_message"]
                .as_str()
                .unwrap()
                .contains("2013 bytes"),
            "{doc}"
        );
        assert!(body.get("output").is_none());
    }

    #[test]
    fn progress_and_chunk_shapes() {
        assert_eq!(
            parse(&progress_body(&json!(0.5)).unwrap()),
            json!({"status": "IN_PROGRESS", "output": 0.5})
        );
        assert_eq!(
            parse(&chunk_body(&json!({"i": 1})).unwrap()),
            json!({"output": {"i": 1}})
        );
    }
}
