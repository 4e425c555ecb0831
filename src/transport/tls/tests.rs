//! Handshakes between this module's client and server configs over 127.0.0.1: trust,
//! host names, client certificates, TLS versions, cipher lists, encrypted keys, reloads,
//! and the typed errors for bad files.

use super::ciphers::provider_with;
use super::*;
use crate::transport::test_pki::Pki;
use rustls::{CertificateError, ClientConfig, RootCertStore, ServerConfig};
use std::sync::Arc;
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
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
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
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, b'c',
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
        let (server_result, client_result) = handshake(server.clone(), client, "localhost").await;
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
    let (server_result, client_result) = handshake(tls13_server, tls12_client, "localhost").await;
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
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[7; 16], &[9; 16]).unwrap();
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
