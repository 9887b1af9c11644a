//! Pod creation across GPU types, and a create that fails after it may have happened.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use httpmock::{HttpMockResponse, MockServer};
use runpod_admin::errors::is_insufficient_balance;
use runpod_admin::rest::CreateGpuConfig;
use serde_json::{Value, json};

use crate::support::{Recorder, SECOND, client, fixture, problem};

fn pod(id: &str, name: &str) -> Value {
    let mut pod = fixture("getPod");
    pod["id"] = json!(id);
    pod["name"] = json!(name);
    pod
}

/// `GET /v2/pods` answers `first` on its first call and `later` after that.
async fn pod_list(server: &MockServer, first: Vec<Value>, later: Vec<Value>) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    server
        .mock_async(move |when, then| {
            when.method("GET").path("/v2/pods");
            then.respond_with(move |_| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let pods = if n == 0 { &first } else { &later };
                HttpMockResponse::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(json!({ "pods": pods }).to_string())
                    .build()
            });
        })
        .await;
    calls
}

/// `POST /v2/pods` for GPU type `gpu` answers `status` with `body`.
async fn create_answers(
    server: &MockServer,
    recorder: &Recorder,
    gpu: &str,
    status: u16,
    body: Value,
) {
    let needle = format!("\"id\":\"{gpu}\"");
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path("/v2/pods")
                .is_true(recorder.matcher_if_body_has(needle));
            then.status(status)
                .header("content-type", "application/json")
                .json_body(body);
        })
        .await;
}

/// `POST /v2/pods` answers `first` (a JSON body) on its first call, then creates pod `new1`.
async fn creates_answer_in_turn(server: &MockServer, recorder: &Recorder, first: HttpMockResponse) {
    let calls = AtomicUsize::new(0);
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path("/v2/pods")
                .is_true(recorder.matcher());
            then.respond_with(move |_| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    first.clone()
                } else {
                    HttpMockResponse::builder()
                        .status(201)
                        .header("content-type", "application/json")
                        .body(pod("new1", "trainer").to_string())
                        .build()
                }
            });
        })
        .await;
}

fn sent_gpus(recorder: &Recorder) -> Vec<String> {
    recorder
        .take()
        .into_iter()
        .map(|r| r.body.unwrap()["gpu"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn falls_back_to_the_next_gpu_type_on_400_and_403() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    let lists = pod_list(&server, vec![], vec![]).await;
    let no_capacity = problem(
        400,
        "Bad Request",
        "There are no longer any instances available with the requested specifications.",
    );
    create_answers(&server, &recorder, "GPU A", 400, no_capacity).await;
    create_answers(
        &server,
        &recorder,
        "GPU B",
        403,
        problem(403, "Forbidden", "access denied"),
    )
    .await;
    create_answers(&server, &recorder, "GPU C", 201, pod("new1", "trainer")).await;

    let created = client(&server)
        .pods()
        .create("trainer")
        .image("img")
        .gpu(CreateGpuConfig {
            id: "ignored".into(),
            count: Some(2),
            ..Default::default()
        })
        .gpu_fallback(["GPU A", "GPU B", "GPU C", "GPU D"])
        .send()
        .await
        .unwrap();

    assert_eq!(sent_gpus(&recorder), ["GPU A", "GPU B", "GPU C"]);
    assert_eq!(created.pod.id, "new1");
    assert_eq!(created.gpu_type_id.as_deref(), Some("GPU C"));
    assert!(!created.recovered);
    let skipped: Vec<(&str, Option<u16>, bool)> = created
        .skipped
        .iter()
        .map(|s| (s.gpu_type_id.as_str(), s.status, s.no_capacity))
        .collect();
    assert_eq!(
        skipped,
        [("GPU A", Some(400), true), ("GPU B", Some(403), false)]
    );
    // One listing up front; no lookup was needed.
    assert_eq!(lists.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_gpu_count_and_cuda_constraints_are_kept_per_candidate() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    pod_list(&server, vec![], vec![]).await;
    create_answers(&server, &recorder, "GPU A", 201, pod("new1", "trainer")).await;
    client(&server)
        .pods()
        .create("trainer")
        .image("img")
        .gpu(CreateGpuConfig {
            id: "x".into(),
            count: Some(4),
            min_cuda_version: Some("12.4".into()),
            ..Default::default()
        })
        .gpu_fallback(["GPU A"])
        .send()
        .await
        .unwrap();
    let body = recorder.take().remove(0).body.unwrap();
    assert_eq!(
        body["gpu"],
        json!({"id": "GPU A", "count": 4, "minCudaVersion": "12.4"})
    );
}

#[tokio::test]
async fn insufficient_balance_stops_at_once() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    pod_list(&server, vec![], vec![]).await;
    create_answers(
        &server,
        &recorder,
        "GPU A",
        402,
        problem(402, "Payment Required", "insufficient balance"),
    )
    .await;
    create_answers(&server, &recorder, "GPU B", 201, pod("new1", "trainer")).await;

    let err = client(&server)
        .pods()
        .create("trainer")
        .image("img")
        .gpu_fallback(["GPU A", "GPU B"])
        .send()
        .await
        .unwrap_err();
    assert!(is_insufficient_balance(&err));
    assert_eq!(sent_gpus(&recorder), ["GPU A"]);
}

#[tokio::test]
async fn when_every_candidate_says_400_the_last_detail_is_returned() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    pod_list(&server, vec![], vec![]).await;
    create_answers(
        &server,
        &recorder,
        "GPU A",
        400,
        problem(400, "Bad Request", "rule broken (A)"),
    )
    .await;
    create_answers(
        &server,
        &recorder,
        "GPU B",
        400,
        problem(400, "Bad Request", "rule broken (B)"),
    )
    .await;
    let err = client(&server)
        .pods()
        .create("trainer")
        .image("img")
        .gpu_fallback(["GPU A", "GPU B"])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.api_error().unwrap().detail.as_deref(),
        Some("rule broken (B)")
    );
    assert_eq!(sent_gpus(&recorder), ["GPU A", "GPU B"]);
}

#[tokio::test]
async fn a_5xx_after_create_finds_the_pod_instead_of_creating_another() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    // An older pod of the same name exists before; after the failed create a new one appears.
    let lists = pod_list(
        &server,
        vec![pod("old1", "trainer"), pod("other", "something-else")],
        vec![
            pod("old1", "trainer"),
            pod("other", "something-else"),
            pod("new1", "trainer"),
        ],
    )
    .await;
    create_answers(
        &server,
        &recorder,
        "GPU A",
        500,
        problem(500, "Internal Server Error", "upstream timeout"),
    )
    .await;

    let created = client(&server)
        .pods()
        .create("trainer")
        .image("img")
        .gpu_fallback(["GPU A", "GPU B"])
        .retry_delay(Duration::from_millis(5))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.pod.id, "new1",
        "the older pod of the same name is not mistaken for it"
    );
    assert!(created.recovered);
    assert_eq!(created.gpu_type_id.as_deref(), Some("GPU A"));
    assert_eq!(sent_gpus(&recorder), ["GPU A"], "created exactly once");
    assert_eq!(lists.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_5xx_with_no_pod_behind_it_retries_the_same_candidate() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    pod_list(&server, vec![], vec![]).await;
    let unavailable = HttpMockResponse::builder()
        .status(503)
        .header("content-type", "application/json")
        .body(problem(503, "Service Unavailable", "try again").to_string())
        .build();
    creates_answer_in_turn(&server, &recorder, unavailable).await;
    let created = client(&server)
        .pods()
        .create("trainer")
        .image("img")
        .gpu_fallback(["GPU A", "GPU B"])
        .retry_delay(Duration::from_millis(5))
        .send()
        .await
        .unwrap();
    assert_eq!(created.pod.id, "new1");
    assert!(!created.recovered);
    assert_eq!(sent_gpus(&recorder), ["GPU A", "GPU A"]);
}

#[tokio::test]
async fn transient_failures_are_retried_a_bounded_number_of_times() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    let lists = pod_list(&server, vec![], vec![]).await;
    create_answers(
        &server,
        &recorder,
        "GPU A",
        500,
        problem(500, "Internal Server Error", "boom"),
    )
    .await;
    let err = client(&server)
        .pods()
        .create("trainer")
        .image("img")
        .gpu_fallback(["GPU A", "GPU B"])
        .retries_per_candidate(2)
        .retry_delay(Duration::from_millis(2))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(sent_gpus(&recorder), ["GPU A", "GPU A", "GPU A"]);
    // Up front, after each of the two retried failures, and once more before giving up.
    assert_eq!(lists.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn rate_limits_are_waited_out_with_retry_after() {
    let server = MockServer::start_async().await;
    let recorder = Recorder::default();
    pod_list(&server, vec![], vec![]).await;
    let limited = HttpMockResponse::builder()
        .status(429)
        .header("Retry-After", "1")
        .header("content-type", "application/json")
        .body(problem(429, "Too Many Requests", "slow down").to_string())
        .build();
    creates_answer_in_turn(&server, &recorder, limited).await;
    let start = tokio::time::Instant::now();
    let created = client(&server)
        .pods()
        .create("trainer")
        .image("img")
        .safely()
        .send()
        .await
        .unwrap();
    assert_eq!(created.pod.id, "new1");
    assert!(start.elapsed() >= SECOND, "waited {:?}", start.elapsed());
    assert_eq!(recorder.take().len(), 2);
}
