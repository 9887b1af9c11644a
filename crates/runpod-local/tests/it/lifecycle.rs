//! The job life cycle in time: delay and execution times, execution timeout, ttl, retention,
//! cancellation of running jobs, and requeueing after a worker's heartbeats stop.

use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::Server;
use serde_json::json;
use tokio::time::sleep;

use crate::support::{EP, Harness, ms};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(start_paused = true)]
async fn full_life_cycle_records_delay_and_execution_time() {
    let h = Harness::start().await;
    let id = h.run(json!({"x": 1})).await;
    sleep(secs(2)).await;
    h.take_expect("w", &id).await;
    let running = h.job(&id).await;
    assert_eq!(running["status"], "IN_PROGRESS");
    assert_eq!(ms(&running["delayTime"]), 2000);
    assert!(running.get("executionTime").is_none());
    sleep(secs(3)).await;
    h.done("w", &id, json!({"output": [1, 2]})).await;
    let done = h.job(&id).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(ms(&done["delayTime"]), 2000);
    assert_eq!(ms(&done["executionTime"]), 3000);
    assert_eq!(done["workerId"], "w");
    assert_eq!(done["output"], json!([1, 2]));
}

#[tokio::test(start_paused = true)]
async fn execution_timeout_ends_the_job_and_tells_its_worker() {
    let h = Harness::with(Server::builder().hold_time(secs(60))).await;
    let id = h
        .run_request(json!({"input": 1, "policy": {"executionTimeout": 5000}}))
        .await;
    let other = h.run(json!(2)).await;
    h.take_expect("w", &id).await;
    h.take_expect("w", &other).await;

    // The job-stop long poll answers as soon as the timeout fires, well before its hold ends.
    let stop = h.stop_signals("w").await;
    assert_eq!(stop, [id.as_str()]);
    let job = h.job(&id).await;
    assert_eq!(job["status"], "TIMED_OUT");
    assert_eq!(ms(&job["executionTime"]), 5000);

    let (status, body) = h.done("w", &id, json!({"output": "too late"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("TIMED_OUT"),
        "{body}"
    );
    assert_eq!(h.job(&id).await["status"], "TIMED_OUT");
    assert_eq!(
        h.job(&other).await["status"],
        "IN_PROGRESS",
        "other jobs run on"
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_execution_timeout_applies_without_a_policy() {
    let h = Harness::with(
        Server::builder()
            .default_execution_timeout(secs(30))
            .heartbeat_timeout(secs(3600)),
    )
    .await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    sleep(secs(29)).await;
    assert_eq!(h.job(&id).await["status"], "IN_PROGRESS");
    sleep(secs(2)).await;
    assert_eq!(h.job(&id).await["status"], "TIMED_OUT");
}

#[tokio::test(start_paused = true)]
async fn a_job_that_ran_again_is_not_timed_out_by_its_first_run() {
    let h = Harness::with(
        Server::builder()
            .default_execution_timeout(secs(20))
            .heartbeat_timeout(secs(5)),
    )
    .await;
    let id = h.run(json!(1)).await;
    h.take_expect("lost", &id).await;
    sleep(secs(10)).await; // "lost" stops sending heartbeats: the job is queued again
    h.take_expect("w2", &id).await;
    // 21 s after the first take the first run's deadline has passed, the second's has not.
    for _ in 0..11 {
        sleep(secs(1)).await;
        h.ping("w2", &[&id]).await;
    }
    assert_eq!(h.job(&id).await["status"], "IN_PROGRESS");
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_running_job_tells_its_worker() {
    let h = Harness::with(Server::builder().hold_time(secs(60))).await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    let cancel = async {
        sleep(secs(1)).await;
        h.post_empty(&format!("/v2/{EP}/cancel/{id}")).await
    };
    let (stop, (status, body)) = tokio::join!(h.stop_signals("w"), cancel);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "CANCELLED");
    assert_eq!(stop, [id.as_str()]);
    assert!(
        h.stop_signals("w").await.is_empty(),
        "each stop signal is handed out once"
    );
    let (status, _) = h.done("w", &id, json!({"output": 1})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(h.job(&id).await["status"], "CANCELLED");
}

#[tokio::test(start_paused = true)]
async fn ttl_expiry_deletes_the_job() {
    let h = Harness::start().await;
    let finished = h
        .run_request(json!({"input": 1, "policy": {"ttl": 10000}}))
        .await;
    let running = h
        .run_request(json!({"input": 2, "policy": {"ttl": 10000}}))
        .await;
    let queued = h
        .run_request(json!({"input": 3, "policy": {"ttl": 10000}}))
        .await;
    let lasting = h.run(json!(4)).await;
    h.take_expect("w", &finished).await;
    h.done("w", &finished, json!({"output": 1})).await;
    h.take_expect("w", &running).await;

    sleep(secs(9)).await;
    h.ping("w", &[&running]).await;
    assert_eq!(h.job(&finished).await["status"], "COMPLETED");
    assert_eq!(h.job(&queued).await["status"], "IN_QUEUE");
    sleep(secs(2)).await;
    h.ping("w", &[&running]).await;
    // The ttl is the job's whole lifespan: it ends queued, running and finished jobs alike.
    assert_eq!(h.status(&finished).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.status(&queued).await.0, StatusCode::NOT_FOUND);
    assert_eq!(h.status(&running).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        h.stop_signals("w").await,
        [running.as_str()],
        "the worker stops the expired job"
    );
    let (status, _) = h.done("w", &running, json!({"output": 2})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.take("w").await.unwrap()["id"],
        lasting,
        "expired jobs are never handed out"
    );
}

#[tokio::test(start_paused = true)]
async fn results_are_kept_30_minutes_after_run_and_1_minute_after_runsync() {
    let h = Harness::with(
        Server::builder()
            .hold_time(secs(1))
            .heartbeat_timeout(secs(3600)),
    )
    .await;
    let async_job = h.run(json!(1)).await;
    h.take_expect("w", &async_job).await;
    h.done("w", &async_job, json!({"output": 1})).await;

    let runsync = h.post(&format!("/v2/{EP}/runsync?wait=1000"), json!({"input": 2}));
    let (_, body) = runsync.await;
    let sync_job = body["id"].as_str().unwrap().to_owned();
    h.take_expect("w", &sync_job).await;
    h.done("w", &sync_job, json!({"output": 2})).await;

    sleep(secs(59)).await;
    assert_eq!(h.job(&sync_job).await["output"], 2);
    sleep(secs(2)).await;
    assert_eq!(h.status(&sync_job).await.0, StatusCode::NOT_FOUND);
    sleep(secs(29 * 60 - 5)).await;
    assert_eq!(h.job(&async_job).await["output"], 1);
    sleep(secs(10)).await;
    assert_eq!(h.status(&async_job).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn retention_is_configurable() {
    let h = Harness::with(Server::builder().result_retention(secs(5))).await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    h.done("w", &id, json!({"error": "x"})).await;
    sleep(secs(4)).await;
    assert_eq!(h.job(&id).await["status"], "FAILED");
    sleep(secs(2)).await;
    assert_eq!(h.status(&id).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn a_silent_worker_loses_its_jobs_to_the_queue_and_no_job_is_lost() {
    let h = Harness::with(
        Server::builder()
            .hold_time(secs(1))
            .heartbeat_timeout(secs(30)),
    )
    .await;
    let first = h.run(json!("first")).await;
    let second = h.run(json!("second")).await;
    let later = h.run(json!("later")).await;
    let (status, batch) = h
        .get(&format!(
            "/v2/{EP}/job-take-batch/doomed?batch_size=2&job_in_progress=0"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(batch.as_array().unwrap().len(), 2);
    assert_eq!(
        h.health().await["workers"],
        json!({"idle": 0, "running": 1})
    );

    // "survivor" keeps pinging; "doomed" goes silent.
    for _ in 0..3 {
        sleep(secs(10)).await;
        h.ping("survivor", &[]).await;
    }
    sleep(secs(1)).await;
    for id in [&first, &second] {
        let job = h.job(id).await;
        assert_eq!(job["status"], "IN_QUEUE", "{job}");
        assert_eq!(job["retries"], 1);
        assert!(job.get("workerId").is_none());
    }
    assert_eq!(
        h.health().await["workers"],
        json!({"idle": 1, "running": 0})
    );
    assert_eq!(h.health().await["jobs"]["retried"], 2);

    // Requeued jobs go first, in their original order, before newer work.
    h.take_expect("survivor", &first).await;
    h.take_expect("survivor", &second).await;
    h.take_expect("survivor", &later).await;

    let (status, _) = h.done("doomed", &first, json!({"output": "stale"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    for id in [&first, &second, &later] {
        let (status, _) = h.done("survivor", id, json!({"output": "fresh"})).await;
        assert_eq!(status, StatusCode::OK);
        let job = h.job(id).await;
        assert_eq!(
            (job["status"].clone(), job["output"].clone()),
            (json!("COMPLETED"), json!("fresh"))
        );
    }
    assert_eq!(h.job(&first).await["retries"], 1);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_and_open_long_polls_keep_a_worker_alive() {
    let h = Harness::with(
        Server::builder()
            .hold_time(secs(20))
            .heartbeat_timeout(secs(15)),
    )
    .await;
    let pinged = h.run(json!(1)).await;
    let polling = h.run(json!(2)).await;
    h.take_expect("pinger", &pinged).await;
    h.take_expect("poller", &polling).await;
    // "pinger" pings every 10 s; "poller" sits in job-stop long polls of 20 s, back to back.
    let pinger = async {
        for _ in 0..6 {
            sleep(secs(10)).await;
            h.ping("pinger", &[&pinged]).await;
        }
    };
    let poller = async {
        for _ in 0..3 {
            assert!(h.stop_signals("poller").await.is_empty());
        }
    };
    tokio::join!(pinger, poller);
    assert_eq!(h.job(&pinged).await["status"], "IN_PROGRESS");
    assert_eq!(h.job(&polling).await["status"], "IN_PROGRESS");
    assert_eq!(h.job(&polling).await.get("retries"), None);
}

#[tokio::test(start_paused = true)]
async fn a_worker_still_reporting_a_stopped_job_is_told_again() {
    let h = Harness::with(Server::builder().hold_time(secs(5))).await;
    let cancelled = h.run(json!(1)).await;
    let kept = h.run(json!(2)).await;
    h.take_expect("w", &cancelled).await;
    h.take_expect("w", &kept).await;
    h.post_empty(&format!("/v2/{EP}/cancel/{cancelled}")).await;
    assert_eq!(h.stop_signals("w").await, [cancelled.as_str()]);
    assert!(h.stop_signals("w").await.is_empty());
    // The worker missed the signal (the Python worker drops one that beats its task's start)
    // and still reports the job in its heartbeat: it is told again, and only about that job.
    h.ping("w", &[&cancelled, &kept]).await;
    assert_eq!(h.stop_signals("w").await, [cancelled.as_str()]);
    h.ping("w", &[&kept]).await;
    assert!(h.stop_signals("w").await.is_empty());
    assert_eq!(h.job(&kept).await["status"], "IN_PROGRESS");
}

/// A worker restarted under the same id (a container restart keeps `RUNPOD_POD_ID`) keeps
/// pinging, so its heartbeats never stop; its heartbeats stop listing the jobs it lost, and
/// those go back to the queue.
#[tokio::test(start_paused = true)]
async fn a_worker_restarted_under_the_same_id_loses_no_job() {
    let h = Harness::with(
        Server::builder()
            .hold_time(secs(1))
            .heartbeat_timeout(secs(30)),
    )
    .await;
    let held = h.run(json!("held")).await;
    let lost = h.run(json!("lost")).await;
    h.take_expect("w1", &held).await;
    h.take_expect("w1", &lost).await;
    h.ping("w1", &[&held, &lost]).await;

    // A heartbeat sent just before a take may arrive just after it: no verdict within the grace.
    h.ping("w1", &[&held]).await;
    assert_eq!(h.job(&lost).await["status"], "IN_PROGRESS");

    sleep(secs(6)).await;
    h.ping("w1", &[&held]).await;
    let job = h.job(&lost).await;
    assert_eq!(
        (job["status"].clone(), job["retries"].clone()),
        (json!("IN_QUEUE"), json!(1)),
        "{job}"
    );
    assert_eq!(
        h.job(&held).await["status"],
        "IN_PROGRESS",
        "a listed job stays"
    );

    // The restarted worker takes it again and completes it.
    h.take_expect("w1", &lost).await;
    let (status, _) = h.done("w1", &lost, json!({"output": "done"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.job(&lost).await["output"], "done");
}

/// A worker that never lists its jobs in heartbeats is not read as holding none.
#[tokio::test(start_paused = true)]
async fn a_worker_that_never_reports_jobs_keeps_them() {
    let h = Harness::with(
        Server::builder()
            .hold_time(secs(1))
            .heartbeat_timeout(secs(30)),
    )
    .await;
    let id = h.run(json!(1)).await;
    h.take_expect("quiet", &id).await;
    for _ in 0..3 {
        sleep(secs(10)).await;
        h.ping("quiet", &[]).await;
    }
    assert_eq!(h.job(&id).await["status"], "IN_PROGRESS");
}
