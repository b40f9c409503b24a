//! TLS on the API port: a certificate chain and key read from PEM files, checked
//! against each other, and read again when the files change, so a renewed
//! certificate is served to new connections without a restart. A change that
//! does not load (a half-written file, a key of another certificate) is logged
//! and the certificate in use is kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// The files a certificate comes from, and what was last loaded from them.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
    /// Counts the certificates loaded since start (for whoever waits for one).
    loads: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug)]
struct Loaded {
    /// The files' bytes, to notice a change.
    pem: (Vec<u8>, Vec<u8>),
    key: Arc<CertifiedKey>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let loaded = self.current.read().unwrap_or_else(|e| e.into_inner());
        Some(loaded.key.clone())
    }
}

impl ReloadingCert {
    /// Loads the pair, or says why it cannot (naming the file, never its content).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let loaded = read_pair(cert_path, key_path, &provider)?;
        Ok(Arc::new(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: RwLock::new(loaded),
            loads: tokio::sync::watch::Sender::new(0),
        }))
    }

    /// Reads the files again; swaps in the pair when they changed and load.
    /// Returns whether a new certificate is now served.
    pub fn reload(&self) -> Result<bool> {
        let cert = read_file(&self.cert_path, "SIGNET_TLS_CERT")?;
        let key = read_file(&self.key_path, "SIGNET_TLS_KEY")?;
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if current.pem.0 == cert && current.pem.1 == key {
                return Ok(false);
            }
        }
        let loaded = parse_pair(cert, key, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        self.loads.send_modify(|n| *n += 1);
        Ok(true)
    }

    /// Changes each time a new certificate is loaded.
    pub fn reloads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.loads.subscribe()
    }

    /// A TLS acceptor serving whatever certificate is current (HTTP/2 and
    /// HTTP/1.1 offered by ALPN).
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::invalid(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Checks the files every `interval`, for as long as the process runs.
    pub fn spawn_reload(self: &Arc<Self>, interval: Duration) {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval.max(Duration::from_secs(1)));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(this) = this.upgrade() else { return };
                match this.reload() {
                    Ok(true) => tracing::info!("TLS certificate reloaded"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate change not loaded; the previous one is still served")
                    }
                }
            }
        });
    }
}

fn read_file(path: &Path, setting: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::invalid(format!("{setting}: cannot read {}: {e}", path.display())))
}

fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Loaded> {
    parse_pair(
        read_file(cert, "SIGNET_TLS_CERT")?,
        read_file(key, "SIGNET_TLS_KEY")?,
        provider,
    )
}

fn parse_pair(cert_pem: Vec<u8>, key_pem: Vec<u8>, provider: &CryptoProvider) -> Result<Loaded> {
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::invalid(format!("SIGNET_TLS_CERT: not a PEM certificate chain: {e}"))
        })?;
    if chain.is_empty() {
        return Err(Error::invalid(
            "SIGNET_TLS_CERT: no certificate in the file",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| Error::invalid(format!("SIGNET_TLS_KEY: not a PEM private key: {e}")))?;
    let key = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        Error::invalid(format!(
            "SIGNET_TLS_KEY does not fit SIGNET_TLS_CERT, or is of an unsupported kind: {e}"
        ))
    })?;
    Ok(Loaded {
        pem: (cert_pem, key_pem),
        key: Arc::new(key),
    })
}

/// Refuses plain HTTP on an address other than loopback unless the operator
/// says a proxy in front terminates TLS: tokens would otherwise cross the
/// network in the clear.
pub fn check_plain_http(addr: std::net::SocketAddr, tls: bool, allowed: bool) -> Result<()> {
    if tls || allowed || addr.ip().is_loopback() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "refusing to serve plain HTTP on {addr}: set SIGNET_TLS_CERT and SIGNET_TLS_KEY, or SIGNET_ALLOW_PLAIN_HTTP=true when a proxy in front terminates TLS"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_off_loopback_only() {
        let at = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert!(check_plain_http(at("127.0.0.1:8080"), false, false).is_ok());
        assert!(check_plain_http(at("[::1]:8080"), false, false).is_ok());
        for public in ["0.0.0.0:8080", "[::]:8080", "10.1.2.3:8080"] {
            assert!(
                check_plain_http(at(public), false, false).is_err(),
                "{public}"
            );
            assert!(check_plain_http(at(public), true, false).is_ok());
            assert!(check_plain_http(at(public), false, true).is_ok());
        }
    }
}
