//! Webhook delivery: the job's status body POSTed when it reaches a terminal state.
//!
//! A local test server must not call out to the network, so only loopback URLs
//! (`http://localhost`, `127.0.0.0/8`, `[::1]`) are delivered. Runpod retries a webhook that does
//! not answer 200 twice, ten seconds apart; so do we. The client is a minimal HTTP/1.1 writer over
//! a TCP stream: one request, `Connection: close`, and only the status line is read back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use runpod_types::serverless::JobState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::config::{WEBHOOK_ATTEMPT_TIMEOUT, WEBHOOK_ATTEMPTS, WEBHOOK_RETRY_DELAY};

/// A webhook waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    url: String,
    job_id: String,
    body: Vec<u8>,
}

impl Delivery {
    pub(crate) fn new(url: String, job: &JobState) -> Self {
        Self {
            url,
            job_id: job.id.clone(),
            body: serde_json::to_vec(job).unwrap_or_default(),
        }
    }
}

/// Sends one webhook with Runpod's retry policy; gives up when the server shuts down.
pub(crate) async fn deliver(delivery: Delivery, shutdown: CancellationToken) {
    let target = match Target::parse(&delivery.url) {
        Ok(target) => target,
        Err(reason) => {
            tracing::warn!(job = %delivery.job_id, url = %delivery.url, reason, "webhook not sent");
            return;
        }
    };
    tokio::select! {
        () = send_with_retries(&target, &delivery) => {}
        () = shutdown.cancelled() => {}
    }
}

async fn send_with_retries(target: &Target, delivery: &Delivery) {
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let result =
            tokio::time::timeout(WEBHOOK_ATTEMPT_TIMEOUT, post(target, &delivery.body)).await;
        match result {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                tracing::debug!(job = %delivery.job_id, status, "webhook delivered");
                return;
            }
            Ok(Ok(status)) => {
                tracing::warn!(job = %delivery.job_id, attempt, status, "webhook answered an error");
            }
            Ok(Err(error)) => {
                tracing::warn!(job = %delivery.job_id, attempt, %error, "webhook failed");
            }
            Err(_) => tracing::warn!(job = %delivery.job_id, attempt, "webhook timed out"),
        }
        if attempt < WEBHOOK_ATTEMPTS {
            tokio::time::sleep(WEBHOOK_RETRY_DELAY).await;
        }
    }
}

/// Where a loopback webhook goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// Addresses to try, in order.
    addrs: Vec<SocketAddr>,
    /// `Host` header value, as written in the URL.
    host: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, &'static str> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("only http:// loopback webhooks are delivered")?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err("webhook URLs with credentials are not delivered");
        }
        let (host, port) = split_host_port(authority)?;
        let ips: Vec<IpAddr> = if host.eq_ignore_ascii_case("localhost") {
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ]
        } else {
            let ip: IpAddr = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| "only loopback webhook hosts are delivered")?;
            if !ip.is_loopback() {
                return Err("only loopback webhook hosts are delivered");
            }
            vec![ip]
        };
        let tail = tail.split('#').next().unwrap_or_default();
        let path_and_query = match tail {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        Ok(Self {
            addrs: ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            host: authority.to_owned(),
            path_and_query,
        })
    }
}

fn split_host_port(authority: &str) -> Result<(&str, u16), &'static str> {
    let bad_port = "webhook URL has an invalid port";
    if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or("webhook URL has an invalid IPv6 host")?;
        let (host, rest) = authority.split_at(close + 1);
        let port = match rest.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad_port)?,
            None if rest.is_empty() => 80,
            None => return Err(bad_port),
        };
        return Ok((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host, port.parse().map_err(|_| bad_port)?)),
        None => Ok((authority, 80)),
    }
}

async fn post(target: &Target, body: &[u8]) -> std::io::Result<u16> {
    let mut stream = connect(&target.addrs).await?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: runpod-local/{}\r\nConnection: close\r\n\r\n",
        target.path_and_query,
        target.host,
        body.len(),
        env!("CARGO_PKG_VERSION"),
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    read_status(&mut stream).await
}

async fn connect(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last_error = std::io::Error::other("no address to connect to");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

/// Reads until the status line is complete and returns its code.
async fn read_status(stream: &mut TcpStream) -> std::io::Result<u16> {
    let mut buffer = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    loop {
        if let Some(end) = buffer.windows(2).position(|w| w == b"\r\n") {
            return parse_status_line(&buffer[..end]);
        }
        if buffer.len() > 8 * 1024 {
            return Err(std::io::Error::other("webhook answer has no status line"));
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::Error::other(
                "webhook closed the connection without an answer",
            ));
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn parse_status_line(line: &[u8]) -> std::io::Result<u16> {
    let line = std::str::from_utf8(line).map_err(std::io::Error::other)?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(code))) if version.starts_with("HTTP/1.") => Ok(code),
        _ => Err(std::io::Error::other(format!("bad status line `{line}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_parse() {
        let t = Target::parse("http://127.0.0.1:8080/hook?x=1").unwrap();
        assert_eq!(t.addrs, ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path_and_query, "/hook?x=1");

        let t = Target::parse("http://localhost:9").unwrap();
        assert_eq!(t.addrs.len(), 2);
        assert_eq!(t.path_and_query, "/");

        let t = Target::parse("http://[::1]:7/a#frag").unwrap();
        assert_eq!(t.addrs, ["[::1]:7".parse::<SocketAddr>().unwrap()]);
        assert_eq!(t.path_and_query, "/a");

        let t = Target::parse("http://127.4.5.6?q").unwrap();
        assert_eq!(t.addrs, ["127.4.5.6:80".parse::<SocketAddr>().unwrap()]);
        assert_eq!(t.path_and_query, "/?q");
    }

    #[test]
    fn other_urls_are_refused() {
        for url in [
            "https://127.0.0.1/hook",
            "http://example.com/hook",
            "http://10.0.0.1/hook",
            "http://[2001:db8::1]/hook",
            "http://user:pw@127.0.0.1/hook",
            "http://127.0.0.1:notaport/",
            "ftp://localhost/",
        ] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content").unwrap(), 204);
        assert_eq!(parse_status_line(b"HTTP/1.0 500").unwrap(), 500);
        assert!(parse_status_line(b"SSH-2.0-OpenSSH").is_err());
    }
}
