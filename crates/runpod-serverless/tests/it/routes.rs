//! Every route: method, path, headers and body as the server sees them.

use std::time::Duration;

use httpmock::MockServer;
use runpod_serverless::{ExecutionPolicy, JobStatus, S3Config};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::support::{EP, Recorder, assert_client_headers, client, config, job, path};

#[tokio::test]
async fn run_wraps_the_input_and_sends_every_option() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    let mock = server
        .mock_async(|when, then| {
            when.method("POST")
                .path(path("run"))
                .is_true(rec.matcher("POST", path("run")));
            then.status(200).json_body(job("job-1", "IN_QUEUE"));
        })
        .await;

    let handle = client(&server)
        .endpoint(EP)
        .run(json!({"prompt": "a cat", "steps": 30}))
        .webhook("https://example.com/hook")
        .execution_timeout(Duration::from_secs(120))
        .ttl(Duration::from_secs(3600))
        .low_priority(true)
        .s3_config(S3Config {
            access_id: Some("AKIA".into()),
            access_secret: Some("secret".into()),
            bucket_name: Some("bucket".into()),
            endpoint_url: Some("https://s3.example.com".into()),
            object_path: None,
        })
        .send()
        .await
        .unwrap();

    assert_eq!(handle.id(), "job-1");
    assert_eq!(handle.endpoint_id(), EP);
    mock.assert_calls_async(1).await;
    let seen = rec.only();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.uri, path("run"));
    assert_client_headers(&seen, &config(&server));
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    insta::assert_json_snapshot!(seen.json());
}

#[tokio::test]
async fn run_never_guesses_the_envelope_from_the_input() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path(path("run"))
                .is_true(rec.matcher("POST", path("run")));
            then.status(200).json_body(job("job-1", "IN_QUEUE"));
        })
        .await;
    let endpoint = client(&server).endpoint(EP);

    // An input that has its own `input` key, falsy inputs, and a typed input; awaiting the
    // builder sends it (IntoFuture).
    #[derive(Serialize)]
    struct Typed {
        prompt: &'static str,
        seed: Option<u64>,
    }
    endpoint.run(json!({"input": {}})).await.unwrap();
    endpoint.run(json!({})).await.unwrap();
    endpoint.run(0).await.unwrap();
    endpoint.run("").await.unwrap();
    endpoint.run(()).await.unwrap();
    endpoint
        .run(Typed {
            prompt: "x",
            seed: None,
        })
        .await
        .unwrap();

    let bodies: Vec<_> = rec.all().iter().map(|s| s.json()).collect();
    insta::assert_json_snapshot!(bodies);
}

#[tokio::test]
async fn run_sync_holds_with_wait_and_returns_the_output() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    let mock = server
        .mock_async(|when, then| {
            when.method("POST")
                .path(path("runsync"))
                .query_param("wait", "5000")
                .is_true(rec.matcher("POST", path("runsync")));
            then.status(200).json_body(json!({
                "id": "sync-1", "status": "COMPLETED", "delayTime": 12, "executionTime": 340,
                "output": {"images": ["a.png", "b.png"]}, "workerId": "w-1"
            }));
        })
        .await;
    let endpoint = client(&server).endpoint(EP);

    #[derive(Deserialize, Debug, PartialEq)]
    struct Images {
        images: Vec<String>,
    }
    let typed: Images = endpoint
        .run_sync(json!({"prompt": "x"}))
        .hold(Duration::from_secs(5))
        .output()
        .await
        .unwrap();
    assert_eq!(
        typed,
        Images {
            images: vec!["a.png".into(), "b.png".into()]
        }
    );

    let value = endpoint
        .run_sync(json!({"prompt": "x"}))
        .hold(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(value, json!({"images": ["a.png", "b.png"]}));

    let state = endpoint
        .run_sync(json!({"prompt": "x"}))
        .hold(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (state.id.as_str(), state.delay_time, state.execution_time),
        ("sync-1", Some(12), Some(340))
    );
    assert_eq!(state.worker_id.as_deref(), Some("w-1"));

    mock.assert_calls_async(3).await;
    let seen = rec.all();
    assert_eq!(seen[0].uri, format!("{}?wait=5000", path("runsync")));
    assert_client_headers(&seen[0], &config(&server));
    insta::assert_json_snapshot!(seen[0].json(), @r#"
    {
      "input": {
        "prompt": "x"
      }
    }
    "#);
}

#[tokio::test]
async fn run_sync_wait_is_clamped_to_the_documented_range() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path(path("runsync"))
                .is_true(rec.matcher("POST", path("runsync")));
            then.status(200)
                .json_body(json!({"id": "s", "status": "COMPLETED", "output": 1}));
        })
        .await;
    let endpoint = client(&server).endpoint(EP);
    endpoint
        .run_sync(1)
        .hold(Duration::from_millis(10))
        .await
        .unwrap();
    endpoint
        .run_sync(1)
        .hold(Duration::from_secs(3600))
        .await
        .unwrap();
    endpoint.run_sync(1).await.unwrap();
    let uris: Vec<_> = rec.all().into_iter().map(|s| s.uri).collect();
    assert_eq!(
        uris,
        ["wait=1000", "wait=300000", "wait=90000"].map(|q| format!("{}?{q}", path("runsync")))
    );
}

#[tokio::test]
async fn job_routes_use_the_documented_methods_and_paths() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    let routes = [
        (
            "GET",
            "status/job-7",
            json!({"id": "job-7", "status": "IN_PROGRESS", "delayTime": 5}),
        ),
        ("POST", "cancel/job-7", job("job-7", "CANCELLED")),
        ("POST", "retry/job-7", job("job-7", "IN_QUEUE")),
        (
            "GET",
            "stream/job-7",
            json!({"status": "COMPLETED", "stream": []}),
        ),
        (
            "GET",
            "health",
            json!({
                "jobs": {"completed": 1, "failed": 5, "inProgress": 0, "inQueue": 2, "retried": 0},
                "workers": {"idle": 0, "running": 1},
            }),
        ),
        (
            "POST",
            "purge-queue",
            json!({"removed": 2, "status": "completed"}),
        ),
    ];
    for (method, route, body) in &routes {
        let p = path(route);
        server
            .mock_async(|when, then| {
                when.method(*method)
                    .path(p.clone())
                    .is_true(rec.matcher(method, p.clone()));
                then.status(200).json_body(body.clone());
            })
            .await;
    }
    let endpoint = client(&server).endpoint(EP);
    let job = endpoint.job("job-7");

    let status = job.status().await.unwrap();
    assert_eq!(
        (status.status, status.delay_time),
        (Some(JobStatus::InProgress), Some(5))
    );
    assert_eq!(
        job.cancel().await.unwrap().status,
        Some(JobStatus::Cancelled)
    );
    assert_eq!(job.retry().await.unwrap().status, Some(JobStatus::InQueue));
    let chunks: Vec<_> = futures_util::StreamExt::collect::<Vec<_>>(job.chunks()).await;
    assert!(chunks.is_empty());
    let health = endpoint.health().await.unwrap();
    let jobs = health.jobs.unwrap();
    assert_eq!((jobs.failed, jobs.in_queue), (Some(5), Some(2)));
    assert_eq!(health.workers.unwrap().running, Some(1));
    assert_eq!(endpoint.purge_queue().await.unwrap().removed, Some(2));

    let seen = rec.all();
    let lines: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.uri))
        .collect();
    let expected: Vec<String> = routes
        .iter()
        .map(|(m, r, _)| match *r {
            // Streams long-poll by default (see `long_poll`).
            "stream/job-7" => format!("{m} {}?wait=30000", path(r)),
            _ => format!("{m} {}", path(r)),
        })
        .collect();
    assert_eq!(lines, expected);
    for s in &seen {
        assert_client_headers(s, &config(&server));
        // cancel, retry and purge-queue carry no body, like the official SDK.
        assert!(s.body.is_empty(), "{} {} sent a body", s.method, s.uri);
    }
}

#[tokio::test]
async fn ids_are_escaped_into_one_path_segment() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    let p = "/v2/ep%2F1/status/a%2Fb%3Fc".to_owned();
    server
        .mock_async(|when, then| {
            when.method("GET").is_true(rec.matcher("GET", p.clone()));
            then.status(200).json_body(job("a/b?c", "IN_QUEUE"));
        })
        .await;
    let state = client(&server)
        .endpoint("ep/1")
        .job("a/b?c")
        .status()
        .await
        .unwrap();
    assert_eq!(state.id, "a/b?c");
    assert_eq!(rec.only().uri, p);
}

#[tokio::test]
async fn a_whole_policy_can_be_given_at_once() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    server
        .mock_async(|when, then| {
            when.method("POST")
                .path(path("run"))
                .is_true(rec.matcher("POST", path("run")));
            then.status(200).json_body(job("job-1", "IN_QUEUE"));
        })
        .await;
    client(&server)
        .endpoint(EP)
        .run(json!({"n": 1}))
        .policy(ExecutionPolicy {
            execution_timeout: Some(5_000),
            ttl: Some(604_800_000),
            low_priority: None,
        })
        .await
        .unwrap();
    insta::assert_json_snapshot!(rec.only().json(), @r#"
    {
      "input": {
        "n": 1
      },
      "policy": {
        "executionTimeout": 5000,
        "ttl": 604800000
      }
    }
    "#);
}
