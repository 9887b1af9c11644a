//! Ids in URLs: every entry point that takes an endpoint or job id sends it as exactly one path
//! segment (asserted on the path the server receives), and refuses the ids that no encoding
//! makes one segment (empty, `.`, `..`, percent-encoded dots) before anything is sent.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use httpmock::{HttpMockRequest, MockServer};
use runpod_serverless::{Endpoint, Result};
use serde_json::json;

use crate::support::{EP, client};

/// The raw paths (still percent-encoded) of every request the server got.
#[derive(Clone, Default)]
struct Paths(Arc<Mutex<Vec<String>>>);

impl Paths {
    async fn serve(server: &MockServer) -> Self {
        let paths = Self::default();
        let seen = Arc::clone(&paths.0);
        server
            .mock_async(move |when, then| {
                when.is_true(move |req: &HttpMockRequest| {
                    seen.lock().unwrap().push(req.uri().path().to_owned());
                    true
                });
                // Decodes as a job state and as a stream answer; the URL is what is tested.
                then.status(200).json_body(
                    json!({"id": "x", "status": "COMPLETED", "output": 1, "stream": []}),
                );
            })
            .await;
        paths
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

const BAD: [&str; 7] = ["", ".", "..", "%2E", "%2e%2E", ".%2e", "%2E."];

/// Each job entry point once, with its route name.
async fn each_job_call(endpoint: &Endpoint, id: &str) -> Vec<(&'static str, Result<()>)> {
    let job = endpoint.job(id);
    vec![
        ("status", job.status().await.map(drop)),
        ("cancel", job.cancel().await.map(drop)),
        ("retry", job.retry().await.map(drop)),
        (
            "stream",
            job.stream::<serde_json::Value>()
                .next()
                .await
                .map_or(Ok(()), |r| r.map(drop)),
        ),
        ("status-sync", job.wait().await.map(drop)),
    ]
}

#[tokio::test]
async fn job_ids_are_one_segment_in_the_path_the_server_sees() {
    let server = MockServer::start_async().await;
    let paths = Paths::serve(&server).await;
    let endpoint = client(&server).endpoint(EP);
    for (id, escaped) in [
        ("job-1", "job-1"),
        ("a/b", "a%2Fb"),
        ("..a", "..a"),
        ("...", "..."),
        ("%2E%2E%2E", "%252E%252E%252E"),
        ("a?b#c d", "a%3Fb%23c%20d"),
    ] {
        let routes: Vec<_> = each_job_call(&endpoint, id)
            .await
            .into_iter()
            .map(|(route, _)| route)
            .collect();
        let want: Vec<_> = routes
            .iter()
            .map(|route| format!("/v2/{EP}/{route}/{escaped}"))
            .collect();
        assert_eq!(paths.take(), want, "job id {id:?}");
    }
}

#[tokio::test]
async fn dot_and_empty_job_ids_are_refused_before_sending() {
    let server = MockServer::start_async().await;
    let paths = Paths::serve(&server).await;
    let endpoint = client(&server).endpoint(EP);
    for id in BAD {
        for (route, result) in each_job_call(&endpoint, id).await {
            let err = result.expect_err(route);
            assert!(err.is_invalid_input(), "{route} {id:?}: {err}");
        }
        assert_eq!(paths.take(), Vec::<String>::new(), "job id {id:?}");
    }
}

#[tokio::test]
async fn endpoint_ids_are_one_segment_or_refused() {
    let server = MockServer::start_async().await;
    let paths = Paths::serve(&server).await;
    let client = client(&server);
    let calls = |endpoint: Endpoint| async move {
        vec![
            endpoint.health().await.map(drop),
            endpoint.purge_queue().await.map(drop),
            endpoint.run(json!({})).await.map(drop),
            endpoint.run_sync(json!({})).await.map(drop),
            endpoint.job("j1").status().await.map(drop),
        ]
    };
    let routes = ["health", "purge-queue", "run", "runsync", "status/j1"];

    let _ = calls(client.endpoint("ep/1 x")).await;
    let want: Vec<_> = routes
        .iter()
        .map(|r| format!("/v2/ep%2F1%20x/{r}"))
        .collect();
    assert_eq!(paths.take(), want);

    for id in BAD {
        for (route, result) in routes.iter().zip(calls(client.endpoint(id)).await) {
            let err = result.expect_err(route);
            assert!(err.is_invalid_input(), "{route} {id:?}: {err}");
        }
        assert_eq!(paths.take(), Vec::<String>::new(), "endpoint id {id:?}");
    }
}
