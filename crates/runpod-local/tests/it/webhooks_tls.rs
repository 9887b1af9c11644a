//! https webhooks: delivered over TLS to a loopback receiver whose certificate chains to a CA the
//! server was told to trust; refused (logged, job unaffected) when it does not; the same host
//! rules as http.
//!
//! The receiver's certificate and its CA are checked in under `tests/certs` (valid for 100 years,
//! `generate.sh` remakes them).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use runpod_local::Server;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::{EP, Harness};

fn cert_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/certs")
        .join(name)
}

/// What the receiver saw on one connection: the request line and body, or the TLS error.
type Received = Result<(String, Value), String>;

/// A loopback https receiver with the `localhost` test certificate, answering 200; `host` is
/// written in the URL it returns (`127.0.0.1` or `localhost`, both named by the certificate).
async fn tls_hook(host: &str) -> (String, mpsc::UnboundedReceiver<Received>) {
    let certs = CertificateDer::pem_file_iter(cert_file("localhost.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(cert_file("localhost.key")).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut stream = match acceptor.accept(tcp).await {
                Ok(stream) => stream,
                Err(error) => {
                    let _ = tx.send(Err(error.to_string()));
                    continue;
                }
            };
            let mut raw = Vec::new();
            let mut buffer = [0u8; 4096];
            let request = loop {
                let read = stream.read(&mut buffer).await.unwrap();
                assert!(read > 0, "the webhook closed before its body");
                raw.extend_from_slice(&buffer[..read]);
                let text = String::from_utf8_lossy(&raw).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n")
                    && let Ok(body) = serde_json::from_str::<Value>(body)
                {
                    break (head.lines().next().unwrap().to_owned(), body);
                }
            };
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            let _ = stream.shutdown().await;
            let _ = tx.send(Ok(request));
        }
    });
    (format!("https://{host}:{port}/hooks/tls?token=t"), rx)
}

/// Runs one job with `webhook` to the end through a worker; returns its id.
async fn finish_job(h: &Harness, webhook: &str) -> String {
    let id = h.run_request(json!({"input": 1, "webhook": webhook})).await;
    h.take_expect("w", &id).await;
    let (status, _) = h.done("w", &id, json!({"output": {"answer": 42}})).await;
    assert_eq!(status, StatusCode::OK);
    id
}

async fn next(hits: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), hits.recv())
        .await
        .expect("no webhook within 5 s")
        .unwrap()
}

#[tokio::test]
async fn an_https_webhook_is_delivered_to_a_receiver_the_ca_file_vouches_for() {
    let h = Harness::with(
        Server::builder()
            .hold_time(Duration::from_millis(500))
            .webhook_ca_file(cert_file("ca.pem")),
    )
    .await;
    for host in ["127.0.0.1", "localhost"] {
        let (url, mut hits) = tls_hook(host).await;
        let id = finish_job(&h, &url).await;
        let (request_line, body) = next(&mut hits).await.unwrap();
        assert_eq!(request_line, "POST /hooks/tls?token=t HTTP/1.1");
        assert_eq!(
            body,
            h.job(&id).await,
            "the webhook body is the /status body"
        );
        assert_eq!(body["output"], json!({"answer": 42}));
    }
}

/// Log lines written while the guard lives, on this thread (the test's runtime runs the
/// server's tasks on it).
fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(Arc::clone(&logs));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_delivery_and_nothing_else() {
    let (logs, _guard) = capture_logs();
    // No CA file: the test CA is not among the public roots.
    let h = Harness::start().await;
    let (url, mut hits) = tls_hook("127.0.0.1").await;
    let id = finish_job(&h, &url).await;
    let seen = next(&mut hits).await;
    let error = seen.expect_err("the receiver got a request over an untrusted certificate");
    assert!(error.to_lowercase().contains("unknownca"), "{error}");
    let job = h.job(&id).await;
    assert_eq!(
        (&job["status"], &job["output"]),
        (&json!("COMPLETED"), &json!({"answer": 42}))
    );
    // The failure is logged with the job and the reason (the retries follow 10 s later).
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|line| line.contains("webhook failed"))
        .unwrap_or_else(|| panic!("no `webhook failed` log line in:\n{logs}"));
    assert!(
        line.contains(&id) && line.contains("UnknownIssuer"),
        "{line}"
    );
}

#[tokio::test]
async fn https_webhooks_follow_the_loopback_and_allowed_host_rules() {
    let h = Harness::start().await;
    let (status, body) = h
        .post(
            &format!("/v2/{EP}/run"),
            json!({"input": 1, "webhook": "https://hooks.example.com/h"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--allow-webhook-host hooks.example.com"),
        "{body}"
    );
    for url in [
        "https://127.0.0.1:9/h",
        "https://[::1]/h",
        "https://localhost/h",
    ] {
        h.run_request(json!({"input": 1, "webhook": url})).await;
    }
    let allowing =
        Harness::with(Server::builder().allow_webhook_hosts(["hooks.example.com"])).await;
    allowing
        .run_request(json!({"input": 1, "webhook": "https://hooks.example.com/h"}))
        .await;
}

#[tokio::test]
async fn a_ca_file_without_certificates_stops_the_server_from_starting() {
    let error = Server::builder()
        .webhook_ca_file(cert_file("localhost.key"))
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("localhost.key"), "{error}");
}
