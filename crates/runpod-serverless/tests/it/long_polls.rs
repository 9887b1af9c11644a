//! Waits on long polls (`/status-sync/{id}?wait=`): one request per job, re-armed when the
//! server lets one run out or cuts it, dropped with the wait, and replaced by polling on a host
//! without the route.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::MockServer;
use runpod_serverless::{
    Config, JobStatus, PollPolicy, RateLimits, Route, RouteLimit, ServerlessClient, WaitStrategy,
};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::support::{EP, client, client_with, config, fast_poll, job, path, status_answers};

/// `GET /status-sync/{id}` (any `wait`) answering `status` with `body`.
async fn status_sync_answers<'a>(
    server: &'a MockServer,
    id: &str,
    status: u16,
    body: &str,
) -> httpmock::Mock<'a> {
    let p = path(&format!("status-sync/{id}"));
    server
        .mock_async(|when, then| {
            when.method("GET").path(p);
            then.status(status).body(body);
        })
        .await
}

#[tokio::test]
async fn a_wait_is_one_long_poll_whose_answer_is_the_result() {
    let server = MockServer::start_async().await;
    let long_poll = server
        .mock_async(|when, then| {
            when.method("GET")
                .path(path("status-sync/j"))
                .query_param("wait", "90000");
            then.status(200)
                .json_body(json!({"id": "j", "status": "COMPLETED", "output": {"n": 7}}));
        })
        .await;
    let polled = status_answers(&server, "j", job("j", "IN_PROGRESS")).await;

    let output = client(&server).endpoint(EP).job("j").await.unwrap();

    assert_eq!(output, json!({"n": 7}));
    long_poll.assert_calls_async(1).await;
    polled.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_host_without_the_route_falls_back_to_polling_once_per_endpoint() {
    let server = MockServer::start_async().await;
    // A router's 404: no job error body.
    let long_poll = status_sync_answers(&server, "j", 404, "").await;
    let polled = status_answers(&server, "j", job("j", "COMPLETED")).await;
    let endpoint = client(&server).endpoint(EP);

    for _ in 0..3 {
        let done = endpoint.job("j").wait().await.unwrap();
        assert_eq!(done.status, Some(JobStatus::Completed));
    }
    // Only the first wait asked; the endpoint remembers.
    long_poll.assert_calls_async(1).await;
    polled.assert_calls_async(3).await;

    // `LongPoll` does not fall back: the 404 ends the wait.
    let strict = endpoint
        .clone()
        .with_poll_policy(fast_poll().with_wait_strategy(WaitStrategy::LongPoll))
        .job("j")
        .wait()
        .await
        .unwrap_err();
    assert_eq!(strict.status().map(|s| s.as_u16()), Some(404), "{strict:?}");
    assert_eq!(strict.job_id(), Some("j"));
    // A 405 is a missing route too, on a fresh endpoint.
    long_poll.delete_async().await;
    let refused = status_sync_answers(&server, "j", 405, "").await;
    client(&server).endpoint(EP).job("j").wait().await.unwrap();
    refused.assert_calls_async(1).await;
    polled.assert_calls_async(4).await;
}

#[tokio::test]
async fn an_unknown_job_is_not_taken_for_a_missing_route() {
    let server = MockServer::start_async().await;
    let long_poll = status_sync_answers(
        &server,
        "gone",
        404,
        r#"{"error": "request does not exist"}"#,
    )
    .await;
    let polled = status_answers(&server, "gone", job("gone", "COMPLETED")).await;

    let err = client(&server)
        .endpoint(EP)
        .job("gone")
        .wait()
        .await
        .unwrap_err();

    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.job_id(), Some("gone"));
    long_poll.assert_calls_async(1).await;
    polled.assert_calls_async(0).await;
}

#[tokio::test]
async fn long_polls_count_against_the_status_limit() {
    let server = MockServer::start_async().await;
    // Answered at once, as by a host that ignores `wait`: the poll schedule paces the wait.
    let long_poll =
        status_sync_answers(&server, "j", 200, r#"{"id":"j","status":"IN_QUEUE"}"#).await;
    let window = Duration::from_millis(400);
    let endpoint = ServerlessClient::builder()
        .with_config(config(&server))
        .with_poll_policy(fast_poll())
        .with_rate_limits(
            RateLimits::disabled().with_limit(Route::Status, Some(RouteLimit::new(2, window))),
        )
        .build()
        .unwrap()
        .endpoint(EP);

    let waited = endpoint
        .job("j")
        .wait_with_timeout(Duration::from_millis(300))
        .await;

    assert!(waited.unwrap_err().is_timeout());
    long_poll.assert_calls_async(2).await;
}

/// What the scripted server does with its `n`th request (from 0).
#[derive(Clone, Copy)]
enum Act {
    /// Answer 200 with the job in this status, after holding the request this long.
    Answer(Duration, &'static str),
    /// Hold the request for the `wait` it asks for (virtual time), then answer IN_PROGRESS.
    RunOut,
    /// Close the connection without answering, after this long.
    Cut(Duration),
    /// Never answer; report when the client closes the connection.
    Hold,
}

/// A one-request-per-connection HTTP server on the test's own runtime (so that its sleeps run
/// on the test's clock), recording each request line, and `closed` when a held client hung up.
#[derive(Clone, Default)]
struct Scripted {
    seen: Arc<Mutex<Vec<String>>>,
    closed: Arc<tokio::sync::Notify>,
}

impl Scripted {
    async fn start(script: fn(usize) -> Act) -> (Self, ServerlessClient) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v2", listener.local_addr().unwrap());
        let server = Self::default();
        let accepting = server.clone();
        tokio::spawn(async move {
            for n in 0.. {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(accepting.clone().serve(socket, script(n)));
            }
        });
        let config = Config::builder()
            .with_api_key("test-key")
            .with_serverless_base_url(base)
            .with_attempt_timeout(None)
            .with_connect_timeout(None)
            .build()
            .unwrap();
        // No failure ridden out: a cut counted as one would end the wait.
        let client = client_with(config, PollPolicy::default().with_max_consecutive_errors(0));
        (server, client)
    }

    async fn serve(self, mut socket: TcpStream, act: Act) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let line = head.lines().next().unwrap_or_default().to_owned();
        self.seen.lock().unwrap().push(line.clone());
        let (hold, status) = match act {
            Act::Answer(after, status) => (after, status),
            Act::RunOut => {
                let ms: u64 = line
                    .split("wait=")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|ms| ms.parse().ok())
                    .expect("a long poll names its wait");
                (Duration::from_millis(ms), "IN_PROGRESS")
            }
            Act::Cut(after) => {
                tokio::time::sleep(after).await;
                return;
            }
            Act::Hold => {
                // Reads until the client closes its side.
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                self.closed.notify_one();
                return;
            }
        };
        tokio::time::sleep(hold).await;
        let body = format!(r#"{{"id":"j","status":"{status}","output":"done"}}"#);
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(answer.as_bytes()).await;
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn dropping_a_wait_closes_its_long_poll() {
    let (server, client) = Scripted::start(|_| Act::Hold).await;
    let closed = server.closed.notified();
    let waiting = tokio::spawn(async move { client.endpoint(EP).job("j").wait().await });
    // Bounded: the request reaches the server, then the wait is dropped.
    tokio::time::timeout(Duration::from_secs(10), async {
        while server.seen().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the long poll never arrived");
    waiting.abort();
    tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("the dropped wait left its connection open");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_long_poll_cut_mid_wait_re_arms_without_counting_as_a_failure() {
    let (server, client) = Scripted::start(|n| match n {
        0 | 1 => Act::Cut(Duration::from_secs(1)),
        _ => Act::Answer(Duration::ZERO, "COMPLETED"),
    })
    .await;

    let done = client.endpoint(EP).job("j").wait().await.unwrap();

    assert_eq!(done.output, Some(json!("done")));
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.iter()
            .all(|line| line.starts_with("GET /v2/ep-1/status-sync/j?wait=90000 ")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_long_poll_cut_at_once_is_a_failure() {
    // A host that hangs up at once must not make the wait spin: with no failure to ride out,
    // the first cut ends it.
    let (server, client) = Scripted::start(|_| Act::Cut(Duration::ZERO)).await;

    let err = client.endpoint(EP).job("j").wait().await.unwrap_err();

    assert!(err.is_network() || err.is_connect(), "{err:?}");
    assert_eq!(err.job_id(), Some("j"));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn long_polls_re_arm_until_the_callers_deadline() {
    let (server, client) = Scripted::start(|_| Act::RunOut).await;
    let started = Instant::now();

    let err = client
        .endpoint(EP)
        .job("j")
        .wait_with_timeout(Duration::from_secs(200))
        .await
        .unwrap_err();

    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.job_id(), Some("j"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(200) && waited < Duration::from_secs(201),
        "{waited:?}"
    );
    // Long polls of 90 s at 0, 90 and 180 s; the third is dropped at the deadline.
    assert_eq!(server.seen().len(), 3, "{:?}", server.seen());
}

#[tokio::test(start_paused = true)]
async fn a_job_ending_mid_wait_is_known_when_its_long_poll_answers() {
    let (server, client) = Scripted::start(|n| match n {
        0 => Act::RunOut,
        _ => Act::Answer(Duration::from_secs(30), "COMPLETED"),
    })
    .await;
    let started = Instant::now();

    let done = client.endpoint(EP).job("j").wait().await.unwrap();

    assert_eq!(done.status, Some(JobStatus::Completed));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(120) && waited < Duration::from_secs(121),
        "{waited:?}"
    );
    assert_eq!(server.seen().len(), 2);
}
