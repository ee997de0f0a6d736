//! `wss://` on the device side: the observer answers TLS with a lab certificate (PEM files),
//! so a device that only speaks TLS can be put in front of it.

use crate::wire::transport::BoxIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::server::TlsStream;
use tokio_tungstenite::MaybeTlsStream;

/// Why the lab certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the certificate chain {}: {source}", path.display())]
    Cert {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{} holds no certificate (PEM `BEGIN CERTIFICATE`)", path.display())]
    NoCert { path: PathBuf },
    #[error("cannot read the private key {}: {source}", path.display())]
    Key {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(#[from] rustls::Error),
}

/// The device side's TLS.
pub struct ListenTls(tokio_rustls::TlsAcceptor);

impl ListenTls {
    /// From a PEM certificate chain and its PEM private key.
    pub fn from_pem(cert: &Path, key: &Path) -> Result<ListenTls, TlsError> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsError::Cert {
                path: cert.to_path_buf(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCert {
                path: cert.to_path_buf(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
            path: key.to_path_buf(),
            source,
        })?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        Ok(ListenTls(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }

    /// The TLS handshake with a device.
    pub(super) async fn accept(&self, tcp: tokio::net::TcpStream) -> std::io::Result<BoxIo> {
        Ok(Box::new(self.0.accept(tcp).await?))
    }
}

/// [`transport::reset_on_drop`](crate::wire::transport::reset_on_drop) for a device link
/// under the observer's TLS.
pub(super) fn reset_on_drop(io: &MaybeTlsStream<BoxIo>) -> bool {
    let MaybeTlsStream::Plain(io) = io else {
        return false;
    };
    (**io)
        .as_any()
        .downcast_ref::<TlsStream<tokio::net::TcpStream>>()
        .is_some_and(|tls| tls.get_ref().0.set_zero_linger().is_ok())
}
