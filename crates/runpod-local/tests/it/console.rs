//! The console (feature `console`): its page, its JSON API under `/_local/v1/`, its live feed,
//! its fault switches and its key check, against a real server on loopback.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use runpod_local::{FaultConfig, Server};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::support::{EP, Harness};

/// A reader of `GET /_local/v1/events`.
struct Feed {
    response: reqwest::Response,
    buffer: String,
}

/// One server-sent event: its name and its data parsed as JSON.
#[derive(Debug)]
struct Event {
    name: String,
    data: Value,
}

impl Feed {
    async fn open(h: &Harness, key: Option<&str>) -> Self {
        let mut request = h.http.get(h.url("/_local/v1/events"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/event-stream; charset=utf-8"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or `None` when `wait` runs out.
    async fn next(&mut self, wait: Duration) -> Option<Event> {
        let deadline = Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                if let Some(name) = name {
                    let data = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("event {name}: bad data ({e}): {data}"));
                    return Some(Event { name, data });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Job changes until `done` says so, in the order received.
    async fn jobs_until(
        &mut self,
        wait: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        while !done(&seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(event) = self.next(left).await else {
                panic!("no more events; job changes so far: {seen:?}");
            };
            if event.name == "jobs" {
                seen.extend(event.data.as_array().unwrap().iter().cloned());
            }
        }
        seen
    }
}

/// The states a job went through in the feed's changes, in order.
fn states_of<'a>(changes: &'a [Value], id: &str) -> Vec<&'a str> {
    changes
        .iter()
        .filter(|c| c["id"] == id)
        .map(|c| c["state"].as_str().unwrap())
        .collect()
}

async fn overview(h: &Harness) -> Value {
    let (status, body) = h.get("/_local/v1/overview").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn detail(h: &Harness, job: &str) -> Value {
    let (status, body) = h.get(&format!("/_local/v1/jobs/{EP}/{job}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The Python worker's error: a JSON document inside a string.
fn python_error() -> String {
    json!({
        "error_type": "<class 'ValueError'>",
        "error_message": "prompt is empty",
        "error_traceback": "Traceback (most recent call last):\n  File \"handler.py\", line 3\nValueError: prompt is empty",
        "hostname": "local",
    })
    .to_string()
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_types_and_revalidation() {
    let h = Harness::with(Server::builder().api_key("k")).await;
    for (path, kind) in [
        ("/", "text/html; charset=utf-8"),
        ("/_local/assets/app.js", "text/javascript; charset=utf-8"),
        ("/_local/assets/app.css", "text/css; charset=utf-8"),
    ] {
        // No key needed: the page holds no data.
        let response = h.http.get(h.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[CONTENT_TYPE], kind, "{path}");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-cache", "{path}");
        let etag = response.headers()[ETAG].clone();
        assert!(!response.text().await.unwrap().is_empty(), "{path}");
        let again = h
            .http
            .get(h.url(path))
            .header(IF_NONE_MATCH, etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()[ETAG], etag);
    }
    let page = h
        .http
        .get(h.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/_local/assets/app.js"), "{page}");
    let (status, body) = h.get("/_local/assets/other.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().unwrap().contains("other.js"),
        "{body}"
    );
}

#[tokio::test]
async fn with_a_key_no_job_data_is_served_without_it() {
    let h = Harness::with(Server::builder().api_key("secret")).await;
    let run = h
        .http
        .post(h.url(&format!("/v2/{EP}/run")))
        .bearer_auth("secret")
        .json(&json!({ "input": { "private": true } }))
        .send()
        .await
        .unwrap();
    let id = run.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paths = [
        "/_local/v1/overview".to_owned(),
        "/_local/v1/jobs".to_owned(),
        format!("/_local/v1/jobs/{EP}/{id}"),
        "/_local/v1/events".to_owned(),
    ];
    for path in &paths {
        for key in [None, Some("wrong")] {
            let mut request = h.http.get(h.url(path));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let (status, body) = h.send(request).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with {key:?}");
            assert!(
                body["error"].as_str().unwrap().contains("API key"),
                "{body}"
            );
            assert!(!body.to_string().contains("private"));
        }
    }
    let (status, _) = h
        .send(
            h.http
                .post(h.url("/_local/v1/faults/0"))
                .json(&json!({ "enabled": false })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for path in &paths[..3] {
        let (status, body) = h.send(h.http.get(h.url(path)).bearer_auth("secret")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, overview) = h
        .send(
            h.http
                .get(h.url("/_local/v1/overview"))
                .bearer_auth("secret"),
        )
        .await;
    assert_eq!(overview["auth_required"], true);
    let (_, detail) = h
        .send(
            h.http
                .get(h.url(&format!("/_local/v1/jobs/{EP}/{id}")))
                .bearer_auth("secret"),
        )
        .await;
    assert_eq!(detail["input"], json!({ "private": true }));
    let mut feed = Feed::open(&h, Some("secret")).await;
    assert_eq!(
        feed.next(Duration::from_secs(5)).await.unwrap().name,
        "overview"
    );
}

#[tokio::test]
async fn overview_counts_states_and_lists_workers_timings_and_faults() {
    let faults = FaultConfig::new().rule("purge-queue:5xx=1").unwrap();
    let h = Harness::with(
        Server::builder()
            .hold_time(Duration::from_millis(200))
            .faults(faults),
    )
    .await;
    let empty = overview(&h).await;
    assert_eq!(empty["version"], 1);
    assert_eq!(empty["auth_required"], false);
    assert_eq!(empty["endpoints"], json!([]));
    assert_eq!(
        empty["faults"],
        json!([{ "index": 0, "rule": "purge-queue:5xx=1", "enabled": true }])
    );

    let done = h.run(json!({ "n": 1 })).await;
    let failed = h.run(json!({ "n": 2 })).await;
    let running = h.run(json!({ "n": 3 })).await;
    let cancelled = h.run(json!({ "n": 4 })).await;
    let queued = h.run(json!({ "n": 5 })).await;
    h.take_expect("w1", &done).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.done("w1", &done, json!({ "output": "ok" })).await;
    h.take_expect("w1", &failed).await;
    h.done("w1", &failed, json!({ "error": "boom" })).await;
    h.take_expect("w2", &running).await;
    h.post_empty(&format!("/v2/{EP}/cancel/{cancelled}")).await;
    h.ping("w3", &[]).await;
    h.health().await;

    let body = overview(&h).await;
    let endpoints = body["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "{body}");
    let ep = &endpoints[0];
    assert_eq!(ep["id"], EP);
    assert_eq!(
        ep["queue"],
        json!({ "IN_QUEUE": 1, "IN_PROGRESS": 1, "COMPLETED": 1, "FAILED": 1,
                "CANCELLED": 1, "TIMED_OUT": 0 })
    );
    // Three jobs ended within the rate window (completed, failed, cancelled).
    let rate = ep["jobs_per_second"].as_f64().unwrap();
    assert!((rate - 0.3).abs() < 1e-9, "{rate}");
    assert!(ep["execution_ms"]["p99"].as_i64().unwrap() >= 20, "{ep}");
    assert!(ep["delay_ms"]["p50"].is_i64(), "{ep}");
    let workers = ep["workers"].as_array().unwrap();
    let ids: Vec<&str> = workers.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["w1", "w2", "w3"]);
    assert_eq!(workers[1]["kind"], "queue");
    assert_eq!(workers[1]["jobs"], json!([running]));
    assert_eq!(workers[0]["jobs"], json!([]));
    assert!(workers[1]["last_seen_ms_ago"].as_u64().unwrap() < 5_000);
    assert_eq!(workers[1]["health"], Value::Null);
    assert_eq!(ep["batches"], json!([]));
    let _ = queued;

    // A heartbeat reporting a failed fitness check shows.
    h.get(&format!("/v2/{EP}/ping/w3?gpu=LOCAL&status=unhealthy"))
        .await;
    let body = overview(&h).await;
    assert_eq!(
        body["endpoints"][0]["workers"][2]["health"], "unhealthy",
        "{body}"
    );
}

#[tokio::test]
async fn job_details_follow_every_state() {
    let h = Harness::start().await;
    let queued = h.run(json!({ "prompt": "queued" })).await;
    let queued_detail = detail(&h, &queued).await;
    assert_eq!(queued_detail["state"], "IN_QUEUE");
    assert_eq!(queued_detail["input"], json!({ "prompt": "queued" }));
    for field in ["worker", "output", "error", "delay_ms", "execution_ms"] {
        assert_eq!(
            queued_detail[field],
            Value::Null,
            "{field}: {queued_detail}"
        );
    }
    assert_eq!(queued_detail["progress"], json!([]));
    assert_eq!(queued_detail["stream"], json!([]));
    assert_eq!(queued_detail["webhook"], json!([]));
    assert_eq!(queued_detail["retries"], 0);
    assert_eq!(queued_detail["endpoint"], EP);
    assert!(queued_detail["created_ms"].as_u64().unwrap() > 1_600_000_000_000);

    // Running, with progress updates and stream chunks.
    h.take_expect("w", &queued).await;
    h.done(
        "w",
        &queued,
        json!({ "status": "IN_PROGRESS", "output": "25%" }),
    )
    .await;
    h.done(
        "w",
        &queued,
        json!({ "status": "IN_PROGRESS", "output": "50%" }),
    )
    .await;
    for token in ["a", "b", "c"] {
        h.chunk("w", &queued, json!({ "output": { "token": token } }))
            .await;
    }
    let running = detail(&h, &queued).await;
    assert_eq!(running["state"], "IN_PROGRESS");
    assert_eq!(running["worker"], "w");
    assert_eq!(running["output"], "50%");
    let progress: Vec<&Value> = running["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["output"])
        .collect();
    assert_eq!(progress, [&json!("25%"), &json!("50%")]);
    assert!(running["progress"][0]["at_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(
        running["stream"],
        json!([{ "token": "a" }, { "token": "b" }, { "token": "c" }])
    );
    assert!(running["delay_ms"].is_i64());
    // A client reading /stream does not take the chunks away from the console.
    h.get(&format!("/v2/{EP}/stream/{queued}")).await;
    h.done("w", &queued, json!({ "output": { "text": "abc" } }))
        .await;
    let completed = detail(&h, &queued).await;
    assert_eq!(completed["state"], "COMPLETED");
    assert_eq!(completed["output"], json!({ "text": "abc" }));
    assert_eq!(completed["stream"].as_array().unwrap().len(), 3);
    assert!(completed["execution_ms"].is_i64());

    // Failed with the Python worker's error document: laid out as JSON.
    let failing = h.run(json!({ "prompt": "" })).await;
    h.take_expect("w", &failing).await;
    h.done("w", &failing, json!({ "error": python_error() }))
        .await;
    let failed = detail(&h, &failing).await;
    assert_eq!(failed["state"], "FAILED");
    assert_eq!(failed["error"]["error_message"], "prompt is empty");
    assert!(
        failed["error"]["error_traceback"]
            .as_str()
            .unwrap()
            .contains("Traceback")
    );
    // A plain error string stays a string; a retry counts.
    h.post_empty(&format!("/v2/{EP}/retry/{failing}")).await;
    h.take_expect("w", &failing).await;
    h.done("w", &failing, json!({ "error": "plain words" }))
        .await;
    let failed = detail(&h, &failing).await;
    assert_eq!(failed["error"], "plain words");
    assert_eq!(failed["retries"], 1);

    // Cancelled while queued.
    let cancelling = h.run(json!({})).await;
    h.post_empty(&format!("/v2/{EP}/cancel/{cancelling}")).await;
    let cancelled = detail(&h, &cancelling).await;
    assert_eq!(cancelled["state"], "CANCELLED");
    assert_eq!(cancelled["worker"], Value::Null);

    let (status, body) = h.get(&format!("/_local/v1/jobs/{EP}/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");
    let (status, _) = h.get(&format!("/_local/v1/jobs/other/{queued}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn webhook_deliveries_show_in_the_job_detail() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 8192];
            let _ = stream.read(&mut buffer).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let h = Harness::start().await;
    let id = h.run_request(json!({ "input": {}, "webhook": hook })).await;
    h.take_expect("w", &id).await;
    h.done("w", &id, json!({ "output": 1 })).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = detail(&h, &id).await;
        if let Some(attempt) = body["webhook"].as_array().unwrap().first() {
            assert_eq!(attempt["url"], hook.as_str());
            assert_eq!(attempt["status"], 200);
            assert_eq!(attempt["error"], Value::Null);
            assert!(attempt["at_ms"].as_u64().unwrap() > 1_600_000_000_000);
            break;
        }
        assert!(Instant::now() < deadline, "no delivery recorded: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ten_thousand_jobs_filter_and_page_quickly() {
    let h = Harness::start().await;
    let url = h.url(&format!("/v2/{EP}/run"));
    let mut ids = Vec::with_capacity(10_000);
    // In order, 100 at a time: each wave is created after the one before.
    for wave in 0..100 {
        let sends = (0..100).map(|i| {
            h.http
                .post(&url)
                .json(&json!({ "input": { "n": wave * 100 + i } }))
                .send()
        });
        for response in futures_join(sends).await {
            let body: Value = response.unwrap().json().await.unwrap();
            ids.push(body["id"].as_str().unwrap().to_owned());
        }
    }
    let batch = h
        .get(&format!(
            "/v2/{EP}/job-take-batch/w?gpu=LOCAL&batch_size=100"
        ))
        .await;
    assert_eq!(batch.0, StatusCode::OK);
    let taken: Vec<String> = batch
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(taken.len(), 100);

    let (all, elapsed) = timed(&h, "/_local/v1/jobs?limit=50".to_owned()).await;
    #[allow(clippy::print_stderr, reason = "the measured time, for the test log")]
    {
        eprintln!("first page of the job list over 10 000 jobs: {elapsed:?}");
    }
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(all["total"], 10_000);
    assert_eq!(all["jobs"].as_array().unwrap().len(), 50);
    // Newest first: the last wave's jobs lead, and creation times never increase.
    let last_wave: Vec<&str> = ids[9_900..].iter().map(String::as_str).collect();
    for job in all["jobs"].as_array().unwrap() {
        assert!(last_wave.contains(&job["id"].as_str().unwrap()));
    }
    let created: Vec<u64> = all["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["created_ms"].as_u64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");

    // Pages tile the list: no job twice, none missing.
    let mut paged = Vec::new();
    for offset in (0..10_000).step_by(1_000) {
        let (page, elapsed) =
            timed(&h, format!("/_local/v1/jobs?offset={offset}&limit=1000")).await;
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
        assert_eq!(page["offset"], offset);
        paged.extend(
            page["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(paged.len(), 10_000);
    let mut sorted = paged.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 10_000);
    let (beyond, _) = timed(&h, "/_local/v1/jobs?offset=10000".to_owned()).await;
    assert_eq!(beyond["total"], 10_000);
    assert_eq!(beyond["jobs"], json!([]));

    let (running, elapsed) = timed(
        &h,
        "/_local/v1/jobs?state=IN_PROGRESS&limit=1000".to_owned(),
    )
    .await;
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(running["total"], 100);
    let mut running_ids: Vec<String> = running["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    running_ids.sort();
    let mut expected = taken.clone();
    expected.sort();
    assert_eq!(running_ids, expected);
    let (by_worker, _) = timed(&h, "/_local/v1/jobs?worker=w&limit=1".to_owned()).await;
    assert_eq!(by_worker["total"], 100);
    let (queued, _) = timed(
        &h,
        format!("/_local/v1/jobs?state=in_queue,FAILED&endpoint={EP}"),
    )
    .await;
    assert_eq!(queued["total"], 9_900);
    let (elsewhere, _) = timed(&h, "/_local/v1/jobs?endpoint=other".to_owned()).await;
    assert_eq!(elsewhere["total"], 0);
    let needle = &ids[1_234][..13];
    let (found, elapsed) = timed(&h, format!("/_local/v1/jobs?q={needle}")).await;
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["jobs"][0]["id"], ids[1_234].as_str());
    let (bad, body) = h.get("/_local/v1/jobs?limit=lots").await;
    assert_eq!(bad, StatusCode::BAD_REQUEST, "{body}");
}

/// A `GET` that must answer 200: its body and how long it took.
async fn timed(h: &Harness, path: String) -> (Value, Duration) {
    let started = Instant::now();
    let (status, body) = h.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (body, started.elapsed())
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

#[tokio::test]
async fn the_feed_sends_state_changes_in_order() {
    let h = Harness::start().await;
    let mut feed = Feed::open(&h, None).await;
    let first = feed.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.name, "overview");
    assert_eq!(first.data["version"], 1);

    let id = h.run(json!({ "n": 1 })).await;
    let changes = feed
        .jobs_until(Duration::from_secs(5), |seen| {
            !states_of(seen, &id).is_empty()
        })
        .await;
    assert_eq!(states_of(&changes, &id), ["IN_QUEUE"]);
    let change = changes.iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(change["endpoint"], EP);
    assert_eq!(change["worker"], Value::Null);
    assert!(change["at_ms"].as_u64().unwrap() > 1_600_000_000_000);

    h.take_expect("w", &id).await;
    let changes = feed
        .jobs_until(Duration::from_secs(5), |seen| {
            !states_of(seen, &id).is_empty()
        })
        .await;
    assert_eq!(states_of(&changes, &id), ["IN_PROGRESS"]);
    assert_eq!(changes.last().unwrap()["worker"], "w");
    h.done("w", &id, json!({ "output": 2 })).await;
    let changes = feed
        .jobs_until(Duration::from_secs(5), |seen| {
            !states_of(seen, &id).is_empty()
        })
        .await;
    assert_eq!(states_of(&changes, &id), ["COMPLETED"]);

    // A burst within one flush coalesces: each job once, in its latest state, in order.
    let burst: Vec<String> = {
        let mut ids = Vec::new();
        for n in 0..20 {
            ids.push(h.run(json!({ "n": n })).await);
        }
        ids
    };
    for id in &burst[..10] {
        h.post_empty(&format!("/v2/{EP}/cancel/{id}")).await;
    }
    let changes = feed
        .jobs_until(Duration::from_secs(5), |seen| {
            burst[..10]
                .iter()
                .all(|id| states_of(seen, id).last() == Some(&"CANCELLED"))
                && burst[10..].iter().all(|id| !states_of(seen, id).is_empty())
        })
        .await;
    for id in &burst {
        let states = states_of(&changes, id);
        // Queued then cancelled, or (coalesced) only cancelled; never out of order.
        assert!(
            matches!(
                states.as_slice(),
                ["IN_QUEUE"] | ["CANCELLED"] | ["IN_QUEUE", "CANCELLED"]
            ),
            "{id}: {states:?}"
        );
    }

    // A purged job is reported gone.
    let purged = h.run(json!({})).await;
    h.post_empty(&format!("/v2/{EP}/purge-queue")).await;
    let changes = feed
        .jobs_until(Duration::from_secs(5), |seen| {
            states_of(seen, &purged).last() == Some(&"GONE")
        })
        .await;
    assert_eq!(states_of(&changes, &purged).last(), Some(&"GONE"));

    // An overview follows changes within about a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let event = feed
            .next(deadline.saturating_duration_since(Instant::now()))
            .await
            .expect("an overview after the changes");
        if event.name == "overview" && event.data["endpoints"][0]["queue"]["CANCELLED"] == 10 {
            break;
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_gets_resync_and_slows_nothing() {
    let h = Harness::start().await;
    // A raw connection with a bounded receive buffer that reads the headers and then nothing.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut stalled = socket.connect(h.server.local_addr()).await.unwrap();
    stalled
        .write_all(b"GET /_local/v1/events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 512];
    let n = stalled.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));

    // Megabytes of changes while the client sleeps: batches of 5 000 jobs queued, then
    // cancelled (a flush apart, so both changes are published). Reads stay quick throughout.
    let mut changed = 0;
    let mut slowest = Duration::ZERO;
    for round in 0..6 {
        let requests: Vec<Value> = (0..5_000)
            .map(|i| json!({ "input": { "round": round, "i": i } }))
            .collect();
        let (status, batch) = h.post(&format!("/v2/{EP}/batch"), json!(requests)).await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        let id = batch["id"].as_str().unwrap().to_owned();
        let (status, body) = h.post_empty(&format!("/v2/{EP}/batch/{id}/finalize")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let sent = Instant::now();
        let (status, _) = h.get(&format!("/v2/{EP}/health")).await;
        assert_eq!(status, StatusCode::OK);
        slowest = slowest.max(sent.elapsed());
        let (status, body) = h.post_empty(&format!("/v2/{EP}/batch/{id}/cancel")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokio::time::sleep(Duration::from_millis(150)).await;
        changed += 10_000;
    }
    assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    let body = overview(&h).await;
    assert_eq!(body["endpoints"][0]["queue"]["CANCELLED"], changed / 2);

    // Now it reads: somewhere in what it gets is a resync.
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buffer = vec![0u8; 64 * 1024];
    while !String::from_utf8_lossy(&received).contains("event: resync") {
        let n = tokio::time::timeout_at(deadline, stalled.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("no resync in {} bytes", received.len()))
            .unwrap();
        assert!(n > 0, "the feed ended without a resync");
        received.extend_from_slice(&buffer[..n]);
    }
}

#[tokio::test]
async fn fault_rules_switch_off_and_on() {
    let faults = FaultConfig::new()
        .rule("run:5xx=1")
        .unwrap()
        .rule("status:latency=1ms")
        .unwrap();
    let h = Harness::with(Server::builder().faults(faults)).await;
    let run = || async {
        h.post(&format!("/v2/{EP}/run"), json!({ "input": {} }))
            .await
    };
    assert_eq!(run().await.0, StatusCode::SERVICE_UNAVAILABLE);

    let (status, body) = h
        .post("/_local/v1/faults/0", json!({ "enabled": false }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["faults"],
        json!([
            { "index": 0, "rule": "run:5xx=1", "enabled": false },
            { "index": 1, "rule": "status:latency=1ms", "enabled": true },
        ])
    );
    assert_eq!(run().await.0, StatusCode::OK);
    assert_eq!(overview(&h).await["faults"][0]["enabled"], false);

    let (status, _) = h
        .post("/_local/v1/faults/0", json!({ "enabled": true }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run().await.0, StatusCode::SERVICE_UNAVAILABLE);

    let (status, body) = h
        .post("/_local/v1/faults/2", json!({ "enabled": false }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = h.post("/_local/v1/faults/0", json!({ "on": true })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("enabled"),
        "{body}"
    );
    let (status, _) = h
        .post("/_local/v1/faults/x", json!({ "enabled": true }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn runpod_limits_switch_off_like_any_rule() {
    let faults = FaultConfig::new().rule("runpod-limits").unwrap();
    let h = Harness::with(Server::builder().faults(faults)).await;
    // /purge-queue allows 2 per 10 s.
    let purge = || async { h.post_empty(&format!("/v2/{EP}/purge-queue")).await };
    for _ in 0..2 {
        assert_eq!(purge().await.0, StatusCode::OK);
    }
    assert_eq!(purge().await.0, StatusCode::TOO_MANY_REQUESTS);
    let (status, body) = h
        .post("/_local/v1/faults/0", json!({ "enabled": false }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["faults"][0]["rule"], "runpod-limits");
    assert_eq!(purge().await.0, StatusCode::OK);
}
