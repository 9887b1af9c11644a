//! `wait_until_running`: the phases, the deadline, and a pod that stops instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use httpmock::{HttpMockResponse, MockServer};
use runpod_admin::errors::is_pod_not_running;
use runpod_admin::rest::PodStatus;
use serde_json::json;

use crate::support::{SECOND, client, fixture};

/// Serves `GET /v2/pods/p1` with these statuses in turn (the last one repeats).
async fn pod_with_statuses(statuses: &'static [&'static str]) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start_async().await;
    let reads = Arc::new(AtomicUsize::new(0));
    let counter = reads.clone();
    server
        .mock_async(move |when, then| {
            when.method("GET").path("/v2/pods/p1");
            then.respond_with(move |_| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let mut pod = fixture("getPod");
                pod["id"] = json!("p1");
                pod["status"] = json!(statuses[n.min(statuses.len() - 1)]);
                HttpMockResponse::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(pod.to_string())
                    .build()
            });
        })
        .await;
    (server, reads)
}

// Real time with short intervals: under paused time the HTTP client's idle-connection timer
// lets the clock jump while a request is in flight, which would make every timing meaningless.
const TICK: Duration = Duration::from_millis(25);

#[tokio::test]
async fn times_each_phase_until_running() {
    let (server, reads) = pod_with_statuses(&[
        "PROVISIONING",
        "PROVISIONING",
        "STARTING",
        "STARTING",
        "STARTING",
        "RUNNING",
    ])
    .await;
    let running = client(&server)
        .pods()
        .wait_until_running("p1")
        .poll_interval(TICK)
        .send()
        .await
        .unwrap();
    assert_eq!(running.pod.status, PodStatus::Running);
    assert_eq!(reads.load(Ordering::SeqCst), 6);
    let t = running.timings;
    assert_eq!(t.polls, 6);
    // STARTING was first seen at the 3rd read (after 2 intervals), RUNNING at the 6th (3 more).
    assert!(t.provisioning >= 2 * TICK, "{t:?}");
    assert!(t.starting >= 3 * TICK, "{t:?}");
    assert_eq!(t.provisioning + t.starting, t.total);
    assert!(t.total < 5 * TICK + 2 * SECOND, "{t:?}");
}

#[tokio::test]
async fn gives_up_at_the_deadline() {
    let (server, reads) = pod_with_statuses(&["PROVISIONING"]).await;
    let start = tokio::time::Instant::now();
    let err = client(&server)
        .pods()
        .wait_until_running("p1")
        .poll_interval(4 * TICK)
        .timeout(10 * TICK)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(start.elapsed() >= 10 * TICK);
    // Reads at about 0, 4 and 8 ticks and one at the deadline; never more (fewer when the
    // machine is slow).
    let reads = reads.load(Ordering::SeqCst);
    assert!((2..=4).contains(&reads), "{reads} reads");
}

#[tokio::test]
async fn a_pod_that_stops_ends_the_wait() {
    let (server, reads) = pod_with_statuses(&["PROVISIONING", "ERROR"]).await;
    let err = client(&server)
        .pods()
        .wait_until_running("p1")
        .poll_interval(TICK)
        .send()
        .await
        .unwrap_err();
    assert!(is_pod_not_running(&err), "{err:?}");
    assert_eq!(
        (err.resource(), err.resource_id()),
        (Some("pod"), Some("p1"))
    );
    assert_eq!((err.job_id(), err.state()), (None, Some("ERROR")));
    assert!(!err.is_job_outcome(), "a pod is not a job: {err}");
    assert_eq!(reads.load(Ordering::SeqCst), 2);
}
