//! A client without an API key: allowed against a server that needs none, refused for Runpod.

use runpod_serverless::{Config, Endpoint, ServerlessClient};
use serde_json::json;

/// Endpoint `ep` of `server`, through a client configured with no key at all.
fn keyless_endpoint(server: &runpod_local::RunningServer) -> Endpoint {
    let config = Config::builder()
        .with_serverless_base_url(server.serverless_base_url())
        .build()
        .unwrap();
    assert!(config.api_key().is_none());
    ServerlessClient::from_config(config)
        .unwrap()
        .endpoint("ep")
}

#[tokio::test]
async fn keyless_calls_reach_a_local_server_started_without_a_key() {
    let server = runpod_local::Server::builder()
        .echo()
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let endpoint = keyless_endpoint(&server);
    let out = endpoint.run_sync(json!({"n": 1})).await.unwrap();
    assert_eq!(out, json!({"n": 1}));
    let job = endpoint.run(json!({"n": 2})).await.unwrap();
    assert_eq!(job.await.unwrap(), json!({"n": 2}));
    endpoint.health().await.unwrap();
}

#[tokio::test]
async fn a_keyless_client_is_refused_by_a_server_that_wants_a_key() {
    let server = runpod_local::Server::builder()
        .api_key("the-key")
        .echo()
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let err = keyless_endpoint(&server).health().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
}
