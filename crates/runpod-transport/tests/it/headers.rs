//! What goes on the wire: auth header forms, user agent, query strings, bodies.

use httpmock::Method::{GET, POST};
use httpmock::{Mock, MockServer};
use runpod_transport::{ApiKey, Auth, Config, Method};

use crate::support::{KEY, client_with, config};

fn expected_user_agent(suffix: &str) -> String {
    format!(
        "runpod-rs/{} ({}; {}){suffix}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[tokio::test]
async fn bearer_auth_and_user_agent() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/pods")
                .header("authorization", format!("Bearer {KEY}"))
                .header("user-agent", expected_user_agent(""))
                .header("accept", "application/json");
            then.status(200).body("[]");
        })
        .await;
    client_with(config())
        .request(Method::GET, server.url("/v2/pods"))
        .send()
        .await
        .unwrap();
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn user_agent_suffix() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.header("user-agent", expected_user_agent(" my-app/1.2"));
            then.status(200);
        })
        .await;
    client_with(config().with_user_agent_suffix("my-app/1.2"))
        .request(Method::GET, server.url("/"))
        .send()
        .await
        .unwrap();
    mock.assert_calls_async(1).await;
}

/// `/raw` answers only the raw key `worker-key`; `/none` only a request without the header.
async fn raw_and_keyless_routes(server: &MockServer) -> (Mock<'_>, Mock<'_>) {
    let raw = server
        .mock_async(|when, then| {
            when.path("/raw").header("authorization", "worker-key");
            then.status(200);
        })
        .await;
    let none = server
        .mock_async(|when, then| {
            when.path("/none").header_missing("authorization");
            then.status(200);
        })
        .await;
    (raw, none)
}

#[tokio::test]
async fn raw_and_no_auth() {
    let server = MockServer::start_async().await;
    let (raw, none) = raw_and_keyless_routes(&server).await;
    // No key configured: Raw and None need none.
    let client = client_with(Config::builder());
    client
        .request(Method::GET, server.url("/raw"))
        .auth(Auth::Raw(ApiKey::new("worker-key")))
        .send()
        .await
        .unwrap();
    client
        .request(Method::GET, server.url("/none"))
        .auth(Auth::None)
        .send()
        .await
        .unwrap();
    raw.assert_calls_async(1).await;
    none.assert_calls_async(1).await;
}

/// A client configured for the worker protocol sends its key raw by default, and no header
/// without a key; the header is the client's, not threaded through requests.
#[tokio::test]
async fn raw_authorization_is_the_clients_default() {
    let server = MockServer::start_async().await;
    let (raw, none) = raw_and_keyless_routes(&server).await;
    let keyed = client_with(
        Config::builder()
            .with_raw_authorization()
            .with_api_key("worker-key"),
    );
    assert!(!format!("{keyed:?}").contains("worker-key"));
    for _ in 0..2 {
        keyed
            .request(Method::GET, server.url("/raw"))
            .send()
            .await
            .unwrap();
    }
    let keyless = client_with(Config::builder().with_raw_authorization());
    keyless
        .request(Method::GET, server.url("/none"))
        .send()
        .await
        .unwrap();
    raw.assert_calls_async(2).await;
    none.assert_calls_async(1).await;
}

#[tokio::test]
async fn query_is_appended_with_or_without_existing_query() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.path("/v2/ep/runsync")
                .query_param("wait", "60000")
                .query_param("note", "a b&c");
            then.status(200);
        })
        .await;
    let client = client_with(config());
    client
        .request(Method::POST, server.url("/v2/ep/runsync?wait=60000"))
        .query("note", "a b&c")
        .send()
        .await
        .unwrap();
    client
        .request(Method::POST, server.url("/v2/ep/runsync"))
        .query("wait", 60000)
        .query("note", "a b&c")
        .send()
        .await
        .unwrap();
    mock.assert_calls_async(2).await;
}

#[tokio::test]
async fn json_and_raw_bodies() {
    let server = MockServer::start_async().await;
    let json = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/json")
                .header("content-type", "application/json")
                .json_body(serde_json::json!({"input": {"prompt": "hi"}}));
            then.status(200).body(r#"{"id":"j1","status":"IN_QUEUE"}"#);
        })
        .await;
    let raw = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/raw")
                .header("content-type", "text/plain")
                .body("hello");
            then.status(200);
        })
        .await;
    #[derive(serde::Deserialize)]
    struct Run {
        id: String,
        status: String,
    }
    let client = client_with(config());
    let run: Run = client
        .request(Method::POST, server.url("/json"))
        .json(&serde_json::json!({"input": {"prompt": "hi"}}))
        .send_json()
        .await
        .unwrap();
    assert_eq!((run.id.as_str(), run.status.as_str()), ("j1", "IN_QUEUE"));
    client
        .request(Method::POST, server.url("/raw"))
        .body("hello", "text/plain")
        .send()
        .await
        .unwrap();
    json.assert_calls_async(1).await;
    raw.assert_calls_async(1).await;
}

#[test]
fn client_is_cheap_clone_send_sync() {
    fn f<T: Clone + Send + Sync + 'static>() {}
    f::<runpod_transport::HttpClient>();
    f::<runpod_transport::Config>();
    fn s<T: Send + 'static>(_: T) {}
    let client = client_with(config());
    s(client.request(Method::GET, "http://127.0.0.1:1/").send());
    s(client
        .request(Method::GET, "http://127.0.0.1:1/")
        .send_sse());
}
