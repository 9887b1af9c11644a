//! What `run_sync` costs on the wire: `/runsync?wait=`, so that a job ending within the hold is
//! one request, then `/status-sync` long polls under the same id when it has not ended.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::MockServer;
use runpod_serverless::{Config, PollPolicy, RateLimits, Route, RouteLimit, ServerlessClient};
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::support::{EP, client, job, path, status_answers};

/// The requests the client sent, as `METHOD /path`, read from the transport's `runpod_http`
/// span (one per request attempt).
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<String>>>);

impl Sent {
    /// The paths below the endpoint (`runsync`, `status-sync/{id}`, …), in order.
    fn routes(&self) -> Vec<String> {
        let prefix = format!("/v2/{EP}/");
        let local_prefix = format!("/v2/{LOCAL_EP}/");
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|line| line.replacen(&prefix, "", 1).replacen(&local_prefix, "", 1))
            .collect()
    }
}

#[derive(Default)]
struct Line {
    method: String,
    path: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "method" => self.method = format!("{value:?}"),
            "path" => self.path = format!("{value:?}"),
            _ => {}
        }
    }
}

impl Subscriber for Sent {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_span() && meta.name() == "runpod_http"
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut line = Line::default();
        attrs.record(&mut line);
        let mut sent = self.0.lock().unwrap();
        sent.push(format!("{} {}", line.method, line.path));
        Id::from_u64(sent.len() as u64)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Records the requests of the current thread (the tests run on a current-thread runtime, so
/// every request of theirs starts here).
fn record() -> (Sent, tracing::subscriber::DefaultGuard) {
    let sent = Sent::default();
    let guard = tracing::subscriber::set_default(sent.clone());
    (sent, guard)
}

const LOCAL_EP: &str = "local-ep";
const KEY: &str = "local-key";

/// runpod-local whose in-process handler takes `work` before answering its input.
async fn local(work: Duration) -> runpod_local::RunningServer {
    runpod_local::Server::builder()
        .api_key(KEY)
        .inline_handler(move |input: Value| async move {
            tokio::time::sleep(work).await;
            Ok::<_, String>(input)
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

fn local_client(server: &runpod_local::RunningServer) -> ServerlessClient {
    local_client_limited(server, RateLimits::disabled())
}

fn local_client_limited(
    server: &runpod_local::RunningServer,
    limits: RateLimits,
) -> ServerlessClient {
    let config = Config::builder()
        .with_api_key(KEY)
        .with_serverless_base_url(server.serverless_base_url())
        .build()
        .unwrap();
    ServerlessClient::builder()
        .with_config(config)
        .with_poll_policy(PollPolicy::default())
        .with_rate_limits(limits)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_job_ending_within_the_hold_is_one_request() {
    let server = local(Duration::from_millis(50)).await;
    let endpoint = local_client(&server).endpoint(LOCAL_EP);
    let (sent, _guard) = record();

    let output = endpoint.run_sync(json!({"n": 1})).await.unwrap();

    assert_eq!(output, json!({"n": 1}));
    assert_eq!(sent.routes(), ["POST runsync"]);
}

#[tokio::test]
async fn a_job_outlasting_the_hold_continues_with_one_long_poll_under_its_id() {
    // The shortest hold Runpod documents (1 s), a job of 1.5 s: the `/runsync` answer has the
    // job still running, and one `/status-sync` held until the job ends brings the output.
    let server = local(Duration::from_millis(1_500)).await;
    let endpoint = local_client(&server).endpoint(LOCAL_EP);
    let (sent, _guard) = record();

    let state = endpoint
        .run_sync(json!({"n": 2}))
        .hold(Duration::from_secs(1))
        .send()
        .await
        .unwrap();

    assert_eq!(state.output, Some(json!({"n": 2})));
    let routes = sent.routes();
    assert_eq!(
        routes,
        [
            "POST runsync".to_owned(),
            format!("GET status-sync/{}", state.id)
        ]
    );
}

#[tokio::test]
async fn many_jobs_in_flight_each_cost_one_request() {
    const JOBS: usize = 200;
    let server = local(Duration::from_millis(300)).await;
    let endpoint = local_client(&server).endpoint(LOCAL_EP);
    let (sent, _guard) = record();

    let outputs = futures_util::future::join_all(
        (0..JOBS).map(|i| endpoint.run_sync(json!({ "i": i })).into_future()),
    )
    .await;

    for (i, output) in outputs.into_iter().enumerate() {
        assert_eq!(output.unwrap(), json!({ "i": i }));
    }
    let routes = sent.routes();
    assert_eq!(routes.len(), JOBS, "{routes:?}");
    assert!(routes.iter().all(|r| r == "POST runsync"), "{routes:?}");
}

#[tokio::test]
async fn after_the_hold_the_wait_long_polls_status_sync_not_status() {
    let server = MockServer::start_async().await;
    let runsync = server
        .mock_async(|when, then| {
            when.method("POST")
                .path(path("runsync"))
                .query_param("wait", "90000");
            then.status(200).json_body(job("sync-7", "IN_PROGRESS"));
        })
        .await;
    let long_poll = server
        .mock_async(|when, then| {
            when.method("GET")
                .path(path("status-sync/sync-7"))
                .query_param("wait", "90000");
            then.status(200)
                .json_body(json!({"id": "sync-7", "status": "COMPLETED", "output": "done"}));
        })
        .await;
    let polled = status_answers(&server, "sync-7", job("sync-7", "IN_PROGRESS")).await;
    let (sent, _guard) = record();

    let output = client(&server)
        .endpoint(EP)
        .run_sync(json!({}))
        .await
        .unwrap();

    assert_eq!(output, json!("done"));
    runsync.assert_calls_async(1).await;
    long_poll.assert_calls_async(1).await;
    polled.assert_calls_async(0).await;
    assert_eq!(sent.routes(), ["POST runsync", "GET status-sync/sync-7"]);
}

/// Waits (10 s at most) until the server runs `jobs` jobs.
async fn running(endpoint: &runpod_serverless::Endpoint, jobs: i64) {
    let waiting = async {
        loop {
            let health = endpoint.health().await.unwrap();
            if health.jobs.and_then(|j| j.in_progress) == Some(jobs) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap_or_else(|_| panic!("the server never ran {jobs} jobs"));
}

#[tokio::test]
async fn with_every_runsync_slot_held_a_job_goes_in_through_run_at_once() {
    // Handlers hold their jobs until the gate opens.
    let (gate, opened) = tokio::sync::watch::channel(false);
    let server = runpod_local::Server::builder()
        .api_key(KEY)
        .inline_handler(move |input: Value| {
            let mut opened = opened.clone();
            async move {
                let _ = opened.wait_for(|open| *open).await;
                Ok::<_, String>(input)
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    // One `/runsync` at a time (Runpod's is 400).
    let limits = RateLimits::disabled().with_limit(
        Route::RunSync,
        Some(RouteLimit::new(1_000, Duration::from_secs(1)).with_max_concurrent(1)),
    );
    let endpoint = local_client_limited(&server, limits).endpoint(LOCAL_EP);
    let (sent, _guard) = record();

    let first = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { endpoint.run_sync(json!("held")).await }
    });
    // The first job is in the server's hands (its /runsync holds the only slot).
    running(&endpoint, 1).await;
    let second = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { endpoint.run_sync(json!("second")).send().await }
    });
    // The second job is queued (taken, in fact) while the first still holds its slot; a
    // second `/runsync` would still be waiting for it in the client.
    running(&endpoint, 2).await;
    gate.send_replace(true);

    assert_eq!(first.await.unwrap().unwrap(), json!("held"));
    let second = second.await.unwrap().unwrap();
    assert_eq!(second.output, Some(json!("second")));
    let routes: Vec<String> = sent
        .routes()
        .into_iter()
        .filter(|r| r != "GET health")
        .collect();
    assert_eq!(
        routes,
        [
            "POST runsync".to_owned(),
            "POST run".to_owned(),
            format!("GET status-sync/{}", second.id)
        ]
    );
}
