//! The load-balancing gateway in front of small in-process workers whose health we control.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use runpod_local::{FaultConfig, LbLimits, LbWorker, Server};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A worker answering its health route with whatever `health` holds.
struct FakeWorker {
    url: String,
    health: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    stop: CancellationToken,
}

#[derive(Clone)]
struct WorkerState {
    name: &'static str,
    health: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
}

impl FakeWorker {
    async fn start(name: &'static str, health: u16) -> Self {
        let state = WorkerState {
            name,
            health: Arc::new(AtomicU16::new(health)),
            hits: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route(
                "/ping",
                get(|State(s): State<WorkerState>| async move {
                    StatusCode::from_u16(s.health.load(Ordering::SeqCst)).unwrap()
                }),
            )
            .route(
                "/echo/{*rest}",
                post(
                    |State(s): State<WorkerState>,
                     headers: HeaderMap,
                     uri: axum::http::Uri,
                     body: String| async move {
                        s.hits.fetch_add(1, Ordering::SeqCst);
                        axum::Json(json!({
                            "worker": s.name,
                            "uri": uri.to_string(),
                            "body": body,
                            "saw_authorization": headers.contains_key("authorization"),
                            "saw_affinity": headers.contains_key("x-runpod-worker-id"),
                        }))
                    },
                ),
            )
            .route(
                "/stream",
                get(|| async {
                    let chunks = futures_like_stream();
                    axum::body::Body::from_stream(chunks)
                }),
            )
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
                .unwrap();
        });
        Self {
            url,
            health: state.health,
            hits: state.hits,
            stop,
        }
    }
}

/// Three chunks, 150 ms apart, so a buffering proxy would be visible.
fn futures_like_stream()
-> impl futures_core::Stream<Item = Result<String, std::convert::Infallible>> + Send {
    async_stream::stream! {
        for i in 0..3 {
            yield Ok(format!("chunk {i}\n"));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

fn fast() -> LbLimits {
    LbLimits::new()
        .health_interval(Duration::from_millis(20))
        .worker_wait(Duration::from_millis(300))
        .strict_wait(Duration::from_millis(300))
}

async fn healthy_soon(server: &runpod_local::RunningServer, endpoint: &str, n: usize) {
    for _ in 0..200 {
        if server
            .lb_counts()
            .iter()
            .any(|(id, c)| id == endpoint && c.healthy == n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("workers never became healthy: {:?}", server.lb_counts());
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let worker = response
        .headers()
        .get("x-runpod-worker-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, worker, body)
}

#[tokio::test]
async fn requests_reach_only_healthy_workers_with_their_worker_id() {
    let ready = FakeWorker::start("ready", 200).await;
    let starting = FakeWorker::start("starting", 204).await;
    let server = Server::builder()
        .api_key("k")
        .lb_worker(LbWorker::new("ep", &ready.url).id("w-ready"))
        .lb_worker(LbWorker::new("ep", &starting.url).id("w-starting"))
        .lb_limits(fast())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    healthy_soon(&server, "ep", 1).await;
    let counts = &server.lb_counts()[0].1;
    assert_eq!((counts.healthy, counts.initializing), (1, 1));
    let http = reqwest::Client::new();
    let url = format!("{}/echo/a%20b?x=1", server.lb_url("ep"));

    let (status, _, body) = send(http.post(&url).body("hi")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    for _ in 0..4 {
        let (status, worker, body) = send(http.post(&url).bearer_auth("k").body("hi")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(worker.as_deref(), Some("w-ready"));
        assert_eq!(body["uri"], "/echo/a%20b?x=1");
        assert_eq!(body["body"], "hi");
        assert_eq!(body["saw_authorization"], false);
    }
    assert_eq!(starting.hits.load(Ordering::SeqCst), 0);

    // Once the second worker reports 200 it takes its share.
    starting.health.store(200, Ordering::SeqCst);
    healthy_soon(&server, "ep", 2).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let (_, worker, _) = send(http.post(&url).bearer_auth("k")).await;
        seen.insert(worker.unwrap());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[tokio::test]
async fn affinity_modes_route_wait_and_fail_as_documented() {
    let one = FakeWorker::start("one", 200).await;
    let two = FakeWorker::start("two", 200).await;
    let server = Server::builder()
        .lb_worker(LbWorker::new("ep", &one.url))
        .lb_worker(LbWorker::new("ep", &two.url))
        .lb_limits(fast())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    healthy_soon(&server, "ep", 2).await;
    let http = reqwest::Client::new();
    let url = format!("{}/echo/x", server.lb_url("ep"));
    let with = |value: &str| http.post(&url).header("X-Runpod-Worker-Id", value);

    for value in ["ep-w2", "strict ep-w2", "strict-resume ep-w2"] {
        for _ in 0..3 {
            let (status, worker, body) = send(with(value)).await;
            assert_eq!(status, StatusCode::OK, "{value}: {body}");
            assert_eq!(worker.as_deref(), Some("ep-w2"), "{value}");
            assert_eq!(body["worker"], "two");
            assert_eq!(body["saw_affinity"], false);
        }
    }
    let (status, _, body) = send(with("strict nobody")).await;
    assert_eq!(
        (status, &body),
        (
            StatusCode::NOT_FOUND,
            &json!({"error": "affinity_worker_gone"})
        )
    );
    let (status, _, body) = send(with("strict a b")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Initializing again: strict waits, then worker_timeout; soft falls back.
    two.health.store(204, Ordering::SeqCst);
    healthy_soon(&server, "ep", 1).await;
    let (status, _, body) = send(with("strict ep-w2")).await;
    assert_eq!(
        (status, &body),
        (StatusCode::BAD_REQUEST, &json!({"error": "worker_timeout"}))
    );
    let (status, worker, _) = send(with("ep-w2")).await;
    assert_eq!((status, worker.as_deref()), (StatusCode::OK, Some("ep-w1")));

    // Gone: its health route stops answering.
    two.stop.cancel();
    for _ in 0..200 {
        if server.lb_counts()[0].1.unhealthy == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, body) = send(with("strict ep-w2")).await;
    assert_eq!(
        (status, &body),
        (
            StatusCode::NOT_FOUND,
            &json!({"error": "affinity_worker_gone"})
        )
    );
    one.stop.cancel();
    let _ = &one.hits;
}

#[tokio::test]
async fn without_a_healthy_worker_the_answer_is_no_workers_available() {
    let starting = FakeWorker::start("starting", 204).await;
    let broken = FakeWorker::start("broken", 500).await;
    let server = Server::builder()
        .lb_worker(LbWorker::new("cold", &starting.url))
        .lb_worker(LbWorker::new("dead", &broken.url))
        .lb_limits(fast())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for endpoint in ["cold", "dead"] {
        let started = tokio::time::Instant::now();
        let response = http
            .get(format!("{}/echo/x", server.lb_url(endpoint)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": "no workers available"})
        );
        if endpoint == "cold" {
            // It waited for the initializing worker first.
            assert!(started.elapsed() >= Duration::from_millis(250));
        }
    }
    let (status, _, _) = send(http.get(format!("{}/x", server.lb_url("unknown")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bodies_stream_and_limits_hold() {
    let worker = FakeWorker::start("w", 200).await;
    let server = Server::builder()
        .lb_worker(LbWorker::new("ep", &worker.url))
        .lb_limits(fast().max_request_bytes(1024))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    healthy_soon(&server, "ep", 1).await;
    let http = reqwest::Client::new();

    let mut response = http
        .get(format!("{}/stream", server.lb_url("ep")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let first = response.chunk().await.unwrap().unwrap();
    let at_first = tokio::time::Instant::now();
    assert_eq!(&first[..], b"chunk 0\n");
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"chunk 1\nchunk 2\n");
    assert!(
        at_first.elapsed() >= Duration::from_millis(250),
        "the first chunk came late"
    );

    let url = format!("{}/echo/big", server.lb_url("ep"));
    let (status, _, body) = send(http.post(&url).body(vec![b'x'; 2048])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, _, _) = send(http.post(&url).body(vec![b'x'; 1024])).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn faults_apply_to_load_balancing_routes() {
    let worker = FakeWorker::start("w", 200).await;
    let server = Server::builder()
        .lb_worker(LbWorker::new("ep", &worker.url))
        .lb_limits(fast())
        .faults(FaultConfig::new().rule("lb:5xx=1").unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    healthy_soon(&server, "ep", 1).await;
    let (status, _, body) =
        send(reqwest::Client::new().post(format!("{}/echo/x", server.lb_url("ep")))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "injected fault on lb");
    assert_eq!(worker.hits.load(Ordering::SeqCst), 0);
}
