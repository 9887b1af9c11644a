//! The official Python worker (`runpod.serverless.start`) serving runpod-local, driven by our
//! Rust client (`runpod::ServerlessClient`).

use std::time::Duration;

use futures_util::StreamExt as _;
use runpod::Report;
use runpod::serverless::{JobHandle, JobStatus};
use serde_json::{Value, json};

use super::{Driver, server, start_worker};
use crate::support::{finished, status_until};

const EP: &str = "py-worker";

/// Every chunk of the job's stream, in order; the stream must end cleanly (a COMPLETED job).
async fn chunk_outputs(job: &JobHandle) -> Vec<Value> {
    job.chunks()
        .map(|chunk| chunk.unwrap().output.unwrap())
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_handler_gets_the_input_and_its_return_value_is_the_output() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-plain", "plain");
    let driver = Driver::new(&server, EP);
    let input = json!({"prompt": "héllo wörld", "n": [1, 2, 3], "nested": {"ok": true}});
    // run_sync: the whole finished job, in one call.
    let state = driver
        .endpoint()
        .run_sync(input.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(state.status, Some(JobStatus::Completed));
    assert_eq!(
        state.output,
        Some(json!({"echo": input, "job_id": &state.id}))
    );
    assert_eq!(state.worker_id.as_deref(), Some("py-plain"));
    assert!(
        state.execution_time.is_some() && state.delay_time.is_some(),
        "{state:?}"
    );
    let health = driver.endpoint().health().await.unwrap();
    assert_eq!(health.jobs.unwrap().completed, Some(1));
    assert_eq!(health.workers.unwrap().running, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_handler_works_the_same() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-async", "async");
    let driver = Driver::new(&server, EP);
    let jobs = [
        driver.run(json!({"k": 1})).await,
        driver.run(json!({"k": 2})).await,
    ];
    for (n, job) in jobs.iter().enumerate() {
        let output: Value = job.output().await.unwrap();
        assert_eq!(output, json!({"async_echo": {"k": n + 1}}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_streams_its_chunks_in_order() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-gen", "generator");
    let driver = Driver::new(&server, EP);
    let job = driver.run(json!({"n": 5})).await;
    assert_eq!(
        chunk_outputs(&job).await,
        (0..5).map(|i| json!({"token": i})).collect::<Vec<_>>()
    );
    let state = finished(&job).await.unwrap();
    assert_eq!(state.status, Some(JobStatus::Completed));
    // Without return_aggregate_stream the final post carries an empty list.
    assert_eq!(state.output, Some(json!([])));
    // Every chunk was delivered once: a second reader finds none, and its stream ends cleanly.
    assert_eq!(chunk_outputs(&job).await, Vec::<Value>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregating_async_generator_returns_all_chunks_as_the_output() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-agg", "generator_aggregate");
    let driver = Driver::new(&server, EP);
    let job = driver.run(json!({"n": 3})).await;
    assert_eq!(
        chunk_outputs(&job).await,
        [json!("tok-0"), json!("tok-1"), json!("tok-2")]
    );
    assert_eq!(
        job.output::<Vec<String>>().await.unwrap(),
        ["tok-0", "tok-1", "tok-2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raising_handler_fails_the_job_with_the_python_error_document() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let _worker = start_worker(&server, EP, "py-raise", "raises");
    let driver = Driver::new(&server, EP);
    let job = driver.run(json!({"value": 42})).await;
    let err = finished(&job).await.unwrap_err();
    assert!(err.is_job_failed(), "{}", Report(&err));
    assert_eq!(err.job_id(), Some(job.id()));
    // The worker sends a JSON document inside a string; the client hands it over parsed.
    let doc = err.job_error().expect("the worker's error");
    assert_eq!(doc["error_type"], "<class 'ValueError'>");
    assert_eq!(doc["error_message"], "bad input: 42");
    assert_eq!(doc["worker_id"], "py-raise");
    assert_eq!(doc["runpod_version"], "1.12.0");
    assert!(
        doc["error_traceback"]
            .as_str()
            .unwrap()
            .contains("ValueError: bad input: 42"),
        "{doc}"
    );
    let state = job.status().await.unwrap();
    assert_eq!(state.status, Some(JobStatus::Failed));
    assert_eq!(state.output, None);
    // The server keeps the error as the worker sent it: a string holding JSON.
    let raw: Value = serde_json::from_str(state.error.unwrap().as_str().unwrap()).unwrap();
    assert_eq!(&raw, doc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_updates_show_while_the_job_runs() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let worker = start_worker(&server, EP, "py-progress", "progress");
    let driver = Driver::new(&server, EP);
    let job = driver.run(json!({})).await;
    let running = status_until(&job, |s| s.output == Some(json!({"pct": 50}))).await;
    assert_eq!(running.status, Some(JobStatus::InProgress));
    worker.release(job.id());
    let state = finished(&job).await.unwrap();
    assert_eq!(
        (state.status, state.output),
        (Some(JobStatus::Completed), Some(json!({"done": true})))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_worker_finishes_the_job_then_the_worker_exits() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let mut worker = start_worker(&server, EP, "py-refresh", "refresh");
    let driver = Driver::new(&server, EP);
    let job = driver.run(json!("once")).await;
    assert_eq!(
        job.clone().await.unwrap(),
        json!({"echo": "once", "job_id": job.id()})
    );
    let status = worker.wait(Duration::from_secs(60)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "the worker stops itself after a stopPod result ({status:?}):\n{}",
        worker.log()
    );
    let next = driver.run(json!("twice")).await;
    assert_eq!(
        next.status().await.unwrap().status,
        Some(JobStatus::InQueue)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_modifier_of_3_takes_a_batch_and_runs_three_at_once() {
    let server = server().bind("127.0.0.1:0").await.unwrap();
    let driver = Driver::new(&server, EP);
    // Queued before the worker starts, so its first take asks job-take-batch for all three.
    let mut jobs = Vec::new();
    for n in 0..3 {
        jobs.push(driver.run(json!({"n": n})).await);
    }
    let _worker = start_worker(&server, EP, "py-batch", "concurrent");
    let mut starts = Vec::new();
    for (n, job) in jobs.iter().enumerate() {
        let state = finished(job).await.unwrap();
        let output = state.output.unwrap();
        assert_eq!(output["n"], n);
        assert_eq!(output["peak"], 3, "all three ran at once: {output}");
        starts.push(output["started"].as_f64().unwrap());
    }
    let spread = starts.iter().copied().fold(f64::MIN, f64::max)
        - starts.iter().copied().fold(f64::MAX, f64::min);
    assert!(spread < 0.5, "started together: {starts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_execution_timeout_stop_the_running_handler_through_job_stop() {
    // Jobs sent without a policy time out after 2 s; the others set a long one of their own.
    let server = server()
        .default_execution_timeout(Duration::from_secs(2))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut worker = start_worker(&server, EP, "py-stop", "blocks");
    let driver = Driver::new(&server, EP);
    let run_long = |input: Value| {
        driver
            .endpoint()
            .run(input)
            .execution_timeout(Duration::from_secs(600))
            .send()
    };

    let cancelled = run_long(json!({"block": true})).await.unwrap();
    status_until(&cancelled, |s| s.status == Some(JobStatus::InProgress)).await;
    // Jobs queued behind the blocked one: counted, then purged, while it keeps running.
    let mut queued = Vec::new();
    for n in 0..2 {
        queued.push(run_long(json!({"n": n})).await.unwrap());
    }
    let health = driver.endpoint().health().await.unwrap();
    let jobs = health.jobs.unwrap();
    assert_eq!((jobs.in_progress, jobs.in_queue), (Some(1), Some(2)));
    assert_eq!(health.workers.unwrap().running, Some(1));
    let purged = driver.endpoint().purge_queue().await.unwrap();
    assert_eq!(purged.removed, Some(2));
    for job in &queued {
        let err = job.status().await.unwrap_err();
        assert!(err.is_not_found(), "{}", Report(&err));
    }
    assert_eq!(
        cancelled.status().await.unwrap().status,
        Some(JobStatus::InProgress)
    );

    let state = cancelled.cancel().await.unwrap();
    assert_eq!(
        (state.id.as_str(), state.status),
        (cancelled.id(), Some(JobStatus::Cancelled))
    );
    worker
        .wait_for_log(&format!("{} | Job stopped.", cancelled.id()))
        .await;
    let err = finished(&cancelled).await.unwrap_err();
    assert!(err.is_job_cancelled(), "{}", Report(&err));

    let timed_out = driver.run(json!({"block": true})).await;
    let err = finished(&timed_out).await.unwrap_err();
    assert!(err.is_job_timed_out(), "{}", Report(&err));
    assert_eq!(err.job_id(), Some(timed_out.id()));
    worker
        .wait_for_log(&format!("{} | Job stopped.", timed_out.id()))
        .await;

    // With concurrency 1 the worker could take nothing more had the blocked handlers not stopped.
    let quick = run_long(json!({"block": false})).await.unwrap();
    assert_eq!(
        quick.output::<Value>().await.unwrap(),
        json!({"quick": {"block": false}})
    );
    assert_eq!(
        cancelled.status().await.unwrap().status,
        Some(JobStatus::Cancelled)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_no_job() {
    let server = server()
        .heartbeat_timeout(Duration::from_secs(3))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let driver = Driver::new(&server, EP);
    let mut doomed = start_worker(&server, EP, "py-doomed", "blocks");
    let job = driver.run(json!({"block": true})).await;
    let running = status_until(&job, |s| s.status == Some(JobStatus::InProgress)).await;
    assert_eq!(running.worker_id.as_deref(), Some("py-doomed"));
    doomed.kill();

    let _rescuer = start_worker(&server, EP, "py-rescuer", "plain");
    let state = finished(&job).await.unwrap();
    assert_eq!(state.status, Some(JobStatus::Completed));
    assert_eq!(state.worker_id.as_deref(), Some("py-rescuer"));
    assert_eq!(state.retries, Some(1));
    assert_eq!(
        state.output,
        Some(json!({"echo": {"block": true}, "job_id": job.id()}))
    );
}
