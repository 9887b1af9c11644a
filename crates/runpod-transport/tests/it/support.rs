//! Test helpers: a scripted HTTP/1.1 server that runs on the test's own runtime (so paused
//! virtual time never races with a server thread), a client factory and a log capture.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runpod_transport::{Config, ConfigBuilder, HttpClient, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) const KEY: &str = "rpa_TESTKEY_0123456789_SECRET";

/// A config pointing nowhere in particular with the test key and the given builder tweaks.
pub(crate) fn config() -> ConfigBuilder {
    Config::builder().with_api_key(KEY)
}

pub(crate) fn client_with(builder: ConfigBuilder) -> HttpClient {
    HttpClient::new(builder.build().unwrap()).unwrap()
}

/// A client with a fast, deterministic retry policy for real-time tests.
pub(crate) fn fast_client() -> HttpClient {
    client_with(config().with_retry_policy(fast_policy(3)))
}

pub(crate) fn fast_policy(attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .with_max_attempts(attempts)
        .with_initial_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(5))
        .with_jitter(false)
        .build()
        .unwrap()
}

pub(crate) fn no_jitter(attempts: u32, initial: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .with_max_attempts(attempts)
        .with_initial_delay(initial)
        .with_max_delay(Duration::from_secs(60))
        .with_jitter(false)
        .build()
        .unwrap()
}

/// What the scripted server does with one request.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
    },
    /// Write these bytes verbatim, then close.
    Raw(Vec<u8>),
    /// Close the connection without answering.
    Close,
    /// Never answer (keep the connection open until the server is dropped).
    Hang,
}

impl Reply {
    pub(crate) fn status(status: u16) -> Self {
        Reply::Http {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn json(status: u16, body: &str) -> Self {
        Self::status(status)
            .header("content-type", "application/json")
            .body(body)
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        if let Reply::Http { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    pub(crate) fn body(mut self, text: &str) -> Self {
        if let Reply::Http { body, .. } = &mut self {
            *body = text.as_bytes().to_vec();
        }
        self
    }

    /// Wait this long (tokio time) before answering.
    pub(crate) fn delay(mut self, d: Duration) -> Self {
        if let Reply::Http { delay, .. } = &mut self {
            *delay = d;
        }
        self
    }

    /// A chunked `text/event-stream` response of `chunks`; `complete` sends the final chunk
    /// (a clean end), otherwise the connection is dropped mid-body.
    pub(crate) fn sse(chunks: &[&str], complete: bool) -> Self {
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_vec();
        for c in chunks {
            out.extend(format!("{:x}\r\n{c}\r\n", c.len()).as_bytes());
        }
        if complete {
            out.extend(b"0\r\n\r\n");
        }
        Reply::Raw(out)
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) at: Instant,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers requests with `replies` in order (the last one repeats), one request per
/// connection, recording each request with its arrival (virtual) time.
pub(crate) struct ScriptedServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl ScriptedServer {
    pub(crate) async fn start(replies: Vec<Reply>) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), replies)
    }

    pub(crate) fn start_on(listener: TcpListener, replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty());
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            let replies = Arc::new(replies);
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let recorded = recorded.clone();
                let replies = replies.clone();
                tokio::spawn(async move {
                    let _ = serve_one(socket, recorded, replies).await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub(crate) fn hits(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Time between consecutive requests.
    pub(crate) fn gaps(&self) -> Vec<Duration> {
        let r = self.requests();
        r.windows(2).map(|w| w[1].at - w[0].at).collect()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    mut socket: TcpStream,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    replies: Arc<Vec<Reply>>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let index = {
        let mut r = recorded.lock().unwrap();
        r.push(Recorded {
            method,
            target,
            headers,
            body,
            at: Instant::now(),
        });
        r.len() - 1
    };
    let reply = replies[index.min(replies.len() - 1)].clone();
    match reply {
        Reply::Http {
            status,
            headers,
            body,
            delay,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut out = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            socket.write_all(out.as_bytes()).await?;
            socket.write_all(&body).await?;
            socket.shutdown().await?;
        }
        Reply::Raw(bytes) => {
            socket.write_all(&bytes).await?;
            socket.shutdown().await?;
        }
        Reply::Close => {}
        Reply::Hang => std::future::pending::<()>().await,
    }
    Ok(())
}

/// A port that was bound and released, so connecting to it is refused.
pub(crate) async fn refused_port() -> (u16, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    (addr.port(), addr)
}

/// Captures everything a `tracing` subscriber writes.
#[derive(Clone, Default)]
pub(crate) struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
