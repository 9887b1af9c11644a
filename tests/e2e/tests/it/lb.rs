//! Load-balancing end to end: the `lb_worker` example (processes) behind runpod-local's gateway,
//! driven by our client and by a plain HTTP client (Python's urllib, when available).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use futures_util::StreamExt as _;
use runpod::lb::{Affinity, ColdStart, LbErrorExt, LoadBalancer};
use runpod::{Report, ServerlessClient};
use runpod_local::{LbLimits, LbWorker, RunningServer, Server};
use serde_json::{Value, json};

use crate::lb_checks::counts_reach;
use crate::support::example_binary;

pub(crate) const KEY: &str = "lb-key";

/// One `lb_worker` process on a free port, killed on drop.
pub(crate) struct WorkerProcess {
    child: Child,
    pub(crate) url: String,
}

impl WorkerProcess {
    pub(crate) async fn start(env: &[(&str, &str)]) -> Self {
        let binary = tokio::task::spawn_blocking(|| example_binary("lb_worker"))
            .await
            .unwrap();
        // A port free a moment ago (the worker reads PORT; it cannot report a port 0 choice).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .env("PORT", port.to_string())
            .env_remove("PORT_HEALTH")
            .env_remove("HEALTH_CHECK_PATH")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A worker whose initializer waits until [`WorkerProcess::ready`] is called.
    pub(crate) async fn starting() -> (Self, tempfile::TempDir) {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("ready");
        let worker = Self::start(&[("INIT_WAIT_FILE", file.to_str().unwrap())]).await;
        (worker, dir)
    }

    /// Ends the initializer of a worker from [`starting`](Self::starting).
    pub(crate) fn ready(dir: &tempfile::TempDir) {
        std::fs::write(dir.path().join("ready"), b"").unwrap();
    }

    /// SIGKILL: the worker vanishes without a goodbye.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn fast_limits() -> LbLimits {
    LbLimits::new()
        .health_interval(Duration::from_millis(50))
        .worker_wait(Duration::from_millis(500))
        .strict_wait(Duration::from_secs(1))
}

pub(crate) fn lb(server: &RunningServer, endpoint: &str) -> LoadBalancer {
    client_over(server, runpod::HttpVersion::Negotiate).load_balancer(endpoint)
}

/// A client of `server`'s gateway speaking `http`.
fn client_over(server: &RunningServer, http: runpod::HttpVersion) -> ServerlessClient {
    let config = runpod::Config::builder()
        .with_api_key(KEY)
        .with_http_version(http)
        .build()
        .unwrap();
    ServerlessClient::builder()
        .with_config(config)
        .with_lb_base_url(server.lb_base_url_template())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_forwards_http2_requests_to_an_http1_worker() {
    // Over TLS the client negotiates HTTP/2 with Runpod's gateway; the worker's own server
    // speaks HTTP/1.1. runpod-local's gateway must bridge the two, bodies and events included.
    let worker = WorkerProcess::start(&[]).await;
    let server = Server::builder()
        .api_key(KEY)
        .lb_worker(LbWorker::new("lb2", &worker.url))
        .lb_limits(fast_limits())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    counts_reach(&server, "lb2", (1, 0, 0)).await;
    let client = client_over(&server, runpod::HttpVersion::Http2);
    let lb = client.load_balancer("lb2");
    let answer = lb
        .post("/v1/square")
        .json(&json!({"n": 7}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", Report(&e)));
    assert_eq!(answer.json::<Value>().unwrap(), json!({"square": 49}));
    assert_eq!(answer.worker_id(), Some("lb2-w1"));
    assert_eq!(client.http().lanes_in_flight(), 0);
    let events = lb.get("/v1/events").query("n", 3).events().await.unwrap();
    // The event stream holds its connection's stream (its lane) for as long as it is read.
    assert_eq!(client.http().lanes_in_flight(), 1);
    let events: Vec<_> = events.map(|e| e.unwrap().data).collect().await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(client.http().lanes_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_worker_behind_runpod_local_driven_by_our_client() {
    let ready = WorkerProcess::start(&[]).await;
    let (mut slow_start, init) = WorkerProcess::starting().await;
    let server = Server::builder()
        .api_key(KEY)
        .lb_worker(LbWorker::new("lb", &ready.url))
        .lb_worker(LbWorker::new("lb", &slow_start.url))
        .lb_limits(fast_limits())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    counts_reach(&server, "lb", (1, 1, 0)).await;
    let lb = lb(&server, "lb");

    // JSON route; the initializing worker gets none of it.
    for n in 0..6 {
        let answer = lb
            .post("/v1/square")
            .json(&json!({"n": n}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.json::<Value>().unwrap(), json!({"square": n * n}));
        assert_eq!(answer.worker_id(), Some("lb-w1"));
    }
    // Strict to the initializing worker waits, then worker_timeout.
    let err = lb
        .get("/v1/slow?ms=1")
        .affinity(Affinity::strict("lb-w2"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_worker_timeout(), "{}", Report(&err));

    // Slow route.
    let started = Instant::now();
    let answer = lb.get("/v1/slow").query("ms", 400).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(answer.json::<Value>().unwrap(), json!({"slept_ms": 400}));

    // SSE, event by event: the first arrives before the last is produced.
    let mut events = Box::pin(lb.get("/v1/events").query("n", 4).events().await.unwrap());
    let first = events.next().await.unwrap().unwrap();
    let at_first = Instant::now();
    assert_eq!(first.event.as_deref(), Some("tick"));
    assert_eq!(
        serde_json::from_str::<Value>(&first.data).unwrap(),
        json!({"i": 0, "of": 4})
    );
    let rest: Vec<_> = events.map(|e| e.unwrap()).collect().await;
    assert_eq!(rest.len(), 3);
    assert!(
        at_first.elapsed() >= Duration::from_millis(120),
        "events came all at once"
    );

    // Once the second worker is up, soft and strict affinity reach it.
    WorkerProcess::ready(&init);
    counts_reach(&server, "lb", (2, 0, 0)).await;
    for affinity in [Affinity::prefer("lb-w2"), Affinity::strict("lb-w2")] {
        let answer = lb
            .post("/v1/square")
            .affinity(affinity.clone())
            .json(&json!({"n": 3}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.worker_id(), Some("lb-w2"), "{affinity:?}");
    }
    // "Stick to the worker that answered" is one line.
    let first = lb
        .post("/v1/square")
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap();
    let again = lb
        .post("/v1/square")
        .affinity(first.stick())
        .json(&json!({"n": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.worker_id(), first.worker_id());

    // Killed: strict gives affinity_worker_gone, soft falls back.
    slow_start.kill();
    counts_reach(&server, "lb", (1, 0, 1)).await;
    let err = lb
        .post("/v1/square")
        .affinity(Affinity::strict("lb-w2"))
        .json(&json!({"n": 3}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_affinity_worker_gone(), "{}", Report(&err));
    let answer = lb
        .post("/v1/square")
        .affinity(Affinity::prefer("lb-w2"))
        .json(&json!({"n": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.worker_id(), Some("lb-w1"));
    drop(ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_healthy_worker_cold_start_retries_end_in_a_typed_error() {
    let failing = WorkerProcess::start(&[("INIT_FAIL", "1")]).await;
    let server = Server::builder()
        .lb_worker(LbWorker::new("cold", &failing.url))
        .lb_limits(fast_limits())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    counts_reach(&server, "cold", (0, 0, 1)).await;
    let lb = lb(&server, "cold").with_cold_start(ColdStart {
        attempts: 3,
        delay: Duration::from_millis(300),
    });
    let started = Instant::now();
    let err = lb
        .post("/v1/square")
        .json(&json!({"n": 1}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_no_workers_available(), "{}", Report(&err));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    // Two waits between three tries.
    assert!(started.elapsed() >= Duration::from_millis(600));
}
