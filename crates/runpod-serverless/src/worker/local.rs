//! Local development: one test job (`--test_input` / `test_input.json`), and `--rp_serve_api`.

use std::sync::Arc;

use runpod_transport::{Error, Result};
use runpod_types::serverless::WorkerJob;
use serde_json::Value;

use super::args::Args;
use super::env::WorkerEnv;
use super::report::Outcome;
use super::runtime::WorkerBuilder;
use super::sink::StdoutSink;
use super::supervise::supervise;

/// Id of the local test job when the test input names none (as in the Python worker).
const LOCAL_TEST_ID: &str = "local_test";
/// The endpoint id `--rp_serve_api` serves.
#[cfg(feature = "worker-local-api")]
const LOCAL_ENDPOINT_ID: &str = "local";
/// File read when there is no `--test_input`.
const TEST_INPUT_FILE: &str = "test_input.json";

/// Runs one job from `--test_input` or `./test_input.json`. Each body the worker would post
/// (progress, stream chunks, then the result) is printed on stdout, one JSON document per line.
pub(crate) async fn run_test_input(
    builder: WorkerBuilder,
    env: WorkerEnv,
    test_input: Option<String>,
) -> Result<()> {
    let text = match test_input {
        Some(t) => t,
        None => std::fs::read_to_string(TEST_INPUT_FILE).map_err(|e| {
            Error::invalid_input(format!(
                "RUNPOD_WEBHOOK_GET_JOB is unset, so this is local test mode, but there is no --test_input \
                 and {TEST_INPUT_FILE} could not be read ({e})"
            ))
        })?,
    };
    let raw = parse_test_job(&text)?;
    let id = raw.id.clone();
    tracing::info!(job.id = %id, "local test mode: running one job");
    let shared = builder.shared(Arc::new(StdoutSink), &env);
    let Some(job) = shared.register(raw) else {
        return Err(Error::invalid_input("the test job could not be registered"));
    };
    let span = tracing::info_span!("job", id = %id);
    let outcome = tracing::Instrument::instrument(supervise(shared.clone(), job, None), span).await;
    match outcome {
        Some(Outcome::Output(_)) => Ok(()),
        Some(Outcome::Failed(f)) => {
            let doc = serde_json::json!({ "error_type": f.kind, "error_message": f.message });
            Err(Error::job_ended(id, "FAILED", Some(doc)))
        }
        None => Err(Error::job_ended(id, "CANCELLED", None)),
    }
}

/// A test job: `{"input": …}` plus optional `id`, `policy`, `webhook`, … as job-take would send.
fn parse_test_job(text: &str) -> Result<WorkerJob> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid_input(format!("the test input is not valid JSON: {e}")))?;
    let Value::Object(mut map) = value else {
        return Err(Error::invalid_input(
            r#"the test input must be a JSON object like {"input": {...}}"#,
        ));
    };
    if !map.contains_key("input") {
        return Err(Error::invalid_input(
            r#"the test input has no "input" field; write it as {"input": {...}}"#,
        ));
    }
    match map.get("id") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => {
            map.insert("id".to_owned(), Value::String(LOCAL_TEST_ID.to_owned()));
        }
    }
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        Error::invalid_input(format!(
            "the test input is malformed at `{}`: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// `--rp_serve_api`: an in-process `runpod-local` endpoint (id `local`) on `--rp_api_host`:
/// `--rp_api_port`, with this worker taking its jobs over loopback. Official clients and ours
/// reach it at the real paths (`/v2/local/run`, `/v2/local/runsync`, `/v2/local/status/{id}`, …).
#[cfg(feature = "worker-local-api")]
pub(crate) async fn serve_api(builder: WorkerBuilder, env: WorkerEnv, args: &Args) -> Result<()> {
    let addr = args.api_addr()?;
    let server = runpod_local::Server::builder()
        .bind(addr)
        .await
        .map_err(|e| {
            Error::invalid_input(format!("--rp_serve_api cannot listen on {addr}: {e}"))
        })?;
    let base = format!("{}/{LOCAL_ENDPOINT_ID}", server.serverless_base_url());
    tracing::info!(
        "local endpoint ready: POST {base}/run and {base}/runsync; GET {base}/status/{{id}}, \
         {base}/stream/{{id}}, {base}/health (RUNPOD_ENDPOINT_BASE_URL={})",
        server.serverless_base_url()
    );
    let mut vars = server.worker_env(LOCAL_ENDPOINT_ID, env.worker_id());
    vars.push((
        "RUNPOD_PING_INTERVAL".to_owned(),
        env.ping_interval().as_millis().to_string(),
    ));
    vars.push((
        "RUNPOD_ENDPOINT_ID".to_owned(),
        LOCAL_ENDPOINT_ID.to_owned(),
    ));
    if let Some(h) = env.hostname() {
        vars.push(("RUNPOD_POD_HOSTNAME".to_owned(), h.to_owned()));
    }
    let result = builder.run_platform(WorkerEnv::from_vars(vars)).await;
    server.shutdown().await;
    result
}

/// `--rp_serve_api` in a binary built without the local API server: say how to get it.
#[cfg(not(feature = "worker-local-api"))]
pub(crate) async fn serve_api(_: WorkerBuilder, _: WorkerEnv, _: &Args) -> Result<()> {
    Err(Error::invalid_input(
        "--rp_serve_api needs the local API server, which this binary was built without: \
         enable the `worker-local-api` feature of `runpod` (or `runpod-serverless`), \
         e.g. in a [features] entry used only for development",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_job_defaults_its_id_and_keeps_fields() {
        let j =
            parse_test_job(r#"{"input": {"a": 1}, "policy": {"executionTimeout": 5000}}"#).unwrap();
        assert_eq!(j.id, LOCAL_TEST_ID);
        assert_eq!(j.input, serde_json::json!({"a": 1}));
        assert_eq!(j.policy.unwrap().execution_timeout, Some(5000));
        assert_eq!(
            parse_test_job(r#"{"id": "mine", "input": null}"#)
                .unwrap()
                .id,
            "mine"
        );
    }

    #[test]
    fn test_job_errors_are_invalid_input() {
        for bad in [
            "not json",
            "[1]",
            r#"{"echo": 1}"#,
            r#"{"input": 1, "policy": 3}"#,
        ] {
            let e = parse_test_job(bad).unwrap_err();
            assert!(e.is_invalid_input(), "{bad}: {e}");
        }
    }
}
