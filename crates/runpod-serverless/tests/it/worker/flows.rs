//! Every handler kind end to end against the fake platform: bodies, URLs, headers.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt};
use runpod_serverless::worker::{Job, JobError, Worker, streaming};
use serde_json::{Value, json};

use super::platform::{Gates, KEY, Queue, Running, queue_platform, scripted};

#[tokio::test]
async fn async_handler_posts_its_output_with_the_right_url_and_headers() {
    let queue = Queue::new([
        json!({"id": "j1", "input": {"echo": {"a": "ünï"}}, "webhook": "https://x.invalid/h"}),
    ]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));

    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();

    let done = &finals[0];
    assert_eq!(done.method, "POST");
    assert_eq!(done.uri, "/v2/ep/job-done/w1/j1?gpu=TEST&isStream=false");
    assert_eq!(done.json(), json!({"output": {"a": "ünï"}}));
    assert_eq!(done.header("authorization"), Some(KEY));
    assert_eq!(done.header("content-type"), Some("application/json"));
    assert_eq!(done.header("x-request-id"), Some("j1"));

    let takes = platform.matching(|r| r.is("job-take"));
    assert_eq!(takes[0].method, "GET");
    assert_eq!(
        takes[0].uri,
        "/v2/ep/job-take/w1?gpu=TEST&job_in_progress=0"
    );
    assert_eq!(takes[0].header("authorization"), Some(KEY));
    // The job's request id never leaks into other requests.
    let others = platform.matching(|r| !r.is("job-done"));
    assert!(
        others.iter().all(|r| r.header("x-request-id").is_none()),
        "{others:#?}"
    );
}

#[tokio::test]
async fn handler_sees_the_raw_job() {
    let queue = Queue::new([json!({
        "id": "j1", "input": {}, "webhook": "https://x.invalid/h", "batchId": "b-7",
        "policy": {"ttl": 60000}, "s3Config": {"bucketName": "bk"}, "extraField": 5
    })]);
    let platform = queue_platform(&queue).await;
    let handler = |job: Job| async move {
        let raw = job.raw();
        Ok::<_, Infallible>(json!({
            "id": job.id(),
            "webhook": raw.webhook,
            "batch": raw.batch_id,
            "ttl": raw.policy.as_ref().and_then(|p| p.ttl),
            "bucket": raw.s3_config.as_ref().and_then(|s| s.bucket_name.clone()),
            "extra": raw.extra.get("extraField"),
        }))
    };
    let worker = Running::spawn(Worker::builder(handler).with_env(platform.env()));
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(
        finals[0].json()["output"],
        json!({"id": "j1", "webhook": "https://x.invalid/h", "batch": "b-7", "ttl": 60000, "bucket": "bk", "extra": 5})
    );
}

#[derive(serde::Deserialize)]
struct Typed {
    n: u32,
}

#[tokio::test]
async fn bad_typed_input_fails_only_that_job() {
    let queue = Queue::new([
        json!({"id": "bad", "input": {"n": "seven"}}),
        json!({"id": "good", "input": {"n": 7}}),
    ]);
    let platform = queue_platform(&queue).await;
    let handler = |job: Job<Typed>| async move { Ok::<_, Infallible>(job.input().n * 2) };
    let worker = Running::spawn(Worker::builder(handler).with_env(platform.env()));
    let finals = platform.wait_finals(2).await;
    worker.shutdown().await.unwrap();

    let bad = finals.iter().find(|r| r.job_id() == "bad").unwrap();
    let doc = bad.error_doc();
    assert_eq!(doc["error_type"], "InvalidInput");
    let msg = doc["error_message"].as_str().unwrap();
    assert!(msg.contains("`n`") && msg.contains("invalid type"), "{msg}");
    let good = finals.iter().find(|r| r.job_id() == "good").unwrap();
    assert_eq!(good.json(), json!({"output": 14}));
}

#[tokio::test]
async fn handler_errors_use_the_python_error_document() {
    let queue = Queue::new([json!({"id": "j1", "input": {"fail": "bad input!"}})]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();

    let body = finals[0].json();
    assert_eq!(body.as_object().unwrap().len(), 1, "only `error`: {body}");
    insta::assert_json_snapshot!(finals[0].error_doc(), { ".runpod_version" => "[version]" }, @r#"
    {
      "error_message": "bad input!",
      "error_traceback": "returned by the handler",
      "error_type": "HandlerError",
      "hostname": "host-1",
      "runpod_version": "[version]",
      "worker_id": "w1"
    }
    "#);
}

#[tokio::test]
async fn a_job_error_reports_the_kind_the_handler_chose() {
    async fn refuse(job: Job<Value>) -> Result<Value, JobError> {
        Err(JobError::new(
            "InvalidPrompt",
            format!("no prompt in {}", job.input()),
        ))
    }
    let queue = Queue::new([json!({"id": "j1", "input": {}})]);
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(Worker::builder(refuse).with_env(platform.env()));
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();

    let doc = finals[0].error_doc();
    assert_eq!(doc["error_type"], "InvalidPrompt");
    assert_eq!(doc["error_message"], "no prompt in {}");
}

#[tokio::test]
async fn a_panic_fails_only_its_job() {
    let queue = Queue::new([
        json!({"id": "p", "input": {"panic": "boom at step 3"}}),
        json!({"id": "ok", "input": {"echo": 1}}),
    ]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(2).await;
    worker.shutdown().await.unwrap();

    let doc = finals
        .iter()
        .find(|r| r.job_id() == "p")
        .unwrap()
        .error_doc();
    assert_eq!(doc["error_type"], "Panic");
    assert_eq!(doc["error_message"], "the handler panicked: boom at step 3");
    assert_eq!(
        finals.iter().find(|r| r.job_id() == "ok").unwrap().json(),
        json!({"output": 1})
    );
}

#[tokio::test]
async fn null_output_is_sent_as_null() {
    let queue = Queue::new([json!({"id": "j1", "input": {}})]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&finals[0].body),
        r#"{"output":null}"#
    );
}

#[tokio::test]
async fn progress_updates_arrive_in_order_before_the_result() {
    let queue = Queue::new([json!({"id": "j1", "input": {"progress": 4, "echo": "done"}})]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();

    let posts = platform.matching(|r| r.is("job-done"));
    let bodies: Vec<Value> = posts.iter().map(|r| r.json()).collect();
    assert_eq!(
        bodies,
        [
            json!({"status": "IN_PROGRESS", "output": {"step": 0}}),
            json!({"status": "IN_PROGRESS", "output": {"step": 1}}),
            json!({"status": "IN_PROGRESS", "output": {"step": 2}}),
            json!({"status": "IN_PROGRESS", "output": {"step": 3}}),
            json!({"output": "done"}),
        ]
    );
    assert!(
        posts
            .iter()
            .all(|r| r.uri.ends_with("isStream=false") && r.header("x-request-id") == Some("j1"))
    );
}

#[tokio::test]
async fn progress_from_a_spawned_task_after_the_result_is_dropped() {
    let queue = Queue::new([json!({"id": "j1", "input": {}})]);
    let platform = queue_platform(&queue).await;
    let (tx, rx) = tokio::sync::oneshot::channel::<runpod_serverless::worker::JobContext>();
    let tx = std::sync::Mutex::new(Some(tx));
    let handler = move |job: Job| {
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(job.context().clone());
        }
        async move { Ok::<_, Infallible>(json!("result")) }
    };
    let worker = Running::spawn(Worker::builder(handler).with_env(platform.env()));
    platform.wait_finals(1).await;
    // A context kept past the end of the job: its progress goes nowhere.
    let ctx = rx.await.unwrap();
    ctx.progress("late").await;
    worker.shutdown().await.unwrap();
    let posts = platform.matching(|r| r.is("job-done"));
    assert_eq!(posts.len(), 1, "{posts:#?}");
}

fn count(job: Job<u64>) -> impl Stream<Item = Result<Value, String>> {
    stream::iter(0..*job.input()).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(json!({"i": i}))
    })
}

#[tokio::test]
async fn streaming_handler_posts_each_chunk_then_an_empty_result() {
    let queue = Queue::new([json!({"id": "s1", "input": 3})]);
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(Worker::builder(streaming(count)).with_env(platform.env()));
    platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();

    let posts = platform.matching(|r| r.is("job-stream") || r.is("job-done"));
    let seen: Vec<(String, Value)> = posts.iter().map(|r| (r.uri.clone(), r.json())).collect();
    assert_eq!(
        seen,
        [
            (
                "/v2/ep/job-stream/w1/s1?gpu=TEST&isStream=false".to_owned(),
                json!({"output": {"i": 0}})
            ),
            (
                "/v2/ep/job-stream/w1/s1?gpu=TEST&isStream=false".to_owned(),
                json!({"output": {"i": 1}})
            ),
            (
                "/v2/ep/job-stream/w1/s1?gpu=TEST&isStream=false".to_owned(),
                json!({"output": {"i": 2}})
            ),
            (
                "/v2/ep/job-done/w1/s1?gpu=TEST&isStream=true".to_owned(),
                json!({"output": []})
            ),
        ]
    );
    assert!(posts.iter().all(|r| r.header("x-request-id") == Some("s1")));
}

#[tokio::test]
async fn streaming_handler_can_aggregate_its_output() {
    let queue = Queue::new([json!({"id": "s1", "input": 2})]);
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(
        Worker::builder(streaming(count).aggregate_output(true)).with_env(platform.env()),
    );
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(finals[0].json(), json!({"output": [{"i": 0}, {"i": 1}]}));
    assert_eq!(platform.matching(|r| r.is("job-stream")).len(), 2);
}

#[tokio::test]
async fn a_stream_error_ends_the_job_as_failed() {
    let queue = Queue::new([json!({"id": "s1", "input": null})]);
    let platform = queue_platform(&queue).await;
    let handler = |_job: Job| {
        stream::iter([
            Ok(json!(1)),
            Err("generator failed at 1".to_owned()),
            Ok(json!(2)),
        ])
    };
    let worker = Running::spawn(Worker::builder(streaming(handler)).with_env(platform.env()));
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();

    let chunks: Vec<Value> = platform
        .matching(|r| r.is("job-stream"))
        .iter()
        .map(|r| r.json())
        .collect();
    assert_eq!(chunks, [json!({"output": 1})]);
    assert!(finals[0].uri.ends_with("isStream=true"));
    assert_eq!(
        finals[0].error_doc()["error_message"],
        "generator failed at 1"
    );
}

#[tokio::test]
async fn oversized_output_becomes_a_clear_error() {
    let queue = Queue::new([
        json!({"id": "big", "input": {"echo": "x".repeat(500)}}),
        json!({"id": "small", "input": {"echo": "x"}}),
    ]);
    let platform = queue_platform(&queue).await;
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default()))
            .with_env(platform.env())
            .with_max_result_bytes(200),
    );
    let finals = platform.wait_finals(2).await;
    worker.shutdown().await.unwrap();

    let doc = finals
        .iter()
        .find(|r| r.job_id() == "big")
        .unwrap()
        .error_doc();
    assert_eq!(doc["error_type"], "OutputTooLarge");
    assert!(
        doc["error_message"].as_str().unwrap().contains("513 bytes"),
        "{doc}"
    );
    assert_eq!(
        finals
            .iter()
            .find(|r| r.job_id() == "small")
            .unwrap()
            .json(),
        json!({"output": "x"})
    );
}

#[tokio::test]
async fn refresh_worker_sends_stop_pod_and_ends_the_worker() {
    let queue = Queue::new([
        json!({"id": "r1", "input": {"refresh": true, "echo": "ok"}}),
        json!({"id": "r2", "input": {}}),
    ]);
    let platform = queue_platform(&queue).await;
    // No shutdown trigger: run() must return on its own.
    let run = Worker::builder(scripted(Gates::default()))
        .with_env(platform.env())
        .run();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("worker did not stop after refresh")
        .unwrap();

    let finals = platform.finals();
    assert_eq!(finals.len(), 1, "the second job must not be taken");
    assert_eq!(finals[0].json(), json!({"output": "ok", "stopPod": true}));
}
