//! The API key never shows in Debug output, error messages or TRACE-level logs.

use std::time::Duration;

use runpod_transport::{ApiKey, Auth, Config, HttpClient, Method, Report};
use tracing_subscriber::fmt::format::FmtSpan;

use crate::support::{KEY, LogCapture, Reply, ScriptedServer, client_with, config, no_jitter};

#[test]
fn debug_output_redacts_the_key() {
    let builder = config().with_rest_base_url("http://127.0.0.1:1");
    assert!(!format!("{builder:?}").contains(KEY));
    let cfg = builder.build().unwrap();
    let client = HttpClient::new(cfg.clone()).unwrap();
    let key = ApiKey::new(KEY);
    let request = client
        .request(Method::POST, "http://127.0.0.1:1/x")
        .auth(Auth::Raw(key.clone()));
    for shown in [
        format!("{cfg:?}"),
        format!("{cfg:#?}"),
        format!("{client:?}"),
        format!("{key:?}"),
        format!("{key}"),
        format!("{request:?}"),
        format!("{:?}", Auth::Raw(key.clone())),
    ] {
        assert!(!shown.contains(KEY), "{shown}");
        assert!(!shown.contains("TESTKEY"), "{shown}");
    }
    assert!(format!("{cfg:?}").contains("[redacted]"));
}

#[tokio::test]
async fn error_messages_never_carry_the_key() {
    // A key that cannot go in a header.
    let bad_key = format!("{KEY}\n");
    let client = HttpClient::new(Config::builder().build().unwrap()).unwrap();
    let err = client
        .request(Method::GET, "http://127.0.0.1:1/x")
        .auth(Auth::Raw(ApiKey::new(format!("x\u{7f}{KEY}"))))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    let err2 = client
        .request(Method::GET, "http://127.0.0.1:1/x")
        .header("x-api-key", format!("{bad_key}x"))
        .send()
        .await
        .unwrap_err();
    assert!(err2.is_invalid_input());

    // A 401 from the server.
    let server = ScriptedServer::start(vec![Reply::json(
        401,
        r#"{"title":"Unauthorized","status":401,"detail":"invalid bearer token"}"#,
    )])
    .await;
    let err3 = client_with(config())
        .request(Method::GET, server.url("/v2/pods"))
        .send()
        .await
        .unwrap_err();
    assert!(err3.is_unauthorized());
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    for e in [&err, &err2, &err3] {
        for shown in [e.to_string(), format!("{e:?}"), Report(e).to_string()] {
            assert!(!shown.contains("TESTKEY"), "{shown}");
        }
    }
}

/// The requests whose logs are inspected: a retried GET with a query, a raw-auth POST with a
/// secret header, and a failed GET.
async fn traced_requests() {
    let server = ScriptedServer::start(vec![
        Reply::json(503, r#"{"error":"warming up"}"#),
        Reply::json(200, "{}"),
        Reply::json(200, "{}"),
        Reply::json(401, r#"{"error":"bad key"}"#),
    ])
    .await;
    let client = client_with(config().with_retry_policy(no_jitter(3, Duration::from_millis(1))));
    client
        .request(Method::GET, server.url("/v2/ep/health"))
        .query("token", "QUERY_VALUE_SECRET")
        .send()
        .await
        .unwrap();
    client
        .request(Method::POST, server.url("/v2/ep/job-done/w/j"))
        .auth(Auth::Raw(ApiKey::new(KEY)))
        .header("x-api-key", KEY)
        .json(&serde_json::json!({"output": 1}))
        .send()
        .await
        .unwrap();
    let err = client
        .request(Method::GET, server.url("/v2/pods"))
        .send()
        .await
        .unwrap_err();
    tracing::error!(error = %Report(&err), "request failed");
}

#[tokio::test]
async fn trace_logs_never_carry_the_key_or_query_values() {
    // `tracing` caches per call site whether anyone listens. While exactly one dispatcher
    // exists, tracing-core computes that interest from the *registering thread's* default,
    // so a parallel test (no subscriber) that first reaches a call site would cache "never"
    // for everyone. A second, idle dispatcher makes it combine all dispatchers instead.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let logs = LogCapture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    traced_requests().await;

    let text = logs.text();
    // The capture works and the span carries what it should...
    for expected in [
        "runpod_http",
        "method=GET",
        "path=/v2/ep/health",
        "attempt=2",
        "status=200",
        "status=503",
        "elapsed_ms=",
        "attempt failed; retrying",
        "method=POST",
        "status=401",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // ...but never the key or query values.
    assert!(!text.contains("TESTKEY"), "{text}");
    assert!(!text.contains("QUERY_VALUE_SECRET"), "{text}");
}
