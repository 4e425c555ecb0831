//! Reading the PEM files a TLS config names: certificate chains, private keys (PKCS#8,
//! PKCS#1 or SEC1; an encrypted PKCS#8 key is decrypted with its password) and CA files
//! as trust anchors. Each failure is a `TlsError` naming the file.

use super::TlsError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;
use std::path::Path;

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

pub(super) fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
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
