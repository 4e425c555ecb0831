//! TLS for both sides with rustls (ring provider): server configs from PEM certificate and
//! key files (encrypted PKCS#8 keys with a password) with optional client-certificate
//! verification, client configs from a CA file or the system trust store, TLS versions and
//! OpenSSL-named cipher suites, and the client certificate's CN for
//! `use_identity_as_username`. Configs are built from files here and handed to the
//! listener or connection as `Arc`s; a reload builds a new one and swaps it in.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio::io::{AsyncRead, AsyncWrite};

/// Why a TLS configuration could not be built or a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} file {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid PEM in {what} file {path}: {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("no certificate found in {path} (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error(
        "no private key found in {path} (expected a PKCS#8, PKCS#1 or SEC1 PEM key, or an \
         encrypted PKCS#8 key (BEGIN ENCRYPTED PRIVATE KEY) with its password)"
    )]
    NoPrivateKey { path: PathBuf },
    #[error("the private key in {path} is encrypted: a key password is needed")]
    KeyPasswordNeeded { path: PathBuf },
    #[error("cannot decrypt the private key in {path}: {reason}")]
    KeyDecryption { path: PathBuf, reason: String },
    #[error(
        "the private key in {path} is encrypted in the legacy OpenSSL format (Proc-Type: \
         4,ENCRYPTED); convert it to encrypted PKCS#8 (openssl pkcs8 -topk8)"
    )]
    LegacyEncryptedKey { path: PathBuf },
    #[error(
        "unsupported cipher {0:?}: the supported ones are {supported}",
        supported = supported_cipher_names()
    )]
    UnsupportedCipher(String),
    #[error("the cipher list {0:?} leaves no cipher suite for the TLS versions allowed")]
    NoCipherLeft(String),
    #[error("certificate in {path} is not usable as a trust anchor: {reason}")]
    BadCaCertificate { path: PathBuf, reason: String },
    #[error("a client certificate needs both a certificate file and a key file")]
    IncompleteClientIdentity,
    #[error("the system trust store has no usable certificates: {0}")]
    SystemRoots(String),
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("invalid client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("invalid TLS server name {0:?}")]
    InvalidServerName(String),
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
}

impl TlsError {
    /// The rustls error behind a handshake failure (an unknown CA, an expired certificate,
    /// a name mismatch, a missing client certificate, a peer that does not speak TLS...).
    pub fn handshake_cause(&self) -> Option<&rustls::Error> {
        match self {
            TlsError::Handshake(error) => error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
            _ => None,
        }
    }
}

/// Which TLS versions are offered: from 1.2 on by default, or one version only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (Mosquitto's `tls_version tlsv1.2`, a minimum).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
    /// TLS 1.2 and not 1.3 (paho's `ssl.PROTOCOL_TLSv1_2`, `--tls-version tlsv1.2` of
    /// mosquitto_pub, which pin one version on the client side).
    Tls12Only,
}

static TLS12_AND_13: [&rustls::SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];
static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
static TLS12_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];

impl TlsVersion {
    fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        match self {
            TlsVersion::Tls12 => &TLS12_AND_13,
            TlsVersion::Tls13 => &TLS13_ONLY,
            TlsVersion::Tls12Only => &TLS12_ONLY,
        }
    }

    /// Mosquitto's and mosquitto_pub's spelling: `tlsv1.2`, `tlsv1.3`. Older versions are
    /// refused with a message saying why.
    pub fn from_mosquitto_name(name: &str) -> Result<TlsVersion, String> {
        match name {
            "tlsv1.2" => Ok(TlsVersion::Tls12),
            "tlsv1.3" => Ok(TlsVersion::Tls13),
            "tlsv1" | "tlsv1.0" | "tlsv1.1" => Err(format!(
                "TLS version {name:?} is not supported: rustls speaks TLS 1.2 and 1.3 only"
            )),
            other => Err(format!(
                "unknown TLS version {other:?} (tlsv1.2 or tlsv1.3)"
            )),
        }
    }
}

/// Whether a server asks for client certificates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientCertificates {
    /// Not requested (Mosquitto's `require_certificate false`).
    #[default]
    NotRequested,
    /// Requested and verified when sent; a client without one is still accepted.
    Optional,
    /// Required and verified (Mosquitto's `require_certificate true`).
    Required,
}

/// Files and options of a TLS listener (Mosquitto's `certfile`, `keyfile`, `cafile`,
/// `require_certificate`, `tls_version`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsServerSettings {
    /// PEM: the server certificate, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: the server's private key.
    pub key_file: PathBuf,
    /// PEM: CAs that sign acceptable client certificates (needed unless `NotRequested`).
    pub ca_file: Option<PathBuf>,
    pub client_certificates: ClientCertificates,
    pub min_version: TlsVersion,
    /// ALPN protocols offered, most preferred first (empty: no ALPN).
    pub alpn_protocols: Vec<Vec<u8>>,
    /// OpenSSL cipher list (see [`cipher_suites`]); `None`: rustls' defaults.
    pub ciphers: Option<String>,
    /// Password of an encrypted PKCS#8 `key_file`.
    pub key_password: Option<String>,
}

/// How a client checks the server's certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerVerification {
    /// Chain to a trusted CA, validity dates, and the host name.
    #[default]
    Full,
    /// Chain and dates, but not the host name (paho's `tls_insecure_set(True)`).
    SkipHostname,
    /// Nothing (paho's `cert_reqs=ssl.CERT_NONE`): encryption without authentication.
    None,
}

/// Files and options of a TLS client (paho's `tls_set` arguments).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsClientSettings {
    /// PEM CAs to trust; `None` uses the system trust store.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key, for servers that ask for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub verification: ServerVerification,
    pub min_version: TlsVersion,
    pub alpn_protocols: Vec<Vec<u8>>,
    /// OpenSSL cipher list (see [`cipher_suites`]); `None`: rustls' defaults.
    pub ciphers: Option<String>,
    /// Password of an encrypted PKCS#8 `key_file` (paho's `keyfile_password`).
    pub key_password: Option<String>,
}

/// The ring provider limited to the suites `ciphers` names (all of them when `None`).
fn provider_with(ciphers: Option<&str>) -> Result<Arc<CryptoProvider>, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(list) = ciphers {
        provider.cipher_suites = cipher_suites(list)?;
    }
    Ok(Arc::new(provider))
}

/// The suites rustls (ring) offers, by their OpenSSL and IANA names.
const CIPHER_NAMES: [(&str, &str); 9] = [
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

fn supported_cipher_names() -> String {
    let names: Vec<&str> = CIPHER_NAMES.iter().map(|(openssl, _)| *openssl).collect();
    format!("{} (or DEFAULT, ALL, HIGH)", names.join(", "))
}

/// The cipher suites an OpenSSL cipher list names (`:`, `,` or space separated; `!NAME`
/// or `-NAME` removes one; `DEFAULT`, `ALL` and `HIGH` stand for every suite rustls has,
/// since all of them are strong). As with OpenSSL, where Python's `ssl` and Mosquitto get
/// their cipher lists, a list that names no TLS 1.3 suite leaves TLS 1.3's suites alone.
/// A name rustls does not implement is an error naming it.
pub fn cipher_suites(list: &str) -> Result<Vec<rustls::SupportedCipherSuite>, TlsError> {
    let all = rustls::crypto::ring::default_provider().cipher_suites;
    let find = |name: &str| {
        CIPHER_NAMES
            .iter()
            .find(|(openssl, iana)| {
                name.eq_ignore_ascii_case(openssl) || name.eq_ignore_ascii_case(iana)
            })
            .and_then(|(_, iana)| all.iter().find(|s| format!("{:?}", s.suite()) == *iana))
            .copied()
    };
    let mut chosen: Vec<rustls::SupportedCipherSuite> = Vec::new();
    let mut removed: Vec<rustls::SupportedCipherSuite> = Vec::new();
    for word in list
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        let (remove, name) = match word.strip_prefix(['!', '-']) {
            Some(name) => (true, name),
            None => (false, word.strip_prefix('+').unwrap_or(word)),
        };
        let suites: Vec<rustls::SupportedCipherSuite> = match name.to_ascii_uppercase().as_str() {
            "DEFAULT" | "ALL" | "HIGH" => all.clone(),
            // Categories rustls never offers: removing them is a no-op.
            "ANULL" | "ENULL" | "NULL" | "EXPORT" | "LOW" | "MEDIUM" | "RC4" | "MD5" | "DES"
            | "3DES" | "PSK" | "SRP" | "DSS" | "CAMELLIA" | "SEED" | "IDEA"
                if remove =>
            {
                Vec::new()
            }
            _ => vec![find(name).ok_or_else(|| TlsError::UnsupportedCipher(name.to_string()))?],
        };
        for suite in suites {
            if remove {
                chosen.retain(|s| s.suite() != suite.suite());
                removed.push(suite);
            } else if !chosen.iter().any(|s| s.suite() == suite.suite())
                && !removed.iter().any(|s| s.suite() == suite.suite())
            {
                chosen.push(suite);
            }
        }
    }
    let names_tls13 = chosen
        .iter()
        .chain(&removed)
        .any(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)));
    if !names_tls13 {
        chosen.extend(
            all.iter()
                .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
                .copied(),
        );
    }
    if chosen.is_empty() {
        return Err(TlsError::NoCipherLeft(list.to_string()));
    }
    Ok(chosen)
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Reads every certificate of a PEM file (other PEM sections are skipped).
pub fn load_certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(what, path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            what,
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// Reads the first private key of a PEM file; an encrypted PKCS#8 key
/// (`BEGIN ENCRYPTED PRIVATE KEY`, PBES2) is decrypted with `password`.
pub fn load_private_key(
    path: &Path,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file("private key", path)?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return decrypt_pkcs8(&text, path, password);
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::LegacyEncryptedKey {
            path: path.to_path_buf(),
        });
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        other => TlsError::Pem {
            what: "private key",
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

fn decrypt_pkcs8(
    text: &str,
    path: &Path,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    use pkcs8::der::Decode;
    let password = password.ok_or_else(|| TlsError::KeyPasswordNeeded {
        path: path.to_path_buf(),
    })?;
    let failed = |reason: String| TlsError::KeyDecryption {
        path: path.to_path_buf(),
        reason,
    };
    let start = text
        .find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        .unwrap_or_default();
    let end_marker = "-----END ENCRYPTED PRIVATE KEY-----";
    let end = text[start..]
        .find(end_marker)
        .map(|i| start + i + end_marker.len())
        .ok_or_else(|| failed("unterminated PEM block".to_string()))?;
    let (_, document) = pkcs8::der::SecretDocument::from_pem(&text[start..end])
        .map_err(|e| failed(format!("invalid PEM: {e}")))?;
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::from_der(document.as_bytes())
        .map_err(|e| failed(format!("invalid encrypted PKCS#8: {e}")))?;
    let decrypted = encrypted
        .decrypt(password)
        .map_err(|e| failed(format!("wrong password or unsupported encryption ({e})")))?;
    // Decryption with a wrong password can still unpad; a key that does not parse is
    // the same failure.
    pkcs8::PrivateKeyInfo::from_der(decrypted.as_bytes())
        .map_err(|_| failed("wrong password".to_string()))?;
    Ok(PrivateKeyDer::Pkcs8(decrypted.as_bytes().to_vec().into()))
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in load_certificates("CA", path)? {
        roots
            .add(certificate)
            .map_err(|error| TlsError::BadCaCertificate {
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
    }
    Ok(roots)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_pki::Pki;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    fn server_settings(pki: &Pki) -> TlsServerSettings {
        TlsServerSettings {
            cert_file: pki.path("server.pem"),
            key_file: pki.path("server.key"),
            ..Default::default()
        }
    }

    fn client_settings(pki: &Pki) -> TlsClientSettings {
        TlsClientSettings {
            ca_file: Some(pki.path("ca.pem")),
            ..Default::default()
        }
    }

    /// Client and server outcomes of one handshake over 127.0.0.1. On success the server
    /// sends two bytes the client must read, so a late rejection (TLS 1.3 client
    /// certificates are checked after the client thinks it is done) shows on both sides.
    async fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
        server_name: &str,
    ) -> (Result<Option<String>, TlsError>, Result<Vec<u8>, TlsError>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server_side = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut stream = accept(server, socket).await?;
            let common_name = peer_common_name(&stream);
            let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            stream.write_all(b"ok").await.map_err(TlsError::Handshake)?;
            stream.flush().await.map_err(TlsError::Handshake)?;
            // Keep the connection open until the client has read.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
            Ok::<_, TlsError>((common_name, alpn))
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let client_result = async {
            let mut stream = connect(client, server_name, socket).await?;
            let mut greeting = [0u8; 2];
            stream
                .read_exact(&mut greeting)
                .await
                .map_err(TlsError::Handshake)?;
            let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            stream.shutdown().await.map_err(TlsError::Handshake)?;
            assert_eq!(&greeting, b"ok");
            Ok(alpn.unwrap_or_default())
        }
        .await;
        let server_result = tokio::time::timeout(Duration::from_secs(5), server_side)
            .await
            .expect("server side finished")
            .unwrap()
            .map(|(common_name, _)| common_name);
        (server_result, client_result)
    }

    fn cause(result: &Result<impl std::fmt::Debug, TlsError>) -> rustls::Error {
        match result {
            Err(error) => error
                .handshake_cause()
                .cloned()
                .unwrap_or_else(|| panic!("not a rustls handshake error: {error:?}")),
            Ok(value) => panic!("expected a failure, got {value:?}"),
        }
    }

    #[tokio::test]
    async fn a_client_trusting_the_ca_connects_with_alpn() {
        let pki = Pki::generate();
        let mut server = server_settings(&pki);
        server.alpn_protocols = vec![b"mqtt".to_vec()];
        let mut client = client_settings(&pki);
        client.alpn_protocols = vec![b"x-other".to_vec(), b"mqtt".to_vec()];
        for name in ["localhost", "127.0.0.1"] {
            let (server_result, client_result) = handshake(
                server_config(&server).unwrap(),
                client_config(&client).unwrap(),
                name,
            )
            .await;
            assert_eq!(server_result.unwrap(), None);
            assert_eq!(client_result.unwrap(), b"mqtt");
        }
    }

    #[tokio::test]
    async fn a_tls13_only_server_refuses_a_tls12_only_client() {
        let pki = Pki::generate();
        let mut server = server_settings(&pki);
        server.min_version = TlsVersion::Tls13;
        let server = server_config(&server).unwrap();
        let (server_result, client_result) = handshake(
            server.clone(),
            client_config(&client_settings(&pki)).unwrap(),
            "localhost",
        )
        .await;
        assert!(server_result.is_ok() && client_result.is_ok());

        let mut roots = RootCertStore::empty();
        for certificate in load_certificates("CA", &pki.path("ca.pem")).unwrap() {
            roots.add(certificate).unwrap();
        }
        let tls12_client = ClientConfig::builder_with_provider(provider_with(None).unwrap())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (server_result, client_result) =
            handshake(server, Arc::new(tls12_client), "localhost").await;
        assert!(matches!(
            cause(&server_result),
            rustls::Error::PeerIncompatible(_)
        ));
        assert!(client_result.is_err());
    }

    #[tokio::test]
    async fn a_server_signed_by_another_ca_is_refused() {
        let pki = Pki::generate();
        let mut server = server_settings(&pki);
        server.cert_file = pki.path("other-server.pem");
        server.key_file = pki.path("other-server.key");
        for verification in [ServerVerification::Full, ServerVerification::SkipHostname] {
            let client = TlsClientSettings {
                verification,
                ..client_settings(&pki)
            };
            let (_, client_result) = handshake(
                server_config(&server).unwrap(),
                client_config(&client).unwrap(),
                "localhost",
            )
            .await;
            assert_eq!(
                cause(&client_result),
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
            );
        }
    }

    #[tokio::test]
    async fn an_expired_server_certificate_is_refused() {
        let pki = Pki::generate();
        let mut server = server_settings(&pki);
        server.cert_file = pki.path("expired.pem");
        server.key_file = pki.path("expired.key");
        let (_, client_result) = handshake(
            server_config(&server).unwrap(),
            client_config(&client_settings(&pki)).unwrap(),
            "localhost",
        )
        .await;
        assert!(
            matches!(
                cause(&client_result),
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            ),
            "{client_result:?}"
        );
    }

    #[tokio::test]
    async fn a_host_name_mismatch_is_refused_unless_hostname_checks_are_off() {
        let pki = Pki::generate();
        let server = server_config(&server_settings(&pki)).unwrap();
        let (_, client_result) = handshake(
            server.clone(),
            client_config(&client_settings(&pki)).unwrap(),
            "mqtt.example.com",
        )
        .await;
        assert!(
            matches!(
                cause(&client_result),
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{client_result:?}"
        );
        let insecure = TlsClientSettings {
            verification: ServerVerification::SkipHostname,
            ..client_settings(&pki)
        };
        let (_, client_result) = handshake(
            server,
            client_config(&insecure).unwrap(),
            "mqtt.example.com",
        )
        .await;
        assert!(client_result.is_ok(), "{client_result:?}");
    }

    #[tokio::test]
    async fn no_verification_accepts_an_unknown_server() {
        let pki = Pki::generate();
        let mut server = server_settings(&pki);
        server.cert_file = pki.path("other-server.pem");
        server.key_file = pki.path("other-server.key");
        let client = TlsClientSettings {
            ca_file: None,
            verification: ServerVerification::None,
            ..Default::default()
        };
        let (_, client_result) = handshake(
            server_config(&server).unwrap(),
            client_config(&client).unwrap(),
            "anything.invalid",
        )
        .await;
        assert!(client_result.is_ok(), "{client_result:?}");
    }

    fn requiring(pki: &Pki, mode: ClientCertificates) -> Arc<ServerConfig> {
        server_config(&TlsServerSettings {
            ca_file: Some(pki.path("ca.pem")),
            client_certificates: mode,
            ..server_settings(pki)
        })
        .unwrap()
    }

    fn with_identity(pki: &Pki, prefix: &str) -> Arc<ClientConfig> {
        client_config(&TlsClientSettings {
            cert_file: Some(pki.path(&format!("{prefix}client.pem"))),
            key_file: Some(pki.path(&format!("{prefix}client.key"))),
            ..client_settings(pki)
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_required_client_certificate_gives_its_common_name() {
        let pki = Pki::generate();
        let (server_result, client_result) = handshake(
            requiring(&pki, ClientCertificates::Required),
            with_identity(&pki, ""),
            "localhost",
        )
        .await;
        assert_eq!(server_result.unwrap().as_deref(), Some("device-42"));
        assert!(client_result.is_ok());
    }

    #[tokio::test]
    async fn a_missing_client_certificate_is_refused_when_required() {
        let pki = Pki::generate();
        let (server_result, client_result) = handshake(
            requiring(&pki, ClientCertificates::Required),
            client_config(&client_settings(&pki)).unwrap(),
            "localhost",
        )
        .await;
        assert_eq!(
            cause(&server_result),
            rustls::Error::NoCertificatesPresented
        );
        assert!(client_result.is_err());
    }

    #[tokio::test]
    async fn a_client_certificate_from_another_ca_is_refused() {
        let pki = Pki::generate();
        for mode in [ClientCertificates::Required, ClientCertificates::Optional] {
            let (server_result, client_result) = handshake(
                requiring(&pki, mode),
                with_identity(&pki, "other-"),
                "localhost",
            )
            .await;
            assert_eq!(
                cause(&server_result),
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
            );
            assert!(client_result.is_err());
        }
    }

    #[tokio::test]
    async fn an_optional_client_certificate_may_be_left_out() {
        let pki = Pki::generate();
        let optional = requiring(&pki, ClientCertificates::Optional);
        let (server_result, _) = handshake(
            optional.clone(),
            client_config(&client_settings(&pki)).unwrap(),
            "localhost",
        )
        .await;
        assert_eq!(server_result.unwrap(), None);
        let (server_result, _) = handshake(optional, with_identity(&pki, ""), "localhost").await;
        assert_eq!(server_result.unwrap().as_deref(), Some("device-42"));
    }

    #[tokio::test]
    async fn plain_mqtt_sent_to_a_tls_port_fails_the_handshake() {
        let pki = Pki::generate();
        let config = server_config(&server_settings(&pki)).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server_side = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            accept(config, socket).await.map(|_| ())
        });
        let mut socket = TcpStream::connect(address).await.unwrap();
        // An MQTT 3.1.1 CONNECT, client id "c".
        let connect = [
            0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01,
            b'c',
        ];
        socket.write_all(&connect).await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), server_side)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(result, Err(TlsError::Handshake(_))), "{result:?}");
    }

    #[tokio::test]
    async fn tls_sent_to_a_plain_port_fails_the_handshake() {
        let pki = Pki::generate();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 64];
            let _ = socket.read(&mut buffer).await;
            // What an MQTT broker answers to bytes it cannot decode: it closes.
            drop(socket);
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let result = connect(
            client_config(&client_settings(&pki)).unwrap(),
            "localhost",
            socket,
        )
        .await;
        assert!(matches!(result, Err(TlsError::Handshake(_))), "{result:?}");
    }

    #[tokio::test]
    async fn reload_picks_up_new_files_and_keeps_the_old_config_on_failure() {
        let pki = Pki::generate();
        let served_cert = pki.path("served.pem");
        let served_key = pki.path("served.key");
        std::fs::copy(pki.path("other-server.pem"), &served_cert).unwrap();
        std::fs::copy(pki.path("other-server.key"), &served_key).unwrap();
        let reloadable = ReloadableServerConfig::new(TlsServerSettings {
            cert_file: served_cert.clone(),
            key_file: served_key.clone(),
            ..Default::default()
        })
        .unwrap();
        let client = client_config(&client_settings(&pki)).unwrap();
        let (_, before) = handshake(reloadable.current(), client.clone(), "localhost").await;
        assert!(before.is_err());

        std::fs::copy(pki.path("server.pem"), &served_cert).unwrap();
        std::fs::copy(pki.path("server.key"), &served_key).unwrap();
        reloadable.reload().unwrap();
        let (_, after) = handshake(reloadable.current(), client.clone(), "localhost").await;
        assert!(after.is_ok(), "{after:?}");

        std::fs::write(&served_cert, "not a certificate").unwrap();
        assert!(matches!(
            reloadable.reload(),
            Err(TlsError::NoCertificate { .. })
        ));
        let (_, still) = handshake(reloadable.current(), client, "localhost").await;
        assert!(still.is_ok(), "{still:?}");
    }

    #[test]
    fn bad_files_give_typed_errors_naming_the_file() {
        let pki = Pki::generate();
        let missing = pki.path("missing.pem");
        let error = server_config(&TlsServerSettings {
            cert_file: missing.clone(),
            ..server_settings(&pki)
        })
        .unwrap_err();
        assert!(matches!(&error, TlsError::Read { path, .. } if *path == missing));
        assert!(error.to_string().contains("missing.pem"), "{error}");

        let garbage = pki.path("garbage.pem");
        std::fs::write(&garbage, "hello\n").unwrap();
        let error = load_certificates("certificate", &garbage).unwrap_err();
        assert!(matches!(error, TlsError::NoCertificate { .. }), "{error:?}");

        let truncated = pki.path("truncated.pem");
        std::fs::write(&truncated, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let error = load_certificates("certificate", &truncated).unwrap_err();
        assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");

        // A certificate file given as the key.
        let error = load_private_key(&pki.path("server.pem"), None).unwrap_err();
        assert!(matches!(error, TlsError::NoPrivateKey { .. }), "{error:?}");

        // A key that does not belong to the certificate.
        let error = server_config(&TlsServerSettings {
            key_file: pki.path("client.key"),
            ..server_settings(&pki)
        })
        .unwrap_err();
        assert!(matches!(error, TlsError::Config(_)), "{error:?}");

        let error = server_config(&TlsServerSettings {
            client_certificates: ClientCertificates::Required,
            ..server_settings(&pki)
        })
        .unwrap_err();
        assert!(error.to_string().contains("cafile"), "{error}");

        let error = client_config(&TlsClientSettings {
            cert_file: Some(pki.path("client.pem")),
            ..client_settings(&pki)
        })
        .unwrap_err();
        assert!(matches!(error, TlsError::IncompleteClientIdentity));
    }

    #[test]
    fn cipher_lists_use_openssl_names_and_name_what_is_unsupported() {
        let names = |list: &str| -> Vec<String> {
            cipher_suites(list)
                .unwrap()
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect()
        };
        // A TLS 1.2 list leaves TLS 1.3's suites in place, as OpenSSL does.
        let chosen = names("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305");
        assert_eq!(
            &chosen[..2],
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            ]
        );
        assert_eq!(chosen.len(), 5);
        assert!(chosen[2..].iter().all(|name| name.starts_with("TLS13_")));
        assert_eq!(
            names("TLS_AES_128_GCM_SHA256 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            [
                "TLS13_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        let all = names("HIGH:!aNULL:!MD5:-ECDHE-RSA-CHACHA20-POLY1305");
        assert_eq!(all.len(), 8);
        assert!(!all.contains(&"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".to_string()));

        let error = cipher_suites("ECDHE-RSA-AES256-GCM-SHA384:AES256-SHA").unwrap_err();
        assert!(matches!(&error, TlsError::UnsupportedCipher(name) if name == "AES256-SHA"));
        assert!(
            error.to_string().contains("ECDHE-RSA-AES128-GCM-SHA256"),
            "{error}"
        );
        assert!(matches!(
            cipher_suites("ALL:!ALL"),
            Err(TlsError::NoCipherLeft(_))
        ));
    }

    #[tokio::test]
    async fn client_and_server_cipher_lists_must_share_a_suite() {
        let pki = Pki::generate();
        let server = server_config(&TlsServerSettings {
            ciphers: Some("ECDHE-ECDSA-AES256-GCM-SHA384".to_string()),
            ..server_settings(&pki)
        })
        .unwrap();
        for (client_cipher, ok) in [
            ("ECDHE-ECDSA-AES256-GCM-SHA384", true),
            ("ECDHE-ECDSA-AES128-GCM-SHA256", false),
        ] {
            let client = client_config(&TlsClientSettings {
                ciphers: Some(client_cipher.to_string()),
                min_version: TlsVersion::Tls12Only,
                ..client_settings(&pki)
            })
            .unwrap();
            let (server_result, client_result) =
                handshake(server.clone(), client, "localhost").await;
            assert_eq!(
                client_result.is_ok(),
                ok,
                "{client_cipher}: {client_result:?}"
            );
            if !ok {
                assert!(matches!(
                    cause(&server_result),
                    rustls::Error::PeerIncompatible(_)
                ));
            }
        }
    }

    #[tokio::test]
    async fn a_tls12_only_client_cannot_reach_a_tls13_only_server() {
        let pki = Pki::generate();
        let tls12_client = client_config(&TlsClientSettings {
            min_version: TlsVersion::Tls12Only,
            ..client_settings(&pki)
        })
        .unwrap();
        let (_, client_result) = handshake(
            server_config(&server_settings(&pki)).unwrap(),
            tls12_client.clone(),
            "localhost",
        )
        .await;
        assert!(client_result.is_ok(), "{client_result:?}");
        let tls13_server = server_config(&TlsServerSettings {
            min_version: TlsVersion::Tls13,
            ..server_settings(&pki)
        })
        .unwrap();
        let (server_result, client_result) =
            handshake(tls13_server, tls12_client, "localhost").await;
        assert!(matches!(
            cause(&server_result),
            rustls::Error::PeerIncompatible(_)
        ));
        assert!(client_result.is_err());
        assert_eq!(
            TlsVersion::from_mosquitto_name("tlsv1.3"),
            Ok(TlsVersion::Tls13)
        );
        let error = TlsVersion::from_mosquitto_name("tlsv1.1").unwrap_err();
        assert!(error.contains("TLS 1.2 and 1.3 only"), "{error}");
    }

    /// `name` encrypted as PKCS#8 PBES2 (PBKDF2-SHA256, AES-256-CBC) with `password`.
    fn encrypt_key(pki: &Pki, name: &str, password: &str) -> PathBuf {
        use pkcs8::der::{pem::LineEnding, Decode};
        let plain = load_private_key(&pki.path(name), None).unwrap();
        let info = pkcs8::PrivateKeyInfo::from_der(plain.secret_der()).unwrap();
        let parameters =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[7; 16], &[9; 16])
                .unwrap();
        let encrypted = info.encrypt_with_params(parameters, password).unwrap();
        let pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .unwrap();
        let path = pki.path(&format!("encrypted-{name}"));
        std::fs::write(&path, pem.as_bytes()).unwrap();
        path
    }

    #[tokio::test]
    async fn an_encrypted_pkcs8_key_is_read_with_its_password() {
        let pki = Pki::generate();
        let server_key = encrypt_key(&pki, "server.key", "s3cret");
        let server = server_config(&TlsServerSettings {
            key_file: server_key.clone(),
            key_password: Some("s3cret".to_string()),
            ..server_settings(&pki)
        })
        .unwrap();
        let client = client_config(&TlsClientSettings {
            cert_file: Some(pki.path("client.pem")),
            key_file: Some(encrypt_key(&pki, "client.key", "pw")),
            key_password: Some("pw".to_string()),
            ..client_settings(&pki)
        })
        .unwrap();
        let (_, client_result) = handshake(server, client, "localhost").await;
        assert!(client_result.is_ok(), "{client_result:?}");

        let error = load_private_key(&server_key, None).unwrap_err();
        assert!(
            matches!(error, TlsError::KeyPasswordNeeded { .. }),
            "{error:?}"
        );
        let error = load_private_key(&server_key, Some("wrong")).unwrap_err();
        assert!(matches!(error, TlsError::KeyDecryption { .. }), "{error:?}");
        assert!(
            error.to_string().contains("encrypted-server.key"),
            "{error}"
        );
        let legacy = pki.path("legacy.key");
        std::fs::write(
            &legacy,
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = load_private_key(&legacy, Some("pw")).unwrap_err();
        assert!(
            error.to_string().contains("openssl pkcs8 -topk8"),
            "{error}"
        );
    }

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
