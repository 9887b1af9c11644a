//! Ids in the worker's URLs: a job id or worker id goes into the path as exactly one segment
//! (asserted on the URL the platform receives); ids no encoding makes one segment are refused.

use std::time::Duration;

use runpod_serverless::worker::{Worker, WorkerEnv};
use serde_json::json;

use super::platform::{Gates, Platform, Queue, Running, queue_platform, scripted};

#[tokio::test]
async fn job_ids_are_one_segment_and_dot_ids_are_never_posted() {
    let queue = Queue::new([
        json!({"id": "..", "input": {"echo": 1}}),
        json!({"id": "%2E%2e", "input": {"echo": 2}}),
        json!({"id": "a/b ..", "input": {"echo": 3}}),
    ]);
    let platform = queue_platform(&queue).await;
    let worker =
        Running::spawn(Worker::builder(scripted(Gates::default())).with_env(platform.env()));
    let finals = platform.wait_finals(1).await;
    // Time for the refused jobs to be (wrongly) posted, had they run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.shutdown().await.unwrap();

    assert_eq!(
        finals[0].uri,
        "/v2/ep/job-done/w1/a%2Fb%20..?gpu=TEST&isStream=false"
    );
    let posts: Vec<_> = platform
        .matching(|r| r.method == "POST")
        .into_iter()
        .map(|r| r.uri)
        .collect();
    assert_eq!(posts, [finals[0].uri.clone()]);
}

#[tokio::test]
async fn a_dot_worker_id_stops_the_worker_before_any_request() {
    let platform = Platform::start(|_| super::platform::Reply::status(204)).await;
    for bad in ["..", "%2E"] {
        let mut vars = platform.env_vars();
        for (k, v) in &mut vars {
            if k == "RUNPOD_POD_ID" {
                *v = bad.to_owned();
            }
        }
        let err = Worker::builder(scripted(Gates::default()))
            .with_env(WorkerEnv::from_vars(vars))
            .run()
            .await
            .unwrap_err();
        assert!(err.is_invalid_input(), "{bad:?}: {err}");
    }
    assert!(platform.requests().is_empty(), "{:#?}", platform.requests());
}

#[tokio::test]
async fn a_worker_id_is_one_segment_in_every_url() {
    let queue = Queue::new([json!({"id": "j1", "input": {"echo": 1}})]);
    let platform = queue_platform(&queue).await;
    let mut vars = platform.env_vars();
    for (k, v) in &mut vars {
        if k == "RUNPOD_POD_ID" {
            *v = "w/1".to_owned();
        }
    }
    let worker = Running::spawn(
        Worker::builder(scripted(Gates::default())).with_env(WorkerEnv::from_vars(vars)),
    );
    let finals = platform.wait_finals(1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(
        finals[0].uri,
        "/v2/ep/job-done/w%2F1/j1?gpu=TEST&isStream=false"
    );
    let take = &platform.matching(|r| r.is("job-take"))[0];
    assert_eq!(take.uri, "/v2/ep/job-take/w%2F1?gpu=TEST&job_in_progress=0");
}
