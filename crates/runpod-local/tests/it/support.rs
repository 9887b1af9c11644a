//! A server on loopback plus a raw HTTP client speaking both sides of the protocol.

use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::{RunningServer, Server, ServerBuilder};
use serde_json::{Value, json};

pub(crate) const EP: &str = "ep";

pub(crate) struct Harness {
    pub(crate) server: RunningServer,
    pub(crate) http: reqwest::Client,
}

/// A status code and the JSON body (`Null` when the body is empty).
pub(crate) type Answer = (StatusCode, Value);

impl Harness {
    /// A server with a short hold time, so empty long polls end quickly.
    pub(crate) async fn start() -> Self {
        Self::with(Server::builder().hold_time(Duration::from_millis(500))).await
    }

    pub(crate) async fn with(builder: ServerBuilder) -> Self {
        let server = builder.bind("127.0.0.1:0").await.unwrap();
        Self {
            server,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        (status, body)
    }

    // Plain fns returning the future, so a `&format!(..)` path need not outlive the call.
    pub(crate) fn get(&self, path: &str) -> impl Future<Output = Answer> + '_ {
        self.send(self.http.get(self.url(path)))
    }

    pub(crate) fn post(&self, path: &str, body: Value) -> impl Future<Output = Answer> + '_ {
        self.send(self.http.post(self.url(path)).json(&body))
    }

    pub(crate) fn post_empty(&self, path: &str) -> impl Future<Output = Answer> + '_ {
        self.send(self.http.post(self.url(path)))
    }

    /// `/run` with `{"input": input}`; returns the job id.
    pub(crate) async fn run(&self, input: Value) -> String {
        self.run_request(json!({ "input": input })).await
    }

    pub(crate) async fn run_request(&self, request: Value) -> String {
        let (status, body) = self.post(&format!("/v2/{EP}/run"), request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "IN_QUEUE");
        body["id"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn status(&self, job: &str) -> Answer {
        self.get(&format!("/v2/{EP}/status/{job}")).await
    }

    /// The status body of a job that must exist.
    pub(crate) async fn job(&self, job: &str) -> Value {
        let (status, body) = self.status(job).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub(crate) async fn health(&self) -> Value {
        let (status, body) = self.get(&format!("/v2/{EP}/health")).await;
        assert_eq!(status, StatusCode::OK);
        body
    }

    /// One job-take as the Python worker sends it; `None` on 204.
    pub(crate) async fn take(&self, worker: &str) -> Option<Value> {
        let (status, body) = self
            .get(&format!(
                "/v2/{EP}/job-take/{worker}?gpu=LOCAL&job_in_progress=0"
            ))
            .await;
        match status {
            StatusCode::OK => Some(body),
            StatusCode::NO_CONTENT => None,
            other => panic!("job-take answered {other}: {body}"),
        }
    }

    /// Takes the next job, which must be `expected`.
    pub(crate) async fn take_expect(&self, worker: &str, expected: &str) -> Value {
        let job = self.take(worker).await.expect("a job to take");
        assert_eq!(job["id"], expected);
        job
    }

    pub(crate) async fn done(&self, worker: &str, job: &str, body: Value) -> Answer {
        self.post(
            &format!("/v2/{EP}/job-done/{worker}/{job}?gpu=LOCAL&isStream=false"),
            body,
        )
        .await
    }

    pub(crate) async fn chunk(&self, worker: &str, job: &str, body: Value) -> Answer {
        self.post(
            &format!("/v2/{EP}/job-stream/{worker}/{job}?gpu=LOCAL&isStream=false"),
            body,
        )
        .await
    }

    pub(crate) async fn ping(&self, worker: &str, jobs: &[&str]) -> Answer {
        let mut path = format!("/v2/{EP}/ping/{worker}?gpu=LOCAL");
        if !jobs.is_empty() {
            path.push_str(&format!("&job_id={}", jobs.join("%2C")));
        }
        path.push_str("&runpod_version=1.12.0");
        self.get(&path).await
    }

    /// One job-stop long poll; the ids to stop, empty on 204.
    pub(crate) async fn stop_signals(&self, worker: &str) -> Vec<String> {
        let (status, body) = self
            .get(&format!("/v2/{EP}/job-stop/{worker}?gpu=LOCAL"))
            .await;
        match status {
            StatusCode::NO_CONTENT => Vec::new(),
            StatusCode::OK => serde_json::from_value(body["jobsToStop"].clone()).unwrap(),
            other => panic!("job-stop answered {other}: {body}"),
        }
    }
}

/// Milliseconds of a JSON field that must be an integer.
pub(crate) fn ms(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a millisecond count: {value}"))
}
