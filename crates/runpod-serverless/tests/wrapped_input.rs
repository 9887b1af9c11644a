//! A Python-style `{"input": {...}}` payload is sent as given, and warned about once.
//!
//! Its own test binary: the warning is once per process, so no other test may send first.

use std::io::Write;
use std::sync::{Arc, Mutex};

use httpmock::MockServer;
use runpod_serverless::{Config, ServerlessClient};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_input_wrapped_twice_is_sent_as_is_and_warned_about_once() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    // The test runtime is single-threaded, so the thread's default reaches every task.
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start_async().await;
    let bodies = Arc::new(Mutex::new(Vec::<Value>::new()));
    let seen = Arc::clone(&bodies);
    server
        .mock_async(|when, then| {
            when.method("POST").path("/v2/ep/run").is_true(move |req| {
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&req.body_vec()).unwrap());
                true
            });
            then.status(200)
                .json_body(json!({"id": "j", "status": "IN_QUEUE"}));
        })
        .await;
    let config = Config::builder()
        .with_api_key("k")
        .with_serverless_base_url(server.url("/v2"))
        .build()
        .unwrap();
    let endpoint = ServerlessClient::from_config(config)
        .unwrap()
        .endpoint("ep");
    endpoint.run(json!({"prompt": "plain"})).await.unwrap();
    assert!(logs.0.lock().unwrap().is_empty(), "a plain input warns");
    for _ in 0..2 {
        endpoint
            .run(json!({"input": {"prompt": "python style"}}))
            .await
            .unwrap();
    }

    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        bodies[1],
        json!({"input": {"input": {"prompt": "python style"}}})
    );
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("WARN").count(), 1, "{text}");
    assert!(text.contains("input.input"), "{text}");
}
