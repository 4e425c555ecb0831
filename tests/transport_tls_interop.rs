//! TLS against OpenSSL peers: our client config with a real Mosquitto TLS listener
//! (client certificate, `use_identity_as_username`), and `mosquitto_pub --cafile --cert
//! --key` against our server config. Certificates are generated for each test.

mod mosquitto_support;
#[path = "../src/transport/test_pki.rs"]
mod test_pki;

use ferromqtt::transport::tls::{self, ClientCertificates, TlsClientSettings, TlsServerSettings};
use ferromqtt::transport::{accept_stream, connect, BoxedStream, ConnectOptions};
use mosquitto_support::{binary, require, Mosquitto};
use std::process::Command;
use std::time::Duration;
use test_pki::Pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Reads one MQTT packet: (first byte, body).
async fn read_packet(stream: &mut BoxedStream) -> std::io::Result<(u8, Vec<u8>)> {
    let first = stream.read_u8().await?;
    let mut length = 0usize;
    for shift in [0, 7, 14, 21] {
        let byte = stream.read_u8().await?;
        length |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok((first, body))
}

// MQTT 5 CONNECT, clean start, keep-alive 60, client id "c".
const CONNECT_V5: [u8; 16] = [
    0x10, 0x0e, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00, 0x01, b'c',
];

/// PUBLISH QoS 1, packet id 1, payload "x", MQTT 5.
fn publish_v5(topic: &str) -> Vec<u8> {
    let mut body = vec![0x00, topic.len() as u8];
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&[0x00, 0x01, 0x00, b'x']);
    let mut packet = vec![0x32, body.len() as u8];
    packet.extend(body);
    packet
}

/// Connects through our TLS client and returns the PUBACK reason for each topic, or the
/// error that ended the exchange.
async fn publish_through_tls(
    port: u16,
    settings: TlsClientSettings,
    topics: &[&str],
) -> Result<Vec<u8>, String> {
    let config = tls::client_config(&settings).map_err(|e| e.to_string())?;
    let mut options = ConnectOptions::tcp("127.0.0.1", port);
    options.tls = Some(config);
    options.tls_server_name = Some("localhost".to_string());
    let mut stream = connect(&options).await.map_err(|e| e.to_string())?;
    stream
        .write_all(&CONNECT_V5)
        .await
        .map_err(|e| e.to_string())?;
    let (kind, body) = read_packet(&mut stream).await.map_err(|e| e.to_string())?;
    if kind != 0x20 || body.get(1) != Some(&0) {
        return Err(format!("CONNACK {kind:#x} {body:?}"));
    }
    let mut reasons = Vec::new();
    for topic in topics {
        stream
            .write_all(&publish_v5(topic))
            .await
            .map_err(|e| e.to_string())?;
        let (kind, body) = read_packet(&mut stream).await.map_err(|e| e.to_string())?;
        assert_eq!(kind, 0x40, "PUBACK");
        reasons.push(body.get(2).copied().unwrap_or(0));
    }
    Ok(reasons)
}

#[tokio::test]
async fn our_tls_client_talks_to_mosquitto_with_a_client_certificate() {
    if !require(&["mosquitto"]) {
        return;
    }
    let pki = Pki::generate();
    std::fs::write(pki.path("acl"), "user device-42\ntopic write dev/#\n").unwrap();
    let file = |name: &str| pki.path(name).display().to_string();
    let (ca, cert, key, acl) = (
        file("ca.pem"),
        file("server.pem"),
        file("server.key"),
        file("acl"),
    );
    let broker = Mosquitto::start(&pki.dir, |port| {
        format!(
            "listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n\
             require_certificate true\nuse_identity_as_username true\n\
             allow_anonymous true\nacl_file {acl}\n"
        )
    });
    let identity = TlsClientSettings {
        ca_file: Some(pki.path("ca.pem")),
        cert_file: Some(pki.path("client.pem")),
        key_file: Some(pki.path("client.key")),
        ..Default::default()
    };
    // The certificate's CN became the username: the ACL lets device-42 write dev/# only.
    let reasons = publish_through_tls(broker.port, identity.clone(), &["dev/x", "other/x"])
        .await
        .unwrap();
    assert!(reasons[0] < 0x80, "{reasons:?}");
    assert_eq!(reasons[1], 0x87);

    let wrong_ca = TlsClientSettings {
        ca_file: Some(pki.path("other-ca.pem")),
        ..identity.clone()
    };
    let error = publish_through_tls(broker.port, wrong_ca, &[])
        .await
        .unwrap_err();
    assert!(error.contains("UnknownIssuer"), "{error}");

    let anonymous = TlsClientSettings {
        cert_file: None,
        key_file: None,
        ..identity
    };
    assert!(publish_through_tls(broker.port, anonymous, &[])
        .await
        .is_err());
}

/// Accepts one TLS connection, answers an MQTT 3.1.1 CONNECT, and returns the client
/// certificate's CN and the topic of the PUBLISH that follows.
async fn serve_one(
    listener: TcpListener,
    config: std::sync::Arc<rustls::ServerConfig>,
) -> Result<(Option<String>, String), String> {
    let (socket, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let accepted = accept_stream(socket, Some(config), None)
        .await
        .map_err(|e| e.to_string())?;
    let mut stream = accepted.stream;
    let (kind, _) = read_packet(&mut stream).await.map_err(|e| e.to_string())?;
    assert_eq!(kind & 0xf0, 0x10, "CONNECT");
    stream
        .write_all(&[0x20, 0x02, 0x00, 0x00])
        .await
        .map_err(|e| e.to_string())?;
    let (kind, body) = read_packet(&mut stream).await.map_err(|e| e.to_string())?;
    assert_eq!(kind & 0xf0, 0x30, "PUBLISH");
    let length = usize::from(body[0]) << 8 | usize::from(body[1]);
    let topic = String::from_utf8_lossy(&body[2..2 + length]).into_owned();
    Ok((accepted.certificate_common_name, topic))
}

async fn mosquitto_pub_against_us(
    pki: &Pki,
    ca: &str,
    with_certificate: bool,
) -> (bool, Result<(Option<String>, String), String>) {
    let config = tls::server_config(&TlsServerSettings {
        cert_file: pki.path("server.pem"),
        key_file: pki.path("server.key"),
        ca_file: Some(pki.path("ca.pem")),
        client_certificates: ClientCertificates::Required,
        ..Default::default()
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve_one(listener, config));
    let mut command = Command::new(binary("mosquitto_pub").unwrap());
    command.args([
        "-h",
        "localhost",
        "-p",
        &port.to_string(),
        "-t",
        "tls/topic",
        "-m",
        "hi",
    ]);
    command.arg("--cafile").arg(pki.path(ca));
    if with_certificate {
        command.arg("--cert").arg(pki.path("client.pem"));
        command.arg("--key").arg(pki.path("client.key"));
    }
    let status = tokio::task::spawn_blocking(move || command.output().unwrap().status)
        .await
        .unwrap();
    let served = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    (status.success(), served)
}

#[tokio::test]
async fn mosquitto_pub_talks_to_our_tls_server() {
    if !require(&["mosquitto_pub"]) {
        return;
    }
    let pki = Pki::generate();
    let (ok, served) = mosquitto_pub_against_us(&pki, "ca.pem", true).await;
    assert!(ok);
    assert_eq!(
        served.unwrap(),
        (Some("device-42".to_string()), "tls/topic".to_string())
    );

    // mosquitto_pub does not trust our certificate: it aborts the handshake.
    let (ok, served) = mosquitto_pub_against_us(&pki, "other-ca.pem", true).await;
    assert!(!ok);
    assert!(served.is_err());

    // No client certificate where one is required: we refuse.
    let (ok, served) = mosquitto_pub_against_us(&pki, "ca.pem", false).await;
    assert!(!ok);
    let error = served.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
}
