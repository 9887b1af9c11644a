//! Webhook delivery: the job's status body POSTed when it reaches a terminal state.
//!
//! A local test server must not become a way to make requests to arbitrary hosts, so webhooks
//! go to loopback addresses (`http://localhost`, `127.0.0.0/8`, `[::1]`) and to the hosts the
//! operator allowed (`--allow-webhook-host`), over plain `http://` (runpod-local carries no TLS).
//! A URL outside these rules is refused at `/run` with a 400 ([`check`]), not accepted and dropped
//! later. Runpod retries a webhook that does not answer 200 twice, ten seconds apart; so do we.
//! The client is a minimal HTTP/1.1 writer over a TCP stream: one request, `Connection: close`,
//! and only the status line is read back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use runpod_types::serverless::JobState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::config::{WEBHOOK_ATTEMPT_TIMEOUT, WEBHOOK_ATTEMPTS, WEBHOOK_RETRY_DELAY};

/// Whether a job may carry `url` as its webhook: `Err` says why not, for the 400 answer.
pub(crate) fn check(url: &str, allowed_hosts: &[String]) -> Result<(), String> {
    Target::parse(url, allowed_hosts).map(drop)
}

/// A webhook waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    url: String,
    job_id: String,
    body: Vec<u8>,
    allowed_hosts: std::sync::Arc<[String]>,
}

impl Delivery {
    pub(crate) fn new(
        url: String,
        job: &JobState,
        allowed_hosts: std::sync::Arc<[String]>,
    ) -> Self {
        Self {
            url,
            job_id: job.id.clone(),
            body: serde_json::to_vec(job).unwrap_or_default(),
            allowed_hosts,
        }
    }
}

/// Told of every attempt: the job id, the URL, and the HTTP status answered or why none was.
pub(crate) type AttemptObserver =
    std::sync::Arc<dyn Fn(&str, &str, Result<u16, String>) + Send + Sync>;

/// Sends one webhook with Runpod's retry policy; gives up when the server shuts down.
pub(crate) async fn deliver(
    delivery: Delivery,
    shutdown: CancellationToken,
    observer: Option<AttemptObserver>,
) {
    // `/run` refused URLs outside the rules; a job queued before a rule changed is checked again.
    let target = match Target::parse(&delivery.url, &delivery.allowed_hosts) {
        Ok(target) => target,
        Err(reason) => {
            tracing::warn!(job = %delivery.job_id, url = %delivery.url, reason, "webhook not sent");
            return;
        }
    };
    tokio::select! {
        () = send_with_retries(&target, &delivery, observer.as_ref()) => {}
        () = shutdown.cancelled() => {}
    }
}

async fn send_with_retries(
    target: &Target,
    delivery: &Delivery,
    observer: Option<&AttemptObserver>,
) {
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let result =
            tokio::time::timeout(WEBHOOK_ATTEMPT_TIMEOUT, post(target, &delivery.body)).await;
        if let Some(observe) = observer {
            let outcome = match &result {
                Ok(Ok(status)) => Ok(*status),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err("timed out".to_owned()),
            };
            observe(&delivery.job_id, &delivery.url, outcome);
        }
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

/// Where a webhook goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// Addresses to try, in order; empty for an allowed host name, resolved at delivery.
    addrs: Vec<SocketAddr>,
    /// `Host` header value, as written in the URL.
    host: String,
    /// An allowed host name and port to resolve when `addrs` is empty.
    name: Option<(String, u16)>,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str, allowed_hosts: &[String]) -> Result<Self, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "webhook `{}` is not an absolute http:// URL",
                clip(url)
            ));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(
                "runpod-local sends webhooks over plain http:// only (it carries no TLS); \
                 use an http:// URL"
                    .to_owned(),
            );
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "webhook scheme `{}:` is not allowed; use http://",
                clip(scheme)
            ));
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err("webhook URLs with credentials are not allowed".to_owned());
        }
        if authority.is_empty() || tail.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("webhook `{}` is not a valid URL", clip(url)));
        }
        let (host, port) = split_host_port(authority)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let allowed = allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(bare));
        let mut name = None;
        let ips: Vec<IpAddr> = if host.eq_ignore_ascii_case("localhost") {
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ]
        } else if let Ok(ip) = bare.parse::<IpAddr>() {
            if !ip.is_loopback() && !allowed {
                return Err(not_allowed(bare));
            }
            vec![ip]
        } else if allowed && is_host_name(bare) {
            name = Some((bare.to_owned(), port));
            Vec::new()
        } else if is_host_name(bare) {
            return Err(not_allowed(bare));
        } else {
            return Err(format!("webhook `{}` has an invalid host", clip(url)));
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
            name,
            path_and_query,
        })
    }
}

fn not_allowed(host: &str) -> String {
    format!(
        "webhook host `{}` is not allowed: runpod-local sends webhooks to loopback addresses only, \
         unless started with `--allow-webhook-host {}`",
        clip(host),
        clip(host)
    )
}

/// At most 100 characters of `text`, for error messages that quote client input.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(100) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// A DNS name: dot-separated labels of letters, digits and hyphens.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn split_host_port(authority: &str) -> Result<(&str, u16), String> {
    let bad_port = || "webhook URL has an invalid port".to_owned();
    if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or_else(|| "webhook URL has an invalid IPv6 host".to_owned())?;
        let (host, rest) = authority.split_at(close + 1);
        let port = match rest.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad_port())?,
            None if rest.is_empty() => 80,
            None => return Err(bad_port()),
        };
        return Ok((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host, port.parse().map_err(|_| bad_port())?)),
        None => Ok((authority, 80)),
    }
}

async fn post(target: &Target, body: &[u8]) -> std::io::Result<u16> {
    let mut stream = match &target.name {
        Some((host, port)) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), *port))
                .await?
                .collect();
            connect(&addrs).await?
        }
        None => connect(&target.addrs).await?,
    };
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
        let t = Target::parse("http://127.0.0.1:8080/hook?x=1", &[]).unwrap();
        assert_eq!(t.addrs, ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path_and_query, "/hook?x=1");

        let t = Target::parse("http://localhost:9", &[]).unwrap();
        assert_eq!(t.addrs.len(), 2);
        assert_eq!(t.path_and_query, "/");

        let t = Target::parse("http://[::1]:7/a#frag", &[]).unwrap();
        assert_eq!(t.addrs, ["[::1]:7".parse::<SocketAddr>().unwrap()]);
        assert_eq!(t.path_and_query, "/a");

        let t = Target::parse("http://127.4.5.6?q", &[]).unwrap();
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
            "file:///etc/passwd",
            "localhost:80/hook",
            "http:///hook",
            "http://127.0.0.1/a b",
            "http://exa mple.com/",
        ] {
            assert!(Target::parse(url, &[]).is_err(), "{url}");
        }
    }

    #[test]
    fn allowed_hosts_are_delivered_over_http_only() {
        let allowed = ["hooks.internal".to_owned(), "10.0.0.1".to_owned()];
        let t = Target::parse("http://HOOKS.internal:8080/h", &allowed).unwrap();
        assert_eq!(t.name, Some(("HOOKS.internal".to_owned(), 8080)));
        assert!(t.addrs.is_empty());
        let t = Target::parse("http://10.0.0.1/h", &allowed).unwrap();
        assert_eq!(t.addrs, ["10.0.0.1:80".parse::<SocketAddr>().unwrap()]);
        for url in [
            "https://hooks.internal/h",
            "http://other.internal/h",
            "http://10.0.0.2/h",
        ] {
            assert!(Target::parse(url, &allowed).is_err(), "{url}");
        }
        assert!(
            Target::parse("http://example.com/h", &[])
                .unwrap_err()
                .contains("--allow-webhook-host example.com")
        );
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content").unwrap(), 204);
        assert_eq!(parse_status_line(b"HTTP/1.0 500").unwrap(), 500);
        assert!(parse_status_line(b"SSH-2.0-OpenSSH").is_err());
    }
}
