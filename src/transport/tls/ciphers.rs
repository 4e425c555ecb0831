//! OpenSSL-named cipher lists (Mosquitto's `ciphers`, Python `ssl`'s `set_ciphers`) turned
//! into the rustls (ring) cipher suites they name, and the crypto provider limited to them
//! that server and client configs are built with.

use super::TlsError;
use rustls::crypto::CryptoProvider;
use std::sync::Arc;

/// The ring provider limited to the suites `ciphers` names (all of them when `None`).
pub(super) fn provider_with(ciphers: Option<&str>) -> Result<Arc<CryptoProvider>, TlsError> {
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

pub(super) fn supported_cipher_names() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
