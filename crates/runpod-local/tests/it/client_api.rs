//! Client routes: run, runsync, status(-sync), cancel, retry, purge-queue, health, bad input.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{EP, Harness};

fn assert_runpod_id(id: &str, prefix: &str) {
    let rest = id
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{id} lacks {prefix:?}"));
    let uuid = rest
        .strip_suffix("-u1")
        .unwrap_or_else(|| panic!("{id} lacks -u1"));
    let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    assert!(
        uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "{id}"
    );
}

#[tokio::test]
async fn run_queues_a_job_with_a_runpod_shaped_id() {
    let h = Harness::start().await;
    let id = h.run(json!({"prompt": "hi"})).await;
    assert_runpod_id(&id, "");
    let status = h.job(&id).await;
    assert_eq!(status, json!({"id": id, "status": "IN_QUEUE"}));
    let other = h.run(json!(1)).await;
    assert_ne!(id, other);
}

#[tokio::test]
async fn status_answers_get_and_post_and_404_for_unknown_jobs() {
    let h = Harness::start().await;
    let id = h.run(json!({})).await;
    let (status, body) = h.post_empty(&format!("/v2/{EP}/status/{id}")).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("IN_QUEUE"))
    );

    let (status, body) = h.status("no-such-job").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "job no-such-job not found"}));
    let (status, _) = h.get(&format!("/v2/other-endpoint/status/{id}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "jobs belong to their endpoint"
    );
}

#[tokio::test]
async fn runsync_returns_the_result_once_a_worker_finishes() {
    let h = Harness::start().await;
    let worker = async {
        let job = loop {
            if let Some(job) = h.take("w1").await {
                break job;
            }
        };
        let (status, _) = h
            .done(
                "w1",
                job["id"].as_str().unwrap(),
                json!({"output": {"echo": job["input"]}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    };
    let client = h.post(&format!("/v2/{EP}/runsync"), json!({"input": {"n": 7}}));
    let ((status, body), ()) = tokio::join!(client, worker);
    assert_eq!(status, StatusCode::OK);
    assert_runpod_id(body["id"].as_str().unwrap(), "sync-");
    assert_eq!(body["status"], "COMPLETED");
    assert_eq!(body["output"], json!({"echo": {"n": 7}}));
    assert_eq!(body["workerId"], "w1");
}

#[tokio::test(start_paused = true)]
async fn runsync_answers_the_current_state_when_wait_runs_out() {
    let h = Harness::start().await;
    let started = Instant::now();
    let (status, body) = h
        .post(&format!("/v2/{EP}/runsync?wait=2500"), json!({"input": 1}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "IN_QUEUE");
    assert_eq!(started.elapsed().as_millis(), 2500);

    // Below the 1 s minimum: clamped up.
    let started = Instant::now();
    let (_, body) = h
        .post(&format!("/v2/{EP}/runsync?wait=10"), json!({"input": 1}))
        .await;
    assert_eq!(body["status"], "IN_QUEUE");
    assert_eq!(started.elapsed().as_millis(), 1000);

    // Above the 300 s maximum: clamped down. Default: 90 s.
    let started = Instant::now();
    h.post(
        &format!("/v2/{EP}/runsync?wait=999999"),
        json!({"input": 1}),
    )
    .await;
    assert_eq!(started.elapsed().as_secs(), 300);
    let started = Instant::now();
    h.post(&format!("/v2/{EP}/runsync"), json!({"input": 1}))
        .await;
    assert_eq!(started.elapsed().as_secs(), 90);

    let (status, body) = h
        .post(&format!("/v2/{EP}/runsync?wait=soon"), json!({"input": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("wait"), "{body}");
}

#[tokio::test(start_paused = true)]
async fn status_sync_waits_for_the_end_or_the_wait() {
    let h = Harness::start().await;
    let id = h.run(json!({})).await;
    let started = Instant::now();
    let (status, body) = h.get(&format!("/v2/{EP}/status-sync/{id}?wait=1500")).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("IN_QUEUE"))
    );
    assert_eq!(started.elapsed().as_millis(), 1500);

    h.take_expect("w", &id).await;
    let started = Instant::now();
    let finish = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        h.done("w", &id, json!({"output": "ok"})).await
    };
    let wait = h.send(
        h.http
            .post(h.url(&format!("/v2/{EP}/status-sync/{id}?wait=60000"))),
    );
    let ((status, body), _) = tokio::join!(wait, finish);
    assert_eq!(
        (status, body["output"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    assert_eq!(
        started.elapsed().as_secs(),
        2,
        "answered as soon as the job ended"
    );

    let (status, _) = h.get(&format!("/v2/{EP}/status-sync/unknown")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancel_ends_a_queued_job_and_leaves_finished_ones_alone() {
    let h = Harness::start().await;
    let id = h.run(json!({})).await;
    let (status, body) = h.post_empty(&format!("/v2/{EP}/cancel/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"id": id, "status": "CANCELLED"}));
    assert!(
        h.take("w").await.is_none(),
        "a cancelled job is never handed out"
    );

    let done = h.run(json!({})).await;
    h.take_expect("w", &done).await;
    h.done("w", &done, json!({"output": 1})).await;
    let (status, body) = h.post(&format!("/v2/{EP}/cancel/{done}"), json!({})).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("COMPLETED"))
    );

    let (status, _) = h.post_empty(&format!("/v2/{EP}/cancel/unknown")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn retry_requeues_only_failed_or_timed_out_jobs_under_the_same_id() {
    let h = Harness::with(
        runpod_local::Server::builder()
            .hold_time(Duration::from_millis(500))
            .default_execution_timeout(Duration::from_secs(5)),
    )
    .await;
    let failed = h.run(json!({"try": 1})).await;
    h.take_expect("w", &failed).await;
    h.done(
        "w",
        &failed,
        json!({"output": {"partial": true}, "error": "boom"}),
    )
    .await;
    assert_eq!(h.job(&failed).await["status"], "FAILED");

    let (status, body) = h.post_empty(&format!("/v2/{EP}/retry/{failed}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"id": failed, "status": "IN_QUEUE", "retries": 1})
    );
    let again = h.take_expect("w", &failed).await;
    assert_eq!(again["input"], json!({"try": 1}));
    h.done("w", &failed, json!({"output": "second time"})).await;
    let body = h.job(&failed).await;
    assert_eq!(body["status"], "COMPLETED");
    assert_eq!(body["output"], "second time");
    assert_eq!(body["retries"], 1);
    assert!(
        body.get("error").is_none(),
        "the old error is cleared: {body}"
    );

    let (status, body) = h.post_empty(&format!("/v2/{EP}/retry/{failed}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        format!("job {failed} is COMPLETED; only FAILED or TIMED_OUT jobs can be retried")
    );

    let queued = h.run(json!({})).await;
    let (status, _) = h.post_empty(&format!("/v2/{EP}/retry/{queued}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let timed_out = queued;
    h.take_expect("w", &timed_out).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(h.job(&timed_out).await["status"], "TIMED_OUT");
    let (status, body) = h.post_empty(&format!("/v2/{EP}/retry/{timed_out}")).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("IN_QUEUE"))
    );

    let (status, _) = h.post_empty(&format!("/v2/{EP}/retry/unknown")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn purge_queue_removes_only_queued_jobs() {
    let h = Harness::start().await;
    let running = h.run(json!("a")).await;
    h.take_expect("w", &running).await;
    let finished = h.run(json!("b")).await;
    h.take_expect("w", &finished).await;
    h.done("w", &finished, json!({"output": 1})).await;
    let queued = [h.run(json!("c")).await, h.run(json!("d")).await];

    let (status, body) = h.post_empty(&format!("/v2/{EP}/purge-queue")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"removed": 2, "status": "completed"}));
    for id in &queued {
        assert_eq!(h.status(id).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(h.job(&running).await["status"], "IN_PROGRESS");
    assert_eq!(h.job(&finished).await["status"], "COMPLETED");
    assert!(h.take("w2").await.is_none());

    let (_, body) = h.post(&format!("/v2/{EP}/purge-queue"), json!({})).await;
    assert_eq!(body["removed"], 0);
}

#[tokio::test]
async fn health_counts_jobs_by_state_and_workers_by_activity() {
    let h = Harness::start().await;
    let empty = h.health().await;
    assert_eq!(
        empty,
        json!({
            "jobs": {"completed": 0, "failed": 0, "inProgress": 0, "inQueue": 0, "retried": 0},
            "workers": {"idle": 0, "running": 0}
        })
    );
    let ok = h.run(json!(1)).await;
    let bad = h.run(json!(2)).await;
    let busy = h.run(json!(3)).await;
    h.run(json!(4)).await;
    h.take_expect("w1", &ok).await;
    h.done("w1", &ok, json!({"output": 1})).await;
    h.take_expect("w1", &bad).await;
    h.done("w1", &bad, json!({"error": "nope"})).await;
    h.take_expect("w2", &busy).await;
    h.ping("w3", &[]).await;

    let health = h.health().await;
    assert_eq!(
        health,
        json!({
            "jobs": {"completed": 1, "failed": 1, "inProgress": 1, "inQueue": 1, "retried": 0},
            "workers": {"idle": 2, "running": 1}
        })
    );
    let (_, other) = h.get("/v2/another/health").await;
    assert_eq!(other, empty, "each endpoint id has its own queue");
}

#[tokio::test]
async fn endpoints_are_separate_queues() {
    let h = Harness::start().await;
    let (_, a) = h.post("/v2/alpha/run", json!({"input": "a"})).await;
    let (_, b) = h.post("/v2/beta/run", json!({"input": "b"})).await;
    let (_, taken) = h.get("/v2/beta/job-take/w?gpu=x").await;
    assert_eq!(taken["id"], b["id"]);
    let (_, taken) = h.get("/v2/alpha/job-take/w?gpu=x").await;
    assert_eq!(taken["id"], a["id"]);
}

#[tokio::test]
async fn malformed_requests_are_refused_without_disturbing_the_queue() {
    let h = Harness::start().await;
    let kept = h.run(json!({"keep": true})).await;
    let run = h.url(&format!("/v2/{EP}/run"));
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (h.http.post(&run).body("{not json"), "not valid JSON"),
        (h.http.post(&run), "empty"),
        (h.http.post(&run).body("[1, 2]"), "JSON object"),
        (
            h.http.post(&run).json(&json!({"inputs": 1})),
            "missing field `input`",
        ),
        (
            h.http.post(&run).json(&json!({"input": 1, "webhook": 5})),
            "invalid job request",
        ),
        (
            h.http
                .post(&run)
                .json(&json!({"input": 1, "policy": {"executionTimeout": 0}})),
            "executionTimeout",
        ),
        (
            h.http
                .post(&run)
                .json(&json!({"input": 1, "policy": {"ttl": -5}})),
            "ttl",
        ),
    ];
    for (request, needle) in cases {
        let (status, body) = h.send(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{needle}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(needle), "{needle}: {error}");
    }
    assert_eq!(h.health().await["jobs"]["inQueue"], 1);
    h.take_expect("w", &kept).await;
}

#[tokio::test]
async fn payloads_over_the_limits_get_413() {
    let h = Harness::start().await;
    let padding = |mib: usize| "x".repeat(mib * 1024 * 1024);
    let over_run = json!({"input": padding(10)});
    let (status, body) = h.post(&format!("/v2/{EP}/run"), over_run.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["error"].as_str().unwrap().contains("10 MB"), "{body}");
    // The same body is within /runsync's 20 MB.
    let (status, body) = h
        .post(&format!("/v2/{EP}/runsync?wait=1000"), over_run)
        .await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("IN_QUEUE"))
    );
    let (status, _) = h
        .post(&format!("/v2/{EP}/runsync"), json!({"input": padding(20)}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        h.health().await["jobs"]["inQueue"],
        1,
        "only the accepted job is queued"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let h = Harness::start().await;
    let (status, body) = h.get("/v1/whatever").await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"error": "no such route"}))
    );
    let (status, body) = h
        .send(h.http.delete(h.url(&format!("/v2/{EP}/health"))))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn job_shapes_match_the_snapshots() {
    let h = Harness::start().await;
    let id = h
        .run_request(json!({
            "input": {"prompt": "hello"},
            "webhook": "http://127.0.0.1:9/hook",
            "policy": {"executionTimeout": 60000, "ttl": 3600000, "lowPriority": false},
            "s3Config": {"accessId": "a", "accessSecret": "s", "bucketName": "b", "endpointUrl": "http://127.0.0.1:9"}
        }))
        .await;
    let job = h.take("worker-1").await.unwrap();
    insta::assert_json_snapshot!("worker_job", job, {".id" => "[job id]"});
    h.done(
        "worker-1",
        &id,
        json!({"output": {"text": "hi", "n": [1, 2]}}),
    )
    .await;
    let status: Value = h.job(&id).await;
    insta::assert_json_snapshot!("completed_status", status, {
        ".id" => "[job id]",
        ".delayTime" => "[ms]",
        ".executionTime" => "[ms]",
    });
}
