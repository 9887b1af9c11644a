//! HTTP/2 against runpod-local (prior knowledge on plain HTTP): every kind of request works on
//! it, and requests past a server's stream cap open another connection instead of waiting
//! behind the long polls that hold the streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use runpod_serverless::{Config, HttpVersion, PollPolicy, ServerlessClient};
use serde_json::{Value, json};

const KEY: &str = "h2-key";

fn client(server: &runpod_local::RunningServer, streams: u32) -> ServerlessClient {
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(server.serverless_base_url())
        .with_http_version(HttpVersion::Http2)
        .with_streams_per_connection(streams)
        .build()
        .unwrap();
    ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(PollPolicy::default())
        .build()
        .unwrap()
}

/// Jobs in the handler at once: now and the most seen.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// A server whose handler holds each job until `together` are in it at once (or `patience`
/// passes), over connections of at most `streams` requests.
async fn server(
    together: usize,
    patience: Duration,
    streams: u32,
    seen: Arc<Concurrency>,
) -> runpod_local::RunningServer {
    let all_in = Arc::new(tokio::sync::Notify::new());
    runpod_local::Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_secs(10))
        .limits(runpod_local::Limits::default().streams_per_connection(streams))
        .inline_handler(move |input: Value| {
            let (seen, all_in) = (Arc::clone(&seen), Arc::clone(&all_in));
            async move {
                let now = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
                seen.peak.fetch_max(now, Ordering::SeqCst);
                let waiting = all_in.notified();
                if now >= together {
                    all_in.notify_waiters();
                } else {
                    let _ = tokio::time::timeout(patience, waiting).await;
                }
                seen.now.fetch_sub(1, Ordering::SeqCst);
                Ok(json!({ "echo": input }))
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// `jobs` jobs `{"i": i}` through `run_sync`, all at once: their outputs, in order.
async fn run_sync_at_once(endpoint: &runpod_serverless::Endpoint, jobs: usize) -> Vec<Value> {
    let jobs = (0..jobs).map(|i| {
        let endpoint = endpoint.clone();
        tokio::spawn(async move { endpoint.run_sync(json!({ "i": i })).await })
    });
    let joined = futures_util::future::join_all(jobs).await;
    joined
        .into_iter()
        .map(|job| job.unwrap().unwrap())
        .collect()
}

#[tokio::test]
async fn every_kind_of_request_works_over_http2() {
    let seen = Arc::new(Concurrency::default());
    let server = server(1, Duration::ZERO, 256, seen).await;
    let endpoint = client(&server, 100).endpoint("ep-h2");

    let out: Value = endpoint.run_sync(json!({"n": 1})).await.unwrap();
    assert_eq!(out, json!({"echo": {"n": 1}}));
    let job = endpoint.run(json!({"n": 2})).await.unwrap();
    let out: Value = job.clone().await.unwrap();
    assert_eq!(out, json!({"echo": {"n": 2}}));
    assert!(job.status().await.unwrap().state().is_terminal());
    // A stream read over HTTP/2 ends with the job.
    let chunks: Vec<_> = job.chunks().collect().await;
    assert!(chunks.iter().all(Result::is_ok), "{chunks:?}");
    let health = endpoint.health().await.unwrap();
    assert_eq!(health.jobs.and_then(|jobs| jobs.completed), Some(2));
}

#[tokio::test]
async fn long_polls_past_the_servers_stream_cap_take_another_connection() {
    // Eight jobs held by run_sync at once on a server allowing two streams per connection:
    // only with four connections can all eight reach the handler together.
    let seen = Arc::new(Concurrency::default());
    let server = server(8, Duration::from_secs(10), 2, Arc::clone(&seen)).await;
    let client = client(&server, 2);
    let endpoint = client.endpoint("ep-lanes");
    for (i, out) in run_sync_at_once(&endpoint, 8).await.into_iter().enumerate() {
        assert_eq!(out, json!({"echo": {"i": i}}));
    }
    assert_eq!(seen.peak.load(Ordering::SeqCst), 8);
    assert_eq!(client.http().lanes_opened(), 4);
}

#[tokio::test]
async fn without_lanes_the_stream_cap_holds_requests_back() {
    // Such jobs from a client that assumes 100 streams per connection: the server's cap of two
    // leaves the others waiting in the connection, so no more than two are ever in the handler
    // (which gives up waiting for more after 300 ms). What the lanes are for.
    let seen = Arc::new(Concurrency::default());
    let server = server(4, Duration::from_millis(300), 2, Arc::clone(&seen)).await;
    let client = client(&server, 100);
    let endpoint = client.endpoint("ep-one-lane");
    // One request first, so that the client has the server's settings (its stream cap) before
    // the jobs go out.
    endpoint.health().await.unwrap();
    run_sync_at_once(&endpoint, 4).await;
    assert_eq!(seen.peak.load(Ordering::SeqCst), 2);
    assert_eq!(client.http().lanes_opened(), 1);
}

#[tokio::test]
async fn a_dropped_wait_gives_its_stream_back() {
    // One stream per connection on both sides: the wait's long poll holds lane 0's only
    // stream; once the wait is dropped (the stream reset), the next request takes that lane
    // again instead of opening another, and the server answers it.
    let server = runpod_local::Server::builder()
        .api_key(KEY)
        .hold_time(Duration::from_secs(30))
        .limits(runpod_local::Limits::default().streams_per_connection(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = client(&server, 1);
    let endpoint = client.endpoint("ep-drop");
    // No worker: the job stays queued and its wait holds a long poll.
    let job = endpoint.run(json!({})).await.unwrap();
    let waiting = tokio::spawn({
        let job = job.clone();
        async move { job.wait().await }
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        while client.http().lanes_in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the long poll never went out");
    waiting.abort();
    let _ = waiting.await;
    assert_eq!(client.http().lanes_in_flight(), 0);
    assert!(!job.status().await.unwrap().state().is_terminal());
    assert_eq!(client.http().lanes_opened(), 1);
}

#[tokio::test]
async fn posts_past_a_stream_cap_of_one_each_create_their_job_once() {
    // Eight /run at once on a new connection, from a client assuming 100 streams, to a server
    // allowing one. Requests sent before the server's settings arrive are refused unprocessed
    // (REFUSED_STREAM), which reqwest sends again by itself (safe, RFC 9113 §8.7); the others
    // wait for the stream. Either way every job is created, and created once.
    let server = runpod_local::Server::builder()
        .api_key(KEY)
        .limits(runpod_local::Limits::default().streams_per_connection(1))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = client(&server, 100);
    let endpoint = client.endpoint("ep-refused");
    let runs = (0..8).map(|i| {
        let endpoint = endpoint.clone();
        tokio::spawn(async move { endpoint.run(json!({ "i": i })).await })
    });
    for run in futures_util::future::join_all(runs).await {
        if let Err(e) = run.unwrap() {
            panic!("{}", runpod_serverless::Report(&e));
        }
    }
    let health = endpoint.health().await.unwrap();
    assert_eq!(health.jobs.and_then(|jobs| jobs.in_queue), Some(8));
}
