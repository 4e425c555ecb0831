//! The client side: a `ClientConfig` from paho-style settings (a CA file or the system
//! trust store, an optional client certificate), the two relaxed server verifiers
//! (`tls_insecure_set`, `CERT_NONE`) and the handshake to a named server.

use super::ciphers::provider_with;
use super::pem::{load_certificates, load_private_key, load_roots};
use super::{ServerVerification, TlsClientSettings, TlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

fn system_roots() -> Result<RootCertStore, TlsError> {
    let result = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(result.certs);
    if roots.is_empty() {
        let reasons: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
        return Err(TlsError::SystemRoots(if reasons.is_empty() {
            "none found".to_string()
        } else {
            reasons.join("; ")
        }));
    }
    Ok(roots)
}

/// Builds a client config from `settings`.
pub fn client_config(settings: &TlsClientSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider_with(settings.ciphers.as_deref())?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(settings.min_version.versions())?;
    let builder = match settings.verification {
        ServerVerification::None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider))),
        verification => {
            let roots = match &settings.ca_file {
                Some(path) => load_roots(path)?,
                None => system_roots()?,
            };
            if verification == ServerVerification::SkipHostname {
                let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(SkipHostname(inner)))
            } else {
                builder.with_root_certificates(roots)
            }
        }
    };
    let mut config = match (&settings.cert_file, &settings.key_file) {
        (Some(cert_file), Some(key_file)) => builder.with_client_auth_cert(
            load_certificates("certificate", cert_file)?,
            load_private_key(key_file, settings.key_password.as_deref())?,
        )?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::IncompleteClientIdentity),
    };
    config.alpn_protocols = settings.alpn_protocols.clone();
    Ok(Arc::new(config))
}

/// Opens TLS over `stream` to `server_name` (a DNS name or an IP address).
pub async fn connect<S>(
    config: Arc<ClientConfig>,
    server_name: &str,
    stream: S,
) -> Result<tokio_rustls::client::TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| TlsError::InvalidServerName(server_name.to_string()))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(TlsError::Handshake)
}

/// Verifies the chain and dates but accepts any host name.
#[derive(Debug)]
struct SkipHostname(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for SkipHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name is checked last, after the chain and dates, so this error means the
        // certificate is otherwise valid.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any server certificate; the handshake signatures are still checked, so the
/// session is bound to the presented key.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
