//! TLS for both sides with rustls (ring provider): server configs from PEM certificate and
//! key files (encrypted PKCS#8 keys with a password) with optional client-certificate
//! verification, client configs from a CA file or the system trust store, TLS versions and
//! OpenSSL-named cipher suites, and the client certificate's CN for
//! `use_identity_as_username`. Configs are built from files here and handed to the
//! listener or connection as `Arc`s; a reload builds a new one and swaps it in.

mod ciphers;
mod client;
mod pem;
mod server;
#[cfg(test)]
mod tests;

pub use ciphers::cipher_suites;
pub use client::{client_config, connect};
pub use pem::{load_certificates, load_private_key};
pub use server::{
    accept, certificate_common_name, peer_common_name, server_config, ReloadableServerConfig,
};

use ciphers::supported_cipher_names;
use std::path::PathBuf;

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
