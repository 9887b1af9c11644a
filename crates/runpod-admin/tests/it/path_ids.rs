//! Ids in URLs: every admin call that takes an id sends it as exactly one path segment
//! (asserted on the path the server receives), and refuses the ids that no encoding makes one
//! segment (empty, `.`, `..`, percent-encoded dots) before anything is sent.

use httpmock::MockServer;
use runpod_admin::{AdminClient, Result};

use crate::support::{Recorder, client};

/// Each id-taking call once, with the path it addresses (`{}` is the escaped id).
async fn each_call(c: &AdminClient, id: &str) -> Vec<(&'static str, Result<()>)> {
    vec![
        ("/v2/pods/{}", c.pods().get(id).send().await.map(drop)),
        ("/v2/pods/{}", c.pods().update(id).send().await.map(drop)),
        ("/v2/pods/{}", c.pods().delete(id).send().await.map(drop)),
        (
            "/v2/pods/{}/action",
            c.pods().terminate(id).send().await.map(drop),
        ),
        (
            "/v2/serverless/{}",
            c.endpoints().get(id).send().await.map(drop),
        ),
        (
            "/v2/serverless/{}",
            c.endpoints().delete(id).send().await.map(drop),
        ),
        (
            "/v2/serverless/{}/workers",
            c.endpoints().workers(id).send().await.map(drop),
        ),
        (
            "/v2/templates/{}",
            c.templates().get(id).send().await.map(drop),
        ),
        (
            "/v2/templates/{}",
            c.templates().delete(id).send().await.map(drop),
        ),
        (
            "/v2/network-volumes/{}",
            c.network_volumes().get(id).send().await.map(drop),
        ),
        (
            "/v2/network-volumes/{}",
            c.network_volumes().delete(id).send().await.map(drop),
        ),
        (
            "/v2/registries/{}",
            c.registries().get(id).send().await.map(drop),
        ),
        (
            "/v2/registries/{}",
            c.registries().delete(id).send().await.map(drop),
        ),
    ]
}

#[tokio::test]
async fn ids_are_one_segment_in_the_path_the_server_sees() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    server
        .mock_async(|when, then| {
            when.is_true(rec.matcher());
            then.status(204);
        })
        .await;
    let c = client(&server);
    for (id, escaped) in [
        ("p1", "p1"),
        ("a/b", "a%2Fb"),
        ("..x", "..x"),
        ("%2E%2E%2E", "%252E%252E%252E"),
    ] {
        let calls = each_call(&c, id).await;
        let want: Vec<_> = calls
            .iter()
            .map(|(template, _)| template.replace("{}", escaped))
            .collect();
        let got: Vec<_> = rec.take().into_iter().map(|r| r.path).collect();
        assert_eq!(got, want, "id {id:?}");
    }
}

#[tokio::test]
async fn dot_and_empty_ids_are_refused_before_sending() {
    let server = MockServer::start_async().await;
    let rec = Recorder::default();
    server
        .mock_async(|when, then| {
            when.is_true(rec.matcher());
            then.status(204);
        })
        .await;
    let c = client(&server);
    for id in ["", ".", "..", "%2E", "%2e%2E", ".%2e"] {
        for (template, result) in each_call(&c, id).await {
            let err = result.expect_err(template);
            assert!(err.is_invalid_input(), "{template} {id:?}: {err}");
        }
        assert!(rec.take().is_empty(), "id {id:?}");
    }
}
