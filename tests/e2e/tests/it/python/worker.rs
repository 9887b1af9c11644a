//! The official Python worker (`runpod.serverless.start`) serving runpod-local, driven over raw HTTP.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Raw, server, start_worker};

const EP: &str = "py-worker";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_handler_gets_the_input_and_its_return_value_is_the_output() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-plain", "plain");
    let raw = Raw::new(&server, EP);
    let input = json!({"prompt": "héllo wörld", "n": [1, 2, 3], "nested": {"ok": true}});
    let id = raw.run(json!({"input": input})).await;
    let job = raw.finished(&id).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["output"], json!({"echo": input, "job_id": id}));
    assert_eq!(job["workerId"], "py-plain");
    assert!(
        job["executionTime"].is_u64() && job["delayTime"].is_u64(),
        "{job}"
    );
    let health = raw.health().await;
    assert_eq!(health["jobs"]["completed"], 1);
    assert_eq!(health["workers"]["running"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_handler_works_the_same() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-async", "async");
    let raw = Raw::new(&server, EP);
    let ids = [
        raw.run(json!({"input": {"k": 1}})).await,
        raw.run(json!({"input": {"k": 2}})).await,
    ];
    for (n, id) in ids.iter().enumerate() {
        let job = raw.finished(id).await;
        assert_eq!(job["output"], json!({"async_echo": {"k": n + 1}}), "{job}");
    }
}

fn chunk_outputs(stream: &Value) -> Vec<Value> {
    stream["stream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chunk| chunk["output"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_streams_its_chunks_in_order() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-gen", "generator");
    let raw = Raw::new(&server, EP);
    let id = raw.run(json!({"input": {"n": 5}})).await;
    let job = raw.finished(&id).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    // Without return_aggregate_stream the final post carries an empty list.
    assert_eq!(job["output"], json!([]));
    let stream = raw.stream(&id).await;
    assert_eq!(
        chunk_outputs(&stream),
        (0..5).map(|i| json!({"token": i})).collect::<Vec<_>>()
    );
    let again = raw.stream(&id).await;
    assert_eq!(
        (again["status"].clone(), again["stream"].clone()),
        (json!("COMPLETED"), json!([]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregating_async_generator_returns_all_chunks_as_the_output() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-agg", "generator_aggregate");
    let raw = Raw::new(&server, EP);
    let id = raw.run(json!({"input": {"n": 3}})).await;
    let job = raw.finished(&id).await;
    assert_eq!(job["output"], json!(["tok-0", "tok-1", "tok-2"]), "{job}");
    assert_eq!(
        chunk_outputs(&raw.stream(&id).await),
        [json!("tok-0"), json!("tok-1"), json!("tok-2")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raising_handler_fails_the_job_with_the_python_error_document() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-raise", "raises");
    let raw = Raw::new(&server, EP);
    let id = raw.run(json!({"input": {"value": 42}})).await;
    let job = raw.finished(&id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job.get("output").is_none(), "{job}");
    // The worker sends a JSON document inside a string; it is kept as sent.
    let error: Value =
        serde_json::from_str(job["error"].as_str().expect("a string error")).unwrap();
    assert_eq!(error["error_type"], "<class 'ValueError'>");
    assert_eq!(error["error_message"], "bad input: 42");
    assert_eq!(error["worker_id"], "py-raise");
    assert_eq!(error["runpod_version"], "1.12.0");
    assert!(
        error["error_traceback"]
            .as_str()
            .unwrap()
            .contains("ValueError: bad input: 42")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_updates_show_while_the_job_runs() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let worker = start_worker(&server, EP, "py-progress", "progress");
    let raw = Raw::new(&server, EP);
    let id = raw.run(json!({"input": {}})).await;
    let running = raw
        .status_until(&id, |job| job["output"] == json!({"pct": 50}))
        .await;
    assert_eq!(running["status"], "IN_PROGRESS");
    worker.release(&id);
    let job = raw.finished(&id).await;
    assert_eq!(
        (job["status"].clone(), job["output"].clone()),
        (json!("COMPLETED"), json!({"done": true}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_worker_finishes_the_job_then_the_worker_exits() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let mut worker = start_worker(&server, EP, "py-refresh", "refresh");
    let raw = Raw::new(&server, EP);
    let id = raw.run(json!({"input": "once"})).await;
    let job = raw.finished(&id).await;
    assert_eq!(job["output"], json!({"echo": "once", "job_id": id}));
    let status = worker.wait(Duration::from_secs(60)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "the worker stops itself after a stopPod result ({status:?}):\n{}",
        worker.log()
    );
    let next = raw.run(json!({"input": "twice"})).await;
    assert_eq!(raw.status(&next).await["status"], "IN_QUEUE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_modifier_of_3_takes_a_batch_and_runs_three_at_once() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let raw = Raw::new(&server, EP);
    // Queued before the worker starts, so its first take asks job-take-batch for all three.
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(raw.run(json!({"input": {"n": n}})).await);
    }
    let _worker = start_worker(&server, EP, "py-batch", "concurrent");
    let mut starts = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let job = raw.finished(id).await;
        assert_eq!(job["status"], "COMPLETED", "{job}");
        assert_eq!(job["output"]["n"], n);
        assert_eq!(job["output"]["peak"], 3, "all three ran at once: {job}");
        starts.push(job["output"]["started"].as_f64().unwrap());
    }
    let spread = starts.iter().copied().fold(f64::MIN, f64::max)
        - starts.iter().copied().fold(f64::MAX, f64::min);
    assert!(spread < 0.5, "started together: {starts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_execution_timeout_stop_the_running_handler_through_job_stop() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let mut worker = start_worker(&server, EP, "py-stop", "blocks");
    let raw = Raw::new(&server, EP);

    let cancelled = raw.run(json!({"input": {"block": true}})).await;
    raw.status_until(&cancelled, |job| job["status"] == "IN_PROGRESS")
        .await;
    assert_eq!(raw.cancel(&cancelled).await["status"], "CANCELLED");
    worker
        .wait_for_log(&format!("{cancelled} | Job stopped."))
        .await;

    let timed_out = raw
        .run(json!({"input": {"block": true}, "policy": {"executionTimeout": 2000}}))
        .await;
    let job = raw.finished(&timed_out).await;
    assert_eq!(job["status"], "TIMED_OUT", "{job}");
    worker
        .wait_for_log(&format!("{timed_out} | Job stopped."))
        .await;

    // With concurrency 1 the worker could take nothing more had the blocked handlers not stopped.
    let quick = raw.run(json!({"input": {"block": false}})).await;
    let job = raw.finished(&quick).await;
    assert_eq!(job["output"], json!({"quick": {"block": false}}), "{job}");
    assert_eq!(raw.status(&cancelled).await["status"], "CANCELLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_no_job() {
    let server = server()
        .heartbeat_timeout(Duration::from_secs(3))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let raw = Raw::new(&server, EP);
    let mut doomed = start_worker(&server, EP, "py-doomed", "blocks");
    let id = raw.run(json!({"input": {"block": true}})).await;
    let running = raw
        .status_until(&id, |job| job["status"] == "IN_PROGRESS")
        .await;
    assert_eq!(running["workerId"], "py-doomed");
    doomed.kill();

    let _rescuer = start_worker(&server, EP, "py-rescuer", "plain");
    let job = raw.finished(&id).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["workerId"], "py-rescuer");
    assert_eq!(job["retries"], 1);
    assert_eq!(
        job["output"],
        json!({"echo": {"block": true}, "job_id": id})
    );
}
