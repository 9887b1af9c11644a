//! The cold-start probe: a loopback TCP forwarder in front of runpod-local that notes when the
//! first job-take request arrives. runpod-local itself is not modified; the probe sits only in
//! the cold-start runs, never in the throughput runs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::Result;

const NEEDLE: &[u8] = b"/job-take";

#[derive(Debug)]
pub(crate) struct Probe {
    base_url: String,
    first_take: Arc<OnceLock<Instant>>,
    notify: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Probe {
    /// Listens on a free loopback port and forwards every connection to `upstream` (`host:port`).
    pub(crate) async fn start(upstream: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let first_take = Arc::new(OnceLock::new());
        let notify = Arc::new(Notify::new());
        let upstream = upstream.to_owned();
        let (first, wake) = (first_take.clone(), notify.clone());
        let task = tokio::spawn(async move {
            // Dropped (aborting every forwarder) when the accept task is aborted.
            let mut conns = JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                conns.spawn(forward(
                    inbound,
                    upstream.clone(),
                    first.clone(),
                    wake.clone(),
                ));
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            base_url,
            first_take,
            notify,
            task,
        })
    }

    /// `http://127.0.0.1:PORT` of the probe.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// When the first job-take request arrived, waiting up to `limit` for it.
    pub(crate) async fn first_take(&self, limit: Duration) -> Option<Instant> {
        let waiting = async {
            loop {
                let notified = self.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(at) = self.first_take.get() {
                    return *at;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, waiting).await.ok()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways; scans the worker's bytes for the first job-take request line.
async fn forward(
    inbound: TcpStream,
    upstream: String,
    first: Arc<OnceLock<Instant>>,
    notify: Arc<Notify>,
) {
    let Ok(outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (mut from_worker, mut to_worker) = inbound.into_split();
    let (mut from_server, mut to_server) = outbound.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_worker).await;
        let _ = to_worker.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    // The end of the previous read, so that a request line split across reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from_worker.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if first.get().is_none() {
            let now = Instant::now();
            tail.extend_from_slice(&buf[..n]);
            if contains(&tail, NEEDLE) && first.set(now).is_ok() {
                notify.notify_waiters();
            }
            let keep = tail.len().saturating_sub(NEEDLE.len());
            tail.drain(..keep);
        }
        if to_server.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to_server.shutdown().await;
    let _ = down.await;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_the_first_job_take_and_forwards_both_ways() {
        // An upstream that answers each connection with one fixed reply.
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = upstream.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(b"pong").await;
                });
            }
        });
        let probe = Probe::start(&addr).await.unwrap();
        let probe_addr = probe.base_url().trim_start_matches("http://").to_owned();

        let mut ping = TcpStream::connect(&probe_addr).await.unwrap();
        ping.write_all(b"GET /v2/ep/ping/w HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut reply = [0u8; 4];
        ping.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"pong");
        assert!(probe.first_take(Duration::from_millis(50)).await.is_none());

        let before = Instant::now();
        let mut take = TcpStream::connect(&probe_addr).await.unwrap();
        // Split across two writes, in the middle of the needle.
        take.write_all(b"GET /v2/ep/job-t").await.unwrap();
        take.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        take.write_all(b"ake/w?gpu=x HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let at = probe.first_take(Duration::from_secs(5)).await.unwrap();
        assert!(at >= before);
        take.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"pong");
    }

    #[test]
    fn contains_finds_needles() {
        assert!(contains(b"GET /v2/e/job-take-batch/w", NEEDLE));
        assert!(!contains(b"GET /v2/e/job-stop/w", NEEDLE));
        assert!(!contains(b"/job", NEEDLE));
    }
}
