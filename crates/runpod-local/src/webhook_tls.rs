//! TLS for `https://` webhooks: rustls with the public (webpki) root certificates, plus the
//! certificate authorities the operator trusts (`--webhook-ca-file`,
//! [`ServerBuilder::webhook_ca_file`](crate::ServerBuilder::webhook_ca_file)), for a receiver with
//! a private or self-signed certificate.
//!
//! rustls through tokio-rustls wraps the same TCP stream the plain-http client writes to, so both
//! schemes share one request writer. The crypto provider is named here (ring) rather than taken
//! from the process default, so a program that links another provider too still works.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

/// The TLS client webhooks are sent with, built once when the server starts.
#[derive(Debug, Clone)]
pub(crate) struct WebhookTls(Arc<ClientConfig>);

impl WebhookTls {
    /// The public roots and every certificate in `ca_files` (PEM). A file that cannot be read,
    /// holds no certificate, or holds one rustls refuses is an `InvalidInput` error naming it.
    pub(crate) fn new(ca_files: &[PathBuf]) -> io::Result<Self> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for path in ca_files {
            for cert in read_certificates(path)? {
                roots.add(cert).map_err(|error| {
                    invalid(
                        path,
                        &format!("holds a certificate rustls refuses: {error}"),
                    )
                })?;
            }
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(io::Error::other)?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Self(Arc::new(config)))
    }

    /// The TLS handshake over `stream` with `host` (a DNS name or IP address, as in the URL),
    /// which the server's certificate must name.
    pub(crate) async fn connect(
        &self,
        host: &str,
        stream: TcpStream,
    ) -> io::Result<TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| io::Error::other(format!("`{host}` is not a TLS server name")))?;
        TlsConnector::from(Arc::clone(&self.0))
            .connect(name, stream)
            .await
    }
}

fn read_certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|error| invalid(path, &format!("cannot be read: {error}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(path, &format!("is not valid PEM: {error}")))?;
    if certs.is_empty() {
        return Err(invalid(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn invalid(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("webhook CA file {} {what}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certs(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/certs")
            .join(name)
    }

    #[test]
    fn ca_files_are_read_or_refused_with_their_name() {
        assert!(WebhookTls::new(&[]).is_ok());
        assert!(WebhookTls::new(&[certs("ca.pem")]).is_ok());
        for (file, says) in [
            ("missing.pem", "cannot be read"),
            ("localhost.key", "holds no PEM certificate"),
        ] {
            let error = WebhookTls::new(&[certs(file)]).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
            let text = error.to_string();
            assert!(text.contains(file) && text.contains(says), "{text}");
        }
    }
}
