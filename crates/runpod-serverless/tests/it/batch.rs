//! Batch Jobs: the client against runpod-local (real queue semantics) and httpmock (error paths).

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use httpmock::{Method::POST, MockServer};
use runpod_serverless::{
    BatchRequestStatus, BatchStatus, Config, PollPolicy, RateLimits, ServerlessClient,
};
use serde_json::{Value, json};

use crate::support::{self, EP, path};

const KEY: &str = "local-key";

/// Polls that back off to 50 ms at most, so that batch waits end soon after the batch.
fn quick_polls() -> PollPolicy {
    PollPolicy::builder()
        .with_max_delay(Duration::from_millis(50))
        .build()
        .unwrap()
}

async fn local(
    builder: runpod_local::ServerBuilder,
) -> (runpod_local::RunningServer, runpod_serverless::Endpoint) {
    let server = builder
        .api_key(KEY)
        .hold_time(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(server.serverless_base_url())
        .build()
        .unwrap();
    let client = ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(quick_polls())
        .build()
        .unwrap();
    (server, client.endpoint("batch-ep"))
}

#[tokio::test]
async fn draft_life_cycle_through_the_namespace() {
    let (server, endpoint) = local(runpod_local::Server::builder()).await;
    let batches = endpoint.batch();
    let batch = batches
        .create_with((0..3).map(|i| json!({ "i": i })))
        .await
        .unwrap();
    let added = batch
        .append([json!({"i": 3}), json!({"i": 4})])
        .await
        .unwrap();
    assert_eq!(added.len(), 2);
    let renamed = batch.rename("nightly").await.unwrap();
    assert_eq!(renamed.name.as_deref(), Some("nightly"));
    let after = batch.remove_request(&added[0]).await.unwrap();
    assert_eq!(after.request_total, Some(4));

    let listed: Vec<_> = batch
        .requests()
        .map(|item| item.unwrap())
        .collect::<Vec<_>>()
        .await;
    let inputs: Vec<Value> = listed
        .iter()
        .map(|(_, r)| r.input.clone().unwrap()["i"].clone())
        .collect();
    assert_eq!(inputs, [json!(0), json!(1), json!(2), json!(4)]);
    assert!(
        listed
            .iter()
            .all(|(_, r)| r.status == Some(BatchRequestStatus::Pending))
    );

    let list = batches.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, batch.id());
    assert_eq!(list[0].status, Some(BatchStatus::Draft));

    let cancelled = batch.cancel().await.unwrap();
    assert_eq!(cancelled.status, Some(BatchStatus::Cancelled));
    // wait() returns at once for a closed batch; finalize is refused with the batch id.
    assert_eq!(
        batch.wait().await.unwrap().status,
        Some(BatchStatus::Cancelled)
    );
    let err = batch.finalize().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(409));
    assert_eq!(err.job_id(), Some(batch.id()));
    server.shutdown().await;
}

#[tokio::test]
async fn finalize_wait_and_progress_follow_the_jobs() {
    let (server, endpoint) = local(runpod_local::Server::builder().inline_handler(
        |input: Value| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if input["i"].as_u64().unwrap_or(0).is_multiple_of(5) {
                Err("multiple of five".to_owned())
            } else {
                Ok(input)
            }
        },
    ))
    .await;
    let batch = endpoint
        .batch()
        .create_with((0..40).map(|i| json!({ "i": i })))
        .await
        .unwrap();
    batch.finalize().await.unwrap();
    let progress: Vec<_> = batch
        .progress()
        .map(|s| s.unwrap())
        .collect::<Vec<_>>()
        .await;
    let last = progress.last().unwrap();
    assert!(last.is_done());
    assert_eq!(
        (
            last.request_total,
            last.request_completed,
            last.request_failed
        ),
        (Some(40), Some(32), Some(8))
    );
    // Counts never go backwards.
    for pair in progress.windows(2) {
        let ended =
            |b: &runpod_serverless::Batch| b.request_completed.unwrap() + b.request_failed.unwrap();
        assert!(ended(&pair[0]) <= ended(&pair[1]));
    }
    let waited = batch.wait().await.unwrap();
    assert_eq!(waited.request_completed, Some(32));
    let results: Vec<_> = batch
        .requests()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(results.len(), 40);
    for (position, request) in &results {
        if position.is_multiple_of(5) {
            assert_eq!(request.status, Some(BatchRequestStatus::Failed));
        } else {
            assert_eq!(request.output.as_ref().unwrap()["i"], *position);
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn appends_are_split_by_serialized_size_never_over_the_limit() {
    let server = MockServer::start_async().await;
    let recorder = support::Recorder::default();
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path(path("batch"));
            then.status(200)
                .json_body(json!({"id": "b1", "status": "DRAFT"}));
        })
        .await;
    let append = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(path("batch/b1/requests"))
                .is_true(recorder.matcher("POST", path("batch/b1/requests")));
            then.status(200)
                .json_body(json!({"id": "b1", "status": "DRAFT"}));
        })
        .await;
    let endpoint = support::client(&server).endpoint(EP);
    let limit = 1_000;
    let inputs: Vec<Value> = (0..100)
        .map(|i| json!({"i": i, "pad": "p".repeat(i)}))
        .collect();
    endpoint
        .batch()
        .with_max_append_bytes(limit)
        .create_with(inputs.clone())
        .await
        .unwrap();
    create.assert_async().await;
    assert!(append.calls_async().await > 1);
    let mut seen = Vec::new();
    for request in recorder.all() {
        assert!(request.body.len() <= limit, "{} bytes", request.body.len());
        for item in request.json()["requests"].as_array().unwrap() {
            seen.push(item["input"].clone());
        }
    }
    // The create body took the first inputs; the appends carry the rest, in order.
    let first = inputs.len() - seen.len();
    assert!(first > 0);
    assert_eq!(seen, inputs[first..]);

    // An input too large for any body is refused before anything is sent for it.
    let err = endpoint
        .batch()
        .with_max_append_bytes(limit)
        .get("b1")
        .append([json!("x".repeat(2_000))])
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert_eq!(err.job_id(), Some("b1"));
}

#[tokio::test]
async fn an_append_with_an_unknown_outcome_is_not_resent() {
    let server = MockServer::start_async().await;
    let append = server
        .mock_async(|when, then| {
            when.method(POST).path(path("batch/b1/requests"));
            then.status(503).json_body(json!({"error": "overloaded"}));
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path(path("batch"));
            then.status(502);
        })
        .await;
    let endpoint = support::client(&server).endpoint(EP);
    let err = endpoint.batch().get("b1").append([1, 2]).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(err.job_id(), Some("b1"));
    assert_eq!(append.calls_async().await, 1, "append is not idempotent");
    let err = endpoint.batch().create_with([1]).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
    assert_eq!(create.calls_async().await, 1, "create is not idempotent");
}

#[tokio::test]
async fn finalize_after_an_unknown_outcome_reads_the_batch_instead_of_resending() {
    let server = MockServer::start_async().await;
    let finalize = server
        .mock_async(|when, then| {
            when.method(POST).path(path("batch/b1/finalize"));
            then.status(500);
        })
        .await;
    let summary = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET).path(path("batch/b1"));
            then.status(200)
                .json_body(json!({"id": "b1", "status": "FINALIZED", "requestTotal": 2}));
        })
        .await;
    let endpoint = support::client(&server).endpoint(EP);
    let batch = endpoint.batch().get("b1").finalize().await.unwrap();
    assert_eq!(batch.status, Some(BatchStatus::Finalized));
    assert_eq!(finalize.calls_async().await, 1);
    summary.assert_async().await;
}

#[tokio::test]
async fn unknown_states_and_fields_are_kept() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET).path(path("batch"));
            then.status(200).json_body(json!([
                {"id": "b1", "status": "ARCHIVED", "requestTotal": 1, "priority": 7}
            ]));
        })
        .await;
    let endpoint = support::client(&server).endpoint(EP);
    let list = endpoint.batch().list().await.unwrap();
    assert_eq!(
        list[0].status,
        Some(BatchStatus::Unknown("ARCHIVED".into()))
    );
    assert_eq!(list[0].extra["priority"], 7);
    assert!(!list[0].is_done());
}

#[tokio::test]
async fn wait_rides_out_transient_failures_and_goes_through_the_limiter() {
    let server = MockServer::start_async().await;
    let flaky = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET).path(path("batch/b1"));
            then.status(503);
        })
        .await;
    let endpoint = ServerlessClient::builder()
        .with_config(support::config(&server))
        .with_poll_policy(support::fast_poll().with_max_consecutive_errors(2))
        .with_rate_limits(RateLimits::disabled())
        .build()
        .unwrap()
        .endpoint(EP);
    let err = endpoint.batch().get("b1").wait().await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    // Three polls (the first and two ridden out), each retried by the transport three times.
    assert_eq!(flaky.calls_async().await, 9);
}

#[tokio::test]
async fn run_yields_every_output_once_with_its_index_across_several_batches() {
    let (server, endpoint) = local(runpod_local::Server::builder().echo()).await;
    let n = 5_000 + 1_234;
    let inputs = (0..n).map(|i| json!({ "i": i }));
    let mut run = endpoint.batch().run::<_, Value>(inputs);
    let mut seen = HashSet::new();
    while let Some(item) = run.next().await {
        let item = item.unwrap();
        let output = item.output.unwrap();
        assert_eq!(output["i"], item.index, "output matches its input");
        assert!(seen.insert(item.index), "index {} twice", item.index);
    }
    assert_eq!(seen.len(), n);
    assert_eq!(
        run.batch_ids().len(),
        2,
        "more than 5 000 inputs need two batches"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn run_reports_failed_requests_as_items() {
    let (server, endpoint) = local(runpod_local::Server::builder().inline_handler(
        |input: Value| async move {
            match input.as_u64() {
                Some(3) => Err("three is bad".to_owned()),
                _ => Ok(input),
            }
        },
    ))
    .await;
    let items: Vec<_> = endpoint
        .batch()
        .run::<_, u64>(0..6_u64)
        .map(|item| item.unwrap())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(items.len(), 6);
    for item in items {
        match item.index {
            3 => {
                let err = item.output.unwrap_err();
                assert!(err.is_job_failed(), "{err}");
                assert_eq!(err.job_id(), Some(item.request_id.as_str()));
            }
            i => assert_eq!(item.output.unwrap(), i as u64),
        }
    }
    server.shutdown().await;
}

/// The blocking namespace against runpod-local (served from a runtime of its own), no async
/// in the test.
#[cfg(feature = "blocking")]
#[test]
fn the_blocking_namespace_runs_a_batch_without_async() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(
            runpod_local::Server::builder()
                .echo()
                .api_key(KEY)
                .bind("127.0.0.1:0"),
        )
        .unwrap();
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(server.serverless_base_url())
        .build()
        .unwrap();
    let endpoint = runpod_serverless::blocking::ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(quick_polls())
        .build()
        .unwrap()
        .endpoint("blocking-ep");

    let batch = endpoint.batch().create_with([json!(1), json!(2)]).unwrap();
    assert_eq!(batch.append([json!(3)]).unwrap().len(), 1);
    batch.finalize().unwrap();
    let done = batch.wait().unwrap();
    assert_eq!(done.request_completed, Some(3));
    let outputs: Vec<Value> = batch
        .requests()
        .map(|item| item.unwrap().1.output.unwrap())
        .collect();
    assert_eq!(outputs, [json!(1), json!(2), json!(3)]);
    assert_eq!(endpoint.batch().list().unwrap().len(), 1);

    let mut indexes: Vec<usize> = endpoint
        .batch()
        .run::<_, u64>(0..20_u64)
        .map(|item| {
            let item = item.unwrap();
            assert_eq!(item.output.unwrap(), item.index as u64);
            item.index
        })
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..20).collect::<Vec<_>>());
    rt.block_on(server.shutdown());
}
