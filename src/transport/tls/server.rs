//! The server side: a listener's `ServerConfig` built from its settings (certificate, key,
//! client-certificate verification), kept reloadable while the listener runs, the
//! handshake on an accepted socket, and the client certificate's CN for
//! `use_identity_as_username`.

use super::ciphers::provider_with;
use super::pem::{load_certificates, load_private_key, load_roots};
use super::{ClientCertificates, TlsError, TlsServerSettings};
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use std::sync::{Arc, RwLock};
use tokio::io::{AsyncRead, AsyncWrite};

/// Builds a server config from the files named in `settings`.
pub fn server_config(settings: &TlsServerSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider_with(settings.ciphers.as_deref())?;
    let certificates = load_certificates("certificate", &settings.cert_file)?;
    let key = load_private_key(&settings.key_file, settings.key_password.as_deref())?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(settings.min_version.versions())?;
    let builder = match settings.client_certificates {
        ClientCertificates::NotRequested => builder.with_no_client_auth(),
        mode => {
            let ca_file = settings.ca_file.as_deref().ok_or_else(|| {
                TlsError::Config(rustls::Error::General(
                    "client certificates need a CA file (cafile) to verify them".to_string(),
                ))
            })?;
            let roots = Arc::new(load_roots(ca_file)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = if mode == ClientCertificates::Optional {
                verifier.allow_unauthenticated().build()?
            } else {
                verifier.build()?
            };
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certificates, key)?;
    config.alpn_protocols = settings.alpn_protocols.clone();
    Ok(Arc::new(config))
}

/// A listener's server config that can be rebuilt from its files while it runs: each
/// accept takes the current `Arc`; a failed reload keeps the previous config.
#[derive(Debug)]
pub struct ReloadableServerConfig {
    settings: TlsServerSettings,
    // std RwLock, not tokio: held only to clone or replace an Arc, never across .await.
    current: RwLock<Arc<ServerConfig>>,
}

impl ReloadableServerConfig {
    pub fn new(settings: TlsServerSettings) -> Result<Self, TlsError> {
        let current = RwLock::new(server_config(&settings)?);
        Ok(ReloadableServerConfig { settings, current })
    }

    /// The config for the next accepted connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the certificate, key and CA files. Connections already open keep theirs.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = server_config(&self.settings)?;
        match self.current.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current())
    }

    pub fn settings(&self) -> &TlsServerSettings {
        &self.settings
    }
}

/// Accepts TLS over `stream` with `config`.
pub async fn accept<S>(
    config: Arc<ServerConfig>,
    stream: S,
) -> Result<tokio_rustls::server::TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio_rustls::TlsAcceptor::from(config)
        .accept(stream)
        .await
        .map_err(TlsError::Handshake)
}

/// The client certificate's subject CN on an accepted connection (for
/// `use_identity_as_username`); `None` without a certificate or CN.
pub fn peer_common_name<S>(stream: &tokio_rustls::server::TlsStream<S>) -> Option<String> {
    let (_, connection) = stream.get_ref();
    connection
        .peer_certificates()?
        .first()
        .and_then(certificate_common_name)
}

/// The first subject CN of a DER certificate.
pub fn certificate_common_name(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let common_name = parsed.subject().iter_common_name().next()?;
    common_name.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_pki::Pki;

    #[test]
    fn common_name_is_read_from_a_certificate() {
        let pki = Pki::generate();
        let certificates = load_certificates("certificate", &pki.path("client.pem")).unwrap();
        assert_eq!(
            certificate_common_name(&certificates[0]).as_deref(),
            Some("device-42")
        );
        assert_eq!(
            certificate_common_name(&CertificateDer::from(vec![0x30, 0x00])),
            None
        );
    }
}
