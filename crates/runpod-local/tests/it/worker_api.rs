//! Worker routes: job-take(-batch), job-done, ping, job-stop, and the Python worker's exact bytes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{EP, Harness};

#[tokio::test(start_paused = true)]
async fn job_take_holds_an_empty_poll_then_answers_204() {
    let h = Harness::with(runpod_local::Server::builder().hold_time(Duration::from_secs(7))).await;
    let started = Instant::now();
    let (status, body) = h
        .get(&format!("/v2/{EP}/job-take/w?gpu=LOCAL&job_in_progress=0"))
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(started.elapsed().as_secs(), 7);
}

#[tokio::test(start_paused = true)]
async fn job_take_wakes_up_as_soon_as_a_job_arrives() {
    let h = Harness::with(runpod_local::Server::builder().hold_time(Duration::from_secs(60))).await;
    let started = Instant::now();
    let submit = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        h.run(json!({"late": true})).await
    };
    let (taken, id) = tokio::join!(h.take("w"), submit);
    let taken = taken.expect("the job");
    assert_eq!(taken, json!({"id": id, "input": {"late": true}}));
    assert_eq!(started.elapsed().as_secs(), 3);
}

#[tokio::test]
async fn jobs_are_taken_in_submission_order_and_only_once() {
    let h = Harness::start().await;
    let ids = [
        h.run(json!(1)).await,
        h.run(json!(2)).await,
        h.run(json!(3)).await,
    ];
    assert_eq!(h.take("a").await.unwrap()["id"], ids[0]);
    assert_eq!(h.take("b").await.unwrap()["id"], ids[1]);
    let (_, third) = h
        .get(&format!("/v2/{EP}/job-take/a?gpu=LOCAL&job_in_progress=1"))
        .await;
    assert_eq!(third["id"], ids[2]);
    assert!(h.take("c").await.is_none());
    let status = h.job(&ids[1]).await;
    assert_eq!(status["status"], "IN_PROGRESS");
    assert_eq!(status["workerId"], "b");
}

#[tokio::test]
async fn job_take_batch_returns_up_to_batch_size_jobs() {
    let h = Harness::start().await;
    let ids: Vec<String> = [
        h.run(json!(1)).await,
        h.run(json!(2)).await,
        h.run(json!(3)).await,
    ]
    .into();
    let path =
        |n: &str| format!("/v2/{EP}/job-take-batch/w?gpu=LOCAL&batch_size={n}&job_in_progress=0");
    let (status, batch) = h.get(&path("2")).await;
    assert_eq!(status, StatusCode::OK);
    let got: Vec<&str> = batch
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].as_str(), ids[1].as_str()]);
    let (_, batch) = h.get(&path("5")).await;
    assert_eq!(
        batch.as_array().unwrap().len(),
        1,
        "answers with what there is"
    );
    assert_eq!(batch[0]["id"], ids[2]);
    let (status, _) = h.get(&path("3")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for bad in ["0", "-1", "many"] {
        let (status, body) = h.get(&path(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].as_str().unwrap().contains("batch_size"));
    }
}

#[tokio::test]
async fn job_done_accepts_the_python_workers_form_labelled_json() {
    let h = Harness::start().await;
    let id = h.run(json!({"a": 1})).await;
    h.take_expect("worker-abc", &id).await;
    // Byte for byte what runpod-python 1.12 sends (§4.7 of the capture), non-ASCII included.
    let body = r#"{"output": "plain string ünïcode"}"#;
    let request = h
        .http
        .post(h.url(&format!(
            "/v2/{EP}/job-done/worker-abc/{id}?gpu=LOCAL&isStream=false"
        )))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", "local")
        .header("X-Request-ID", id.as_str())
        .header("charset", "utf-8")
        .body(body);
    let (status, _) = h.send(request).await;
    assert_eq!(status, StatusCode::OK);
    let job = h.job(&id).await;
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job["output"], "plain string ünïcode");
}

#[tokio::test]
async fn a_failed_job_keeps_its_error_exactly_as_sent() {
    let h = Harness::start().await;
    let python_error = r#"{"error_type": "<class 'ValueError'>", "error_message": "bad input!", "error_traceback": "Traceback ...", "hostname": "h", "worker_id": "w", "runpod_version": "1.12.0"}"#;
    let raised = h.run(json!(1)).await;
    h.take_expect("w", &raised).await;
    h.done("w", &raised, json!({"error": python_error})).await;
    let job = h.job(&raised).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["error"], python_error);
    assert!(job.get("output").is_none());

    let structured = h.run(json!(2)).await;
    h.take_expect("w", &structured).await;
    h.done(
        "w",
        &structured,
        json!({"output": {"extra": 1}, "error": {"code": 7}}),
    )
    .await;
    let job = h.job(&structured).await;
    assert_eq!(
        (job["status"].clone(), job["error"].clone()),
        (json!("FAILED"), json!({"code": 7}))
    );
    assert_eq!(job["output"], json!({"extra": 1}));
}

#[tokio::test]
async fn null_and_missing_outputs_are_told_apart() {
    let h = Harness::start().await;
    let null = h.run(json!(1)).await;
    h.take_expect("w", &null).await;
    h.done("w", &null, json!({"output": null})).await;
    let job = h.job(&null).await;
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job.get("output"), Some(&Value::Null));

    let empty = h.run(json!(2)).await;
    h.take_expect("w", &empty).await;
    h.done("w", &empty, json!({})).await;
    let job = h.job(&empty).await;
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job.get("output"), None);
}

#[tokio::test]
async fn progress_updates_are_the_output_while_in_progress() {
    let h = Harness::start().await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    let (status, _) = h
        .done(
            "w",
            &id,
            json!({"status": "IN_PROGRESS", "output": {"pct": 50}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let job = h.job(&id).await;
    assert_eq!(
        (job["status"].clone(), job["output"].clone()),
        (json!("IN_PROGRESS"), json!({"pct": 50}))
    );
    h.done("w", &id, json!({"output": {"done": true}})).await;
    let job = h.job(&id).await;
    assert_eq!(
        (job["status"].clone(), job["output"].clone()),
        (json!("COMPLETED"), json!({"done": true}))
    );
    // A late progress update (the Python SDK sends them unordered) changes nothing.
    let (status, body) = h
        .done(
            "w",
            &id,
            json!({"status": "IN_PROGRESS", "output": {"pct": 99}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        format!("job {id} is not held by worker w: it is already COMPLETED")
    );
    assert_eq!(h.job(&id).await["output"], json!({"done": true}));
}

#[tokio::test]
async fn results_from_workers_that_do_not_hold_the_job_are_refused() {
    let h = Harness::start().await;
    let held = h.run(json!(1)).await;
    let queued = h.run(json!(2)).await;
    h.take_expect("owner", &held).await;

    let (status, body) = h.done("intruder", &held, json!({"output": "mine"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        format!("job {held} is not held by worker intruder: another worker runs it")
    );
    let (status, body) = h.chunk("intruder", &held, json!({"output": "x"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = h.done("owner", &queued, json!({"output": "early"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        format!("job {queued} is not held by worker owner: it is waiting in the queue")
    );
    let (status, body) = h.done("owner", "no-such-job", json!({"output": 1})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"error": "job no-such-job not found"})
        )
    );

    assert_eq!(h.job(&held).await["status"], "IN_PROGRESS");
    assert_eq!(h.job(&queued).await["status"], "IN_QUEUE");
    let (status, _) = h.done("owner", &held, json!({"output": "ok"})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_worker_bodies_are_refused_and_the_job_keeps_running() {
    let h = Harness::start().await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    let url = h.url(&format!("/v2/{EP}/job-done/w/{id}?isStream=false"));
    for body in ["{oops", "", "\"just a string\""] {
        let (status, answer) = h.send(h.http.post(&url).body(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {answer}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(h.job(&id).await["status"], "IN_PROGRESS");
}

#[tokio::test]
async fn ping_accepts_the_python_parameters_and_registers_the_worker() {
    let h = Harness::start().await;
    let (status, _) = h.ping("w1", &["a", "b"]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .get(&format!("/v2/{EP}/ping/w2?gpu=TEST&status=unhealthy&check=_memory_check&reason=x&runpod_version=1.12.0"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // A worker that reported a failed check counts as unhealthy, not idle.
    assert_eq!(
        h.health().await["workers"],
        json!({"idle": 1, "running": 0, "unhealthy": 1})
    );
}

#[tokio::test(start_paused = true)]
async fn job_stop_holds_then_answers_204_when_nothing_is_to_stop() {
    let h = Harness::with(runpod_local::Server::builder().hold_time(Duration::from_secs(4))).await;
    let started = Instant::now();
    assert!(h.stop_signals("w").await.is_empty());
    assert_eq!(started.elapsed().as_secs(), 4);
}

#[tokio::test]
async fn stop_pod_is_accepted_with_the_result() {
    let h = Harness::start().await;
    let id = h.run(json!(1)).await;
    h.take_expect("w", &id).await;
    let (status, _) = h
        .done("w", &id, json!({"output": {"ok": true}, "stopPod": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let job = h.job(&id).await;
    assert_eq!(
        (job["status"].clone(), job["output"].clone()),
        (json!("COMPLETED"), json!({"ok": true}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_complete_every_job_exactly_once() {
    let h = Harness::start().await;
    let mut ids = Vec::new();
    for n in 0..200 {
        ids.push(h.run(json!(n)).await);
    }
    let url = h.server.base_url();
    let workers = (0..4).map(|w| {
        let http = h.http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let response = http
                    .get(format!(
                        "{url}/v2/{EP}/job-take-batch/w{w}?batch_size=3&job_in_progress=0"
                    ))
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::NO_CONTENT {
                    return done;
                }
                let jobs: Vec<Value> = response.json().await.unwrap();
                for job in jobs {
                    let id = job["id"].as_str().unwrap().to_owned();
                    let response = http
                        .post(format!("{url}/v2/{EP}/job-done/w{w}/{id}?isStream=false"))
                        .json(&json!({"output": job["input"]}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    done.push(id);
                }
            }
        })
    });
    let mut finished = Vec::new();
    for worker in workers.collect::<Vec<_>>() {
        finished.extend(worker.await.unwrap());
    }
    finished.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(finished, expected, "each job ran exactly once");
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(h.job(id).await["output"], json!(n));
    }
}
