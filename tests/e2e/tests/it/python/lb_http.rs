//! The load-balancing gateway driven by a plain HTTP client (Python's urllib, no SDK), so the
//! gateway is proven without our client: the same set as `lb.rs`.

use std::process::Command;

use runpod_local::{LbWorker, Server};
use serde_json::{Value, json};

use super::{python, script};
use crate::lb::{WorkerProcess, fast_limits};
use crate::lb_checks::counts_reach;

const KEY: &str = "urllib-key";

/// Runs `lb_http.py` with `requests`; returns its answers.
async fn urllib(base: String, requests: Value) -> Vec<Value> {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script("lb_http.py"))
            .args([base.as_str(), KEY, &requests.to_string()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "lb_http.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_a_plain_http_client() {
    let ready = WorkerProcess::start(&[]).await;
    let (mut slow_start, init) = WorkerProcess::starting().await;
    let failing = WorkerProcess::start(&[("INIT_FAIL", "1")]).await;
    let server = Server::builder()
        .api_key(KEY)
        .lb_worker(LbWorker::new("lb", &ready.url))
        .lb_worker(LbWorker::new("lb", &slow_start.url))
        .lb_worker(LbWorker::new("cold", &failing.url))
        .lb_limits(fast_limits())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    counts_reach(&server, "lb", (1, 1, 0)).await;
    counts_reach(&server, "cold", (0, 0, 1)).await;
    let base = server.lb_url("lb");

    // JSON route (the initializing worker gets none), slow route, SSE, no workers.
    let post = |n: i64, affinity: &str| json!({"method": "POST", "path": "/v1/square", "body": {"n": n}, "affinity": affinity});
    let answers = urllib(
        base.clone(),
        json!([
            post(4, ""),
            post(5, ""),
            post(6, "lb-w2"),
            {"method": "GET", "path": "/v1/slow?ms=300"},
            {"method": "GET", "path": "/v1/events?n=3", "sse": true},
        ]),
    )
    .await;
    for (answer, n) in answers[..3].iter().zip([4, 5, 6]) {
        assert_eq!(answer["status"], 200, "{answer}");
        assert_eq!(answer["worker"], "lb-w1", "{answer}");
        assert_eq!(answer["body"], json!({"square": n * n}));
    }
    assert_eq!(answers[3]["body"], json!({"slept_ms": 300}));
    let events = answers[4]["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{}", answers[4]);
    assert_eq!(events[0]["event"], "tick");
    assert_eq!(
        serde_json::from_str::<Value>(events[2]["data"].as_str().unwrap()).unwrap(),
        json!({"i": 2, "of": 3})
    );
    // Streamed: the events arrived 50 ms apart, not at once.
    let spread = events[2]["t"].as_f64().unwrap() - events[0]["t"].as_f64().unwrap();
    assert!(spread >= 0.08, "events arrived together: {events:?}");
    let cold = urllib(server.lb_url("cold"), json!([post(1, "")])).await;
    assert_eq!(cold[0]["status"], 503);
    assert_eq!(cold[0]["body"], json!({"error": "no workers available"}));

    // Two workers: soft and strict affinity reach the second; killed → affinity_worker_gone.
    WorkerProcess::ready(&init);
    counts_reach(&server, "lb", (2, 0, 0)).await;
    let answers = urllib(
        base.clone(),
        json!([
            post(2, "lb-w2"),
            post(2, "strict lb-w2"),
            post(2, "strict-resume lb-w2")
        ]),
    )
    .await;
    for answer in &answers {
        assert_eq!(
            (&answer["status"], &answer["worker"]),
            (&json!(200), &json!("lb-w2")),
            "{answer}"
        );
    }
    slow_start.kill();
    counts_reach(&server, "lb", (1, 0, 1)).await;
    let answers = urllib(base, json!([post(2, "strict lb-w2"), post(2, "lb-w2")])).await;
    assert_eq!(answers[0]["status"], 404);
    assert_eq!(answers[0]["body"], json!({"error": "affinity_worker_gone"}));
    assert_eq!(
        (&answers[1]["status"], &answers[1]["worker"]),
        (&json!(200), &json!("lb-w1"))
    );
}
