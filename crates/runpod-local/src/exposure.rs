//! Who may reach the server: a server that listens beyond loopback needs an API key.
//!
//! runpod-local queues jobs that run the user's handler code, hands every output to whoever asks,
//! and sends webhooks. Listening on a network address without a key would open all of that to
//! anyone on the network, so the server refuses to start that way unless told
//! (`--insecure-no-auth`, [`ServerBuilder::insecure_no_auth`](crate::ServerBuilder::insecure_no_auth)),
//! and then says so in a warning. Refusing (rather than inventing a key and printing it) keeps
//! the key where the operator put it, in their environment, and out of logs.

use std::io;
use std::net::SocketAddr;

/// Whether the server may listen on `addr` with this configuration: `Ok(true)` when it may but
/// is open to the network (`insecure`), for [`warn_open`].
pub(crate) fn check_listener(addr: SocketAddr, has_key: bool, insecure: bool) -> io::Result<bool> {
    if has_key || addr.ip().is_loopback() {
        return Ok(false);
    }
    if insecure {
        return Ok(true);
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "refusing to listen on {addr} without an API key: anyone who can reach it could queue \
             jobs, read every result and trigger webhooks. Set a key with --api-key KEY (or the \
             RUNPOD_LOCAL_API_KEY environment variable; clients send `Authorization: Bearer KEY`, \
             workers get it as RUNPOD_AI_API_KEY), listen on 127.0.0.1, or pass \
             --insecure-no-auth if an open server is really meant"
        ),
    ))
}

/// The warning an open server logs once it listens.
pub(crate) fn warn_open(addr: SocketAddr) {
    tracing::warn!(
        %addr,
        "runpod-local listens beyond loopback WITHOUT an API key (--insecure-no-auth): anyone \
         who can reach {addr} can queue jobs, read every result and trigger webhooks"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unkeyed_network_listener_is_refused() {
        let open: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        let lan: SocketAddr = "192.168.1.5:8000".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let loopback6: SocketAddr = "[::1]:8000".parse().unwrap();
        assert!(!check_listener(loopback, false, false).unwrap());
        assert!(!check_listener(loopback6, false, false).unwrap());
        assert!(!check_listener(open, true, false).unwrap());
        assert!(check_listener(open, false, true).unwrap());
        for addr in [open, lan] {
            let error = check_listener(addr, false, false).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
            assert!(error.to_string().contains("--api-key"), "{error}");
        }
    }
}
