//! Batch Jobs (beta): every route, state transition, limit and bad input.

use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::Server;
use serde_json::{Value, json};
use tokio::time::sleep;

use crate::support::{Answer, EP, Harness};

fn inputs(range: std::ops::Range<u64>) -> Value {
    Value::Array(range.map(|i| json!({ "input": { "i": i } })).collect())
}

impl Harness {
    async fn batch_create(&self, body: Value) -> Answer {
        self.post(&format!("/v2/{EP}/batch"), body).await
    }

    /// Creates a batch that must be accepted; returns its id.
    async fn new_batch(&self, body: Value) -> String {
        let (status, batch) = self.batch_create(body).await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        assert_eq!(batch["status"], "DRAFT");
        batch["id"].as_str().unwrap().to_owned()
    }

    async fn batch(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/v2/{EP}/batch/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn batch_post(&self, id: &str, action: &str) -> Answer {
        self.post_empty(&format!("/v2/{EP}/batch/{id}/{action}"))
            .await
    }

    async fn append(&self, id: &str, requests: Value) -> Answer {
        self.post(
            &format!("/v2/{EP}/batch/{id}/requests"),
            json!({ "requests": requests }),
        )
        .await
    }

    async fn page(&self, id: &str, query: &str) -> Answer {
        self.get(&format!("/v2/{EP}/batch/{id}/requests?{query}"))
            .await
    }

    /// Takes and answers every job the worker gets until none is left.
    async fn work_all(&self, worker: &str, answer: impl Fn(&Value) -> Value) -> Vec<Value> {
        let mut taken = Vec::new();
        while let Some(job) = self.take(worker).await {
            let id = job["id"].as_str().unwrap().to_owned();
            let (status, _) = self.done(worker, &id, answer(&job)).await;
            assert_eq!(status, StatusCode::OK);
            taken.push(job);
        }
        taken
    }
}

fn counts(batch: &Value) -> (u64, u64, u64) {
    (
        batch["requestTotal"].as_u64().unwrap(),
        batch["requestCompleted"].as_u64().unwrap(),
        batch["requestFailed"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn draft_append_rename_remove_finalize_then_jobs_carry_the_batch_id() {
    let h = Harness::start().await;
    let (status, created) = h.batch_create(inputs(0..2)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "DRAFT");
    assert_eq!(created["requestIds"].as_array().unwrap().len(), 2);
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, appended) = h.append(&id, inputs(2..5)).await;
    assert_eq!(status, StatusCode::OK, "{appended}");
    assert_eq!(appended["requestTotal"], 5);
    let added = appended["requestIds"].as_array().unwrap().clone();
    assert_eq!(added.len(), 3);

    let (status, renamed) = h
        .send(
            h.http
                .put(h.url(&format!("/v2/{EP}/batch/{id}")))
                .json(&json!({"name": "nightly", "owner": "ci"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "nightly");
    assert_eq!(renamed["owner"], "ci", "unknown attributes are kept");

    // Remove the request holding input 3.
    let removed = added[1].as_str().unwrap();
    let (status, after) = h
        .send(
            h.http
                .delete(h.url(&format!("/v2/{EP}/batch/{id}/requests/{removed}"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["requestTotal"], 4);

    // While a DRAFT, the requests are listed with their inputs (for reconciliation) as PENDING,
    // and no job exists: a worker finds nothing.
    let (_, page) = h.page(&id, "").await;
    let listed: Vec<Value> = page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "PENDING");
            r["input"]["i"].clone()
        })
        .collect();
    assert_eq!(listed, [json!(0), json!(1), json!(2), json!(4)]);
    assert!(h.take("w").await.is_none());

    let (status, finalized) = h.batch_post(&id, "finalize").await;
    assert_eq!(status, StatusCode::OK, "{finalized}");
    assert_eq!(finalized["status"], "FINALIZED");
    assert!(finalized["finalizedAt"].is_string());
    assert_eq!(counts(&finalized), (4, 0, 0));
    assert_eq!(finalized["requestInQueue"], 4);

    // The requests run as ordinary jobs, in order, each with batchId.
    let taken = h
        .work_all("w", |job| json!({"output": job["input"].clone()}))
        .await;
    assert_eq!(taken.len(), 4);
    for (job, want) in taken.iter().zip([0, 1, 2, 4]) {
        assert_eq!(job["batchId"], id.as_str());
        assert_eq!(job["input"]["i"], want);
        // Each request's job is reachable through /status under the request id.
        assert_eq!(
            h.job(job["id"].as_str().unwrap()).await["status"],
            "COMPLETED"
        );
    }
    let done = h.batch(&id).await;
    assert_eq!(counts(&done), (4, 4, 0));
    assert_eq!(done["status"], "FINALIZED", "there is no COMPLETED state");

    let (_, page) = h.page(&id, "offset=0&limit=10").await;
    assert_eq!(page["hasMore"], false);
    for (request, want) in page["requests"]
        .as_array()
        .unwrap()
        .iter()
        .zip([0, 1, 2, 4])
    {
        assert_eq!(request["status"], "COMPLETED");
        assert_eq!(request["output"]["i"], want);
        assert!(
            request.get("input").is_none(),
            "inputs are listed only while a DRAFT"
        );
    }
}

#[tokio::test]
async fn pages_follow_offset_and_limit_with_has_more() {
    let h = Harness::start().await;
    let id = h.new_batch(inputs(0..7)).await;
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let (status, page) = h.page(&id, &format!("offset={offset}&limit=3")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["requests"].as_array().unwrap();
        assert_eq!(page["offset"], offset);
        assert_eq!(page["total"], 7);
        seen.extend(items.iter().map(|r| r["input"]["i"].as_u64().unwrap()));
        offset += items.len();
        if page["hasMore"] == false {
            break;
        }
        assert_eq!(items.len(), 3);
    }
    assert_eq!(seen, (0..7).collect::<Vec<_>>());
    // Past the end: an empty page without more.
    let (_, page) = h.page(&id, "offset=100").await;
    assert_eq!(page["requests"], json!([]));
    assert_eq!(page["hasMore"], false);
}

#[tokio::test]
async fn failures_count_and_a_batch_whose_every_request_failed_is_failed() {
    let h = Harness::start().await;
    let mixed = h.new_batch(inputs(0..4)).await;
    h.batch_post(&mixed, "finalize").await;
    h.work_all("w", |job| {
        if job["input"]["i"].as_u64().unwrap() % 2 == 0 {
            json!({"output": "ok"})
        } else {
            json!({"error": "odd"})
        }
    })
    .await;
    let batch = h.batch(&mixed).await;
    assert_eq!(counts(&batch), (4, 2, 2));
    assert_eq!(batch["status"], "FINALIZED");
    let (_, page) = h.page(&mixed, "").await;
    assert_eq!(page["requests"][1]["status"], "FAILED");
    assert_eq!(page["requests"][1]["error"], "odd");

    let failing = h.new_batch(inputs(0..2)).await;
    h.batch_post(&failing, "finalize").await;
    h.work_all("w", |_| json!({"error": "boom"})).await;
    let batch = h.batch(&failing).await;
    assert_eq!(counts(&batch), (2, 0, 2));
    assert_eq!(batch["status"], "FAILED");
}

#[tokio::test]
async fn cancel_stops_queued_jobs_running_ones_finish_and_the_batch_is_closed() {
    let h = Harness::start().await;
    let id = h.new_batch(inputs(0..3)).await;
    h.batch_post(&id, "finalize").await;
    let running = h.take("w").await.unwrap();
    let running_id = running["id"].as_str().unwrap().to_owned();

    let (status, cancelled) = h.batch_post(&id, "cancel").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(counts(&cancelled), (3, 0, 2));
    assert_eq!(cancelled["requestInProgress"], 1);
    assert!(
        h.take("w2").await.is_none(),
        "cancelled jobs are not handed out"
    );

    let (status, _) = h.done("w", &running_id, json!({"output": "late"})).await;
    assert_eq!(status, StatusCode::OK);
    let batch = h.batch(&id).await;
    assert_eq!(counts(&batch), (3, 1, 2));
    assert_eq!(batch["status"], "CANCELLED");

    // Cancelling again changes nothing; a closed batch refuses requests and finalize.
    let (status, again) = h.batch_post(&id, "cancel").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counts(&again), (3, 1, 2));
    let (status, body) = h.append(&id, inputs(0..1)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("CANCELLED"),
        "{body}"
    );
    let (status, _) = h.batch_post(&id, "finalize").await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_cancelled_draft_never_runs_and_a_finalized_batch_refuses_changes() {
    let h = Harness::start().await;
    let draft = h.new_batch(inputs(0..2)).await;
    let (_, cancelled) = h.batch_post(&draft, "cancel").await;
    assert_eq!(cancelled["status"], "CANCELLED");
    let (status, _) = h.batch_post(&draft, "finalize").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(h.take("w").await.is_none());
    let (_, page) = h.page(&draft, "").await;
    assert_eq!(page["requests"][0]["status"], "CANCELLED");

    let live = h.new_batch(inputs(0..1)).await;
    let (_, finalized) = h.batch_post(&live, "finalize").await;
    let request = h.page(&live, "").await.1["requests"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (status, body) in [
        h.batch_post(&live, "finalize").await,
        h.append(&live, inputs(0..1)).await,
        h.send(
            h.http
                .delete(h.url(&format!("/v2/{EP}/batch/{live}/requests/{request}"))),
        )
        .await,
    ] {
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("only a DRAFT"),
            "{body}"
        );
    }
    assert_eq!(counts(&h.batch(&live).await), counts(&finalized));

    // A single child cancelled through /cancel counts as failed.
    h.post_empty(&format!("/v2/{EP}/cancel/{request}")).await;
    assert_eq!(counts(&h.batch(&live).await), (1, 0, 1));
}

#[tokio::test]
async fn list_is_newest_first_and_unknown_batches_are_404() {
    let h = Harness::start().await;
    let first = h.new_batch(json!([])).await;
    let second = h.new_batch(json!([])).await;
    let (status, list) = h.get(&format!("/v2/{EP}/batch")).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    let (status, list) = h.get("/v2/other-endpoint/batch").await;
    assert_eq!((status, list), (StatusCode::OK, json!({"batches": []})));

    for (status, body) in [
        h.get(&format!("/v2/{EP}/batch/nope")).await,
        h.batch_post("nope", "finalize").await,
        h.batch_post("nope", "cancel").await,
        h.append("nope", inputs(0..1)).await,
        h.page("nope", "").await,
    ] {
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"], "batch nope not found");
    }
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_changes_nothing() {
    let h = Harness::start().await;
    let id = h.new_batch(inputs(0..2)).await;
    let batch_path = format!("/v2/{EP}/batch/{id}");
    let cases: Vec<(Answer, StatusCode, &str)> = vec![
        (
            h.batch_create(json!({"input": 1})).await,
            StatusCode::BAD_REQUEST,
            "must be a JSON array",
        ),
        (
            h.send(
                h.http
                    .post(h.url(&format!("/v2/{EP}/batch")))
                    .body("[{\"input\": "),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            h.batch_create(json!([{"input": 1}, {"nope": 2}])).await,
            StatusCode::BAD_REQUEST,
            "request 1: job request has no `input` field",
        ),
        (
            h.batch_create(json!([1])).await,
            StatusCode::BAD_REQUEST,
            "request 0 must be an object",
        ),
        (
            h.append(&id, json!([{"input": 1, "policy": {"ttl": -5}}]))
                .await,
            StatusCode::BAD_REQUEST,
            "policy.ttl must be a positive",
        ),
        (
            h.post(&format!("{batch_path}/requests"), json!({"inputs": []}))
                .await,
            StatusCode::BAD_REQUEST,
            "append body must be",
        ),
        (
            h.send(h.http.put(h.url(&batch_path)).json(&json!({"name": 5})))
                .await,
            StatusCode::BAD_REQUEST,
            "`name` must be a string",
        ),
        (
            h.send(
                h.http
                    .put(h.url(&batch_path))
                    .json(&json!({"status": "FINALIZED"})),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "`status` cannot be changed",
        ),
        (
            h.send(h.http.delete(h.url(&format!("{batch_path}/requests/nope"))))
                .await,
            StatusCode::NOT_FOUND,
            "has no request nope",
        ),
        (
            h.page(&id, "limit=0").await,
            StatusCode::BAD_REQUEST,
            "`limit` must be at least 1",
        ),
        (
            h.page(&id, "offset=-1").await,
            StatusCode::BAD_REQUEST,
            "`offset` must be a non-negative integer",
        ),
    ];
    for ((status, body), want_status, want) in cases {
        assert_eq!(status, want_status, "{body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(want), "{message:?} lacks {want:?}");
    }
    // Nothing was created or changed by any of them.
    let (_, list) = h.get(&format!("/v2/{EP}/batch")).await;
    assert_eq!(list["batches"].as_array().unwrap().len(), 1);
    let batch = h.batch(&id).await;
    assert_eq!(batch["status"], "DRAFT");
    assert_eq!(batch["requestTotal"], 2);
    assert!(batch.get("name").is_none());
}

#[tokio::test]
async fn a_batch_holds_at_most_5000_requests_all_or_nothing() {
    let h = Harness::start().await;
    let id = h.new_batch(inputs(0..4_999)).await;
    let (status, body) = h.append(&id, inputs(0..2)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("at most 5000"),
        "{body}"
    );
    assert_eq!(h.batch(&id).await["requestTotal"], 4_999);
    let (status, body) = h.append(&id, inputs(0..1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requestTotal"], 5_000);
    let (status, _) = h.batch_create(inputs(0..5_001)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_append_over_10_mib_is_refused_and_adds_nothing() {
    let h = Harness::start().await;
    let id = h.new_batch(json!([])).await;
    let big = "x".repeat(1024 * 1024);
    let over: Vec<Value> = (0..10).map(|_| json!({"input": big})).collect();
    let (status, body) = h.append(&id, Value::Array(over)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("10 MB"), "{body}");
    let under: Vec<Value> = (0..9).map(|_| json!({"input": big})).collect();
    let (status, body) = h.append(&id, Value::Array(under)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requestTotal"], 9);
}

#[tokio::test]
async fn ten_active_batches_per_endpoint_and_a_done_batch_frees_its_place() {
    let h = Harness::start().await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(h.new_batch(inputs(0..1)).await);
    }
    let (status, body) = h.batch_create(json!([])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("10 active batches"),
        "{body}"
    );
    // Other endpoints are not affected.
    let (status, _) = h.post("/v2/other/batch", json!([])).await;
    assert_eq!(status, StatusCode::OK);
    // A finished batch no longer counts.
    h.batch_post(&ids[0], "finalize").await;
    h.work_all("w", |_| json!({"output": 1})).await;
    h.new_batch(json!([])).await;
    let (status, _) = h.batch_create(json!([])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn finalize_refuses_to_queue_more_than_50000_jobs_per_endpoint() {
    let h = Harness::start().await;
    h.run(json!("already queued")).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(h.new_batch(inputs(0..5_000)).await);
    }
    for id in &ids[..9] {
        let (status, body) = h.batch_post(id, "finalize").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = h.batch_post(&ids[9], "finalize").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("at most 50000"),
        "{body}"
    );
    let last = h.batch(&ids[9]).await;
    assert_eq!(last["status"], "DRAFT");
    assert_eq!(h.health().await["jobs"]["inQueue"], 45_001);
}

#[tokio::test(start_paused = true)]
async fn batches_expire_with_their_jobs() {
    let h = Harness::with(
        Server::builder()
            // The test's clock jumps by 30 s and more; a read timeout longer than the jumps
            // keeps the client's pooled connection from being closed under it mid-request.
            .limits(runpod_local::Limits::default().read_timeout(Duration::from_secs(7_200)))
            .hold_time(Duration::from_millis(100))
            .result_retention(Duration::from_secs(60))
            .default_ttl(Duration::from_secs(3600)),
    )
    .await;
    let done = h.new_batch(inputs(0..2)).await;
    h.batch_post(&done, "finalize").await;
    h.work_all("w", |_| json!({"output": 1})).await;
    let draft = h.new_batch(inputs(0..1)).await;
    let cancelled = h.new_batch(inputs(0..1)).await;
    h.batch_post(&cancelled, "cancel").await;

    sleep(Duration::from_secs(30)).await;
    assert_eq!(counts(&h.batch(&done).await), (2, 2, 0));
    sleep(Duration::from_secs(31)).await;
    // The jobs' results expired, so did the batch; so did the cancelled draft (same retention).
    let (status, _) = h.get(&format!("/v2/{EP}/batch/{done}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h.get(&format!("/v2/{EP}/batch/{cancelled}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A DRAFT lives as long as a queued job: the default ttl.
    assert_eq!(h.batch(&draft).await["status"], "DRAFT");
    sleep(Duration::from_secs(3600)).await;
    let (status, _) = h.get(&format!("/v2/{EP}/batch/{draft}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_ttl_ends_in_the_queue_counts_as_failed() {
    let h = Harness::with(Server::builder().hold_time(Duration::from_millis(100))).await;
    let id = h
        .new_batch(json!([{"input": 1, "policy": {"ttl": 10_000}}, {"input": 2}]))
        .await;
    h.batch_post(&id, "finalize").await;
    sleep(Duration::from_secs(11)).await;
    let batch = h.batch(&id).await;
    assert_eq!(counts(&batch), (2, 0, 1));
    let (_, page) = h.page(&id, "").await;
    assert_eq!(page["requests"][0]["status"], "FAILED");
    assert!(
        page["requests"][0]["error"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    assert_eq!(page["requests"][1]["status"], "IN_QUEUE");
}
