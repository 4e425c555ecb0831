//! Client connections through a proxy: SOCKS5 (RFC 1928, with RFC 1929 user name and
//! password), SOCKS4/4a and HTTP CONNECT (RFC 9110 §9.3.6). The client opens TCP to the
//! proxy, [`handshake`] asks it for a tunnel to the broker, and TLS, WebSocket and MQTT
//! then run through that tunnel as over a direct socket. paho's `proxy_set()`, the CLI's
//! `--proxy` URL and the asyncio client's `proxy=` all end here.

use std::io;
use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The proxy protocols (paho's `socks.SOCKS4`, `socks.SOCKS5`, `socks.HTTP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    Socks4,
    Socks5,
    Http,
}

impl ProxyKind {
    /// PySocks' default port of each protocol.
    pub fn default_port(self) -> u16 {
        match self {
            ProxyKind::Socks4 | ProxyKind::Socks5 => 1080,
            ProxyKind::Http => 8080,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ProxyKind::Socks4 => "SOCKS4",
            ProxyKind::Socks5 => "SOCKS5",
            ProxyKind::Http => "HTTP",
        }
    }
}

/// A proxy and how to use it (paho's `proxy_set` arguments).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySettings {
    pub kind: ProxyKind,
    pub host: String,
    pub port: u16,
    /// Let the proxy resolve the broker's host name (socks5h, socks4a; paho's
    /// `proxy_rdns`, on by default); otherwise it is resolved here and the proxy gets an
    /// address.
    pub remote_dns: bool,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("remote_dns", &self.remote_dns)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Why a tunnel through a proxy could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot connect to the {kind} proxy {address}: {source}")]
    Unreachable {
        kind: &'static str,
        address: String,
        source: io::Error,
    },
    #[error("the {kind} proxy {address} refused the connection to {target}: {reason}")]
    Refused {
        kind: &'static str,
        address: String,
        target: String,
        reason: String,
    },
    #[error("the {kind} proxy {address} refused the user name and password")]
    AuthenticationFailed { kind: &'static str, address: String },
    #[error("the {kind} proxy {address} answered something unexpected: {detail}")]
    Protocol {
        kind: &'static str,
        address: String,
        detail: String,
    },
    #[error("cannot resolve host {0} for the proxy")]
    UnknownHost(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the connection to the proxy failed: {0}")]
    Io(#[from] io::Error),
}

impl ProxySettings {
    fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The error for a failure to open TCP to the proxy itself.
    pub fn unreachable(&self, source: io::Error) -> ProxyError {
        ProxyError::Unreachable {
            kind: self.kind.name(),
            address: self.address(),
            source,
        }
    }

    fn protocol_error(&self, detail: impl Into<String>) -> ProxyError {
        ProxyError::Protocol {
            kind: self.kind.name(),
            address: self.address(),
            detail: detail.into(),
        }
    }

    fn refused(&self, host: &str, port: u16, reason: impl Into<String>) -> ProxyError {
        ProxyError::Refused {
            kind: self.kind.name(),
            address: self.address(),
            target: format!("{host}:{port}"),
            reason: reason.into(),
        }
    }

    /// Parses mosquitto_pub's `--proxy` URL: `socks5h://[user[:password]@]host[:port]`
    /// (also `socks5://`, `socks4://`, `socks4a://`, `http://`).
    pub fn from_url(url: &str) -> Result<ProxySettings, ProxyError> {
        let invalid = |why: &str| ProxyError::Invalid(format!("invalid proxy URL {url:?}: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected scheme://host[:port]"))?;
        let (kind, remote_dns) = match scheme.to_ascii_lowercase().as_str() {
            "socks5h" => (ProxyKind::Socks5, true),
            "socks5" => (ProxyKind::Socks5, false),
            "socks4a" => (ProxyKind::Socks4, true),
            "socks4" => (ProxyKind::Socks4, false),
            "http" => (ProxyKind::Http, true),
            _ => {
                return Err(invalid(
                    "the scheme must be socks5h, socks5, socks4a, socks4 or http",
                ))
            }
        };
        let rest = rest.trim_end_matches('/');
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((credentials, address)) => (Some(credentials), address),
            None => (None, rest),
        };
        let (username, password) = match credentials {
            None => (None, None),
            Some(text) => match text.split_once(':') {
                Some((user, password)) => {
                    (Some(percent_decode(user)), Some(percent_decode(password)))
                }
                None => (Some(percent_decode(text)), None),
            },
        };
        let (host, port) = split_host_port(address).ok_or_else(|| invalid("bad host or port"))?;
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(ProxySettings {
            kind,
            host,
            port: port.unwrap_or(kind.default_port()),
            remote_dns,
            username,
            password,
        })
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(address: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match address.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), Some(port.parse().ok()?))),
        None => Some((address.to_string(), None)),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(value)) => {
                out.push(value);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Asks the proxy at the other end of `stream` for a tunnel to `host:port`. On success
/// the stream carries the broker's bytes. The caller bounds it with a timeout.
pub async fn handshake<S>(
    stream: &mut S,
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match proxy.kind {
        ProxyKind::Socks5 => socks5(stream, proxy, host, port).await,
        ProxyKind::Socks4 => socks4(stream, proxy, host, port).await,
        ProxyKind::Http => http_connect(stream, proxy, host, port).await,
    }
}

/// The broker's address as the proxy should get it: the name itself with remote DNS
/// (unless it is an IP literal), an address resolved here otherwise.
enum Target {
    Name(String),
    Address(IpAddr),
}

async fn target(proxy: &ProxySettings, host: &str, port: u16) -> Result<Target, ProxyError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = literal.parse::<IpAddr>() {
        return Ok(Target::Address(address));
    }
    if proxy.remote_dns {
        return Ok(Target::Name(host.to_string()));
    }
    let mut addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| ProxyError::UnknownHost(host.to_string()))?;
    let first: Option<SocketAddr> = match proxy.kind {
        // SOCKS4 carries IPv4 only.
        ProxyKind::Socks4 => addresses.find(SocketAddr::is_ipv4),
        _ => addresses.next(),
    };
    first
        .map(|a| Target::Address(a.ip()))
        .ok_or_else(|| ProxyError::UnknownHost(host.to_string()))
}

const SOCKS5_NO_AUTH: u8 = 0x00;
const SOCKS5_USER_PASSWORD: u8 = 0x02;
const SOCKS5_NO_ACCEPTABLE_METHOD: u8 = 0xFF;

async fn socks5<S>(
    stream: &mut S,
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Greeting: the methods offered.
    let greeting: &[u8] = if proxy.username.is_some() {
        &[0x05, 0x02, SOCKS5_NO_AUTH, SOCKS5_USER_PASSWORD]
    } else {
        &[0x05, 0x01, SOCKS5_NO_AUTH]
    };
    stream.write_all(greeting).await?;
    stream.flush().await?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await?;
    if choice[0] != 0x05 {
        return Err(proxy.protocol_error(format!("version {} instead of 5", choice[0])));
    }
    match choice[1] {
        SOCKS5_NO_AUTH => {}
        SOCKS5_USER_PASSWORD if proxy.username.is_some() => {
            // RFC 1929: version 1, user name, password; status 0 = success.
            let username = proxy.username.as_deref().unwrap_or_default().as_bytes();
            let password = proxy.password.as_deref().unwrap_or_default().as_bytes();
            if username.len() > 255 || password.len() > 255 {
                return Err(ProxyError::Invalid(
                    "SOCKS5 user names and passwords are at most 255 bytes".to_string(),
                ));
            }
            let mut request = vec![0x01, username.len() as u8];
            request.extend_from_slice(username);
            request.push(password.len() as u8);
            request.extend_from_slice(password);
            stream.write_all(&request).await?;
            stream.flush().await?;
            let mut status = [0u8; 2];
            stream.read_exact(&mut status).await?;
            if status[1] != 0 {
                return Err(ProxyError::AuthenticationFailed {
                    kind: proxy.kind.name(),
                    address: proxy.address(),
                });
            }
        }
        SOCKS5_NO_ACCEPTABLE_METHOD if proxy.username.is_none() => {
            return Err(proxy.refused(host, port, "it requires authentication"));
        }
        SOCKS5_NO_ACCEPTABLE_METHOD => {
            return Err(proxy.refused(host, port, "no acceptable authentication method"));
        }
        other => {
            return Err(proxy.protocol_error(format!("authentication method {other:#04x}")));
        }
    }
    // CONNECT request.
    let mut request = vec![0x05, 0x01, 0x00];
    match target(proxy, host, port).await? {
        Target::Address(IpAddr::V4(address)) => {
            request.push(0x01);
            request.extend_from_slice(&address.octets());
        }
        Target::Address(IpAddr::V6(address)) => {
            request.push(0x04);
            request.extend_from_slice(&address.octets());
        }
        Target::Name(name) => {
            let name = name.as_bytes();
            if name.len() > 255 {
                return Err(ProxyError::Invalid(format!(
                    "host name {host:?} is too long for SOCKS5"
                )));
            }
            request.push(0x03);
            request.push(name.len() as u8);
            request.extend_from_slice(name);
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await?;
    stream.flush().await?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await?;
    if reply[0] != 0x05 {
        return Err(proxy.protocol_error(format!("version {} instead of 5", reply[0])));
    }
    if reply[1] != 0x00 {
        return Err(proxy.refused(host, port, socks5_reply(reply[1])));
    }
    // The bound address, which the client does not need.
    let address_len = match reply[3] {
        0x01 => 4,
        0x04 => 16,
        0x03 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await?;
            usize::from(len[0])
        }
        other => return Err(proxy.protocol_error(format!("address type {other:#04x}"))),
    };
    let mut bound = vec![0u8; address_len + 2];
    stream.read_exact(&mut bound).await?;
    Ok(())
}

/// RFC 1928 §6: the meaning of a failed reply.
fn socks5_reply(code: u8) -> String {
    match code {
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => return format!("unknown error {code:#04x}"),
    }
    .to_string()
}

async fn socks4<S>(
    stream: &mut S,
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = vec![0x04, 0x01];
    request.extend_from_slice(&port.to_be_bytes());
    let name = match target(proxy, host, port).await? {
        Target::Address(IpAddr::V4(address)) => {
            request.extend_from_slice(&address.octets());
            None
        }
        Target::Address(IpAddr::V6(_)) => {
            return Err(ProxyError::Invalid(
                "SOCKS4 cannot reach an IPv6 address".to_string(),
            ))
        }
        // SOCKS4a: the address 0.0.0.1 says "the name follows the user id".
        Target::Name(name) => {
            request.extend_from_slice(&[0, 0, 0, 1]);
            Some(name)
        }
    };
    request.extend_from_slice(proxy.username.as_deref().unwrap_or_default().as_bytes());
    request.push(0);
    if let Some(name) = name {
        request.extend_from_slice(name.as_bytes());
        request.push(0);
    }
    stream.write_all(&request).await?;
    stream.flush().await?;
    let mut reply = [0u8; 8];
    stream.read_exact(&mut reply).await?;
    if reply[0] != 0x00 {
        return Err(proxy.protocol_error(format!("reply version {}", reply[0])));
    }
    match reply[1] {
        0x5A => Ok(()),
        0x5B => Err(proxy.refused(host, port, "request rejected or failed")),
        0x5C | 0x5D => Err(proxy.refused(host, port, "identd check failed")),
        other => Err(proxy.protocol_error(format!("status {other:#04x}"))),
    }
}

/// Longest HTTP response head accepted from a proxy.
const MAX_HTTP_HEAD: usize = 16 * 1024;

async fn http_connect<S>(
    stream: &mut S,
    proxy: &ProxySettings,
    host: &str,
    port: u16,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority = match target(proxy, host, port).await? {
        Target::Address(IpAddr::V6(address)) => format!("[{address}]:{port}"),
        Target::Address(address) => format!("{address}:{port}"),
        Target::Name(name) => format!("{name}:{port}"),
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(username) = &proxy.username {
        let credentials = format!("{username}:{}", proxy.password.as_deref().unwrap_or(""));
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        request.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    // Byte by byte up to the blank line: what follows belongs to the broker.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HTTP_HEAD {
            return Err(proxy.protocol_error("response head too long"));
        }
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await? == 0 {
            return Err(proxy.protocol_error("connection closed before the response"));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default();
    let mut words = status_line.splitn(3, ' ');
    let version = words.next().unwrap_or_default();
    let status = words.next().and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(code) if version.starts_with("HTTP/") && (200..300).contains(&code) => Ok(()),
        Some(407) => Err(ProxyError::AuthenticationFailed {
            kind: proxy.kind.name(),
            address: proxy.address(),
        }),
        Some(_) => Err(proxy.refused(host, port, status_line.trim().to_string())),
        None => Err(proxy.protocol_error(format!("status line {status_line:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn settings(kind: ProxyKind) -> ProxySettings {
        ProxySettings {
            kind,
            host: "proxy.test".to_string(),
            port: 1080,
            remote_dns: true,
            username: None,
            password: None,
        }
    }

    /// `settings(kind)` with user "ann" and password "pw".
    fn with_credentials(kind: ProxyKind) -> ProxySettings {
        ProxySettings {
            username: Some("ann".to_string()),
            password: Some("pw".to_string()),
            ..settings(kind)
        }
    }

    /// Runs `handshake` against a scripted proxy: `replies[i]` is written after reading
    /// exactly `expected[i]`.
    async fn scripted(
        proxy: ProxySettings,
        host: &str,
        port: u16,
        exchange: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), ProxyError> {
        let (mut client, mut server) = duplex(4096);
        let server = tokio::spawn(async move {
            for (expected, reply) in exchange {
                let mut got = vec![0u8; expected.len()];
                server.read_exact(&mut got).await.unwrap();
                assert_eq!(got, expected);
                server.write_all(&reply).await.unwrap();
            }
            server
        });
        let result = handshake(&mut client, &proxy, host, port).await;
        drop(client);
        let _ = server.await.unwrap();
        result
    }

    #[tokio::test]
    async fn socks5_with_remote_dns_sends_the_host_name() {
        let result = scripted(
            settings(ProxyKind::Socks5),
            "broker.test",
            1883,
            vec![
                (vec![5, 1, 0], vec![5, 0]),
                (
                    [&[5, 1, 0, 3, 11][..], b"broker.test", &[0x07, 0x5b]].concat(),
                    vec![5, 0, 0, 1, 127, 0, 0, 1, 0x12, 0x34],
                ),
            ],
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
    }

    #[tokio::test]
    async fn socks5_authenticates_with_user_name_and_password() {
        let proxy = with_credentials(ProxyKind::Socks5);
        let result = scripted(
            proxy.clone(),
            "127.0.0.1",
            1883,
            vec![
                (vec![5, 2, 0, 2], vec![5, 2]),
                (b"\x01\x03ann\x02pw".to_vec(), vec![1, 0]),
                (
                    vec![5, 1, 0, 1, 127, 0, 0, 1, 0x07, 0x5b],
                    vec![5, 0, 0, 3, 1, b'x', 0, 0],
                ),
            ],
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
        let refused = scripted(
            proxy,
            "127.0.0.1",
            1883,
            vec![
                (vec![5, 2, 0, 2], vec![5, 2]),
                (b"\x01\x03ann\x02pw".to_vec(), vec![1, 1]),
            ],
        )
        .await;
        assert!(
            matches!(refused, Err(ProxyError::AuthenticationFailed { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_socks5_failure_reply_names_its_reason() {
        let result = scripted(
            settings(ProxyKind::Socks5),
            "::1",
            8883,
            vec![
                (vec![5, 1, 0], vec![5, 0]),
                (
                    [&[5, 1, 0, 4][..], &[0; 15], &[1, 0x22, 0xb3]].concat(),
                    vec![5, 5, 0, 1, 0, 0, 0, 0, 0, 0],
                ),
            ],
        )
        .await;
        let error = result.unwrap_err();
        assert!(matches!(error, ProxyError::Refused { .. }), "{error:?}");
        assert!(error.to_string().contains("connection refused"), "{error}");
        assert!(error.to_string().contains("proxy.test:1080"), "{error}");
    }

    #[tokio::test]
    async fn socks5_without_credentials_reports_that_the_proxy_wants_some() {
        let result = scripted(
            settings(ProxyKind::Socks5),
            "broker.test",
            1883,
            vec![(vec![5, 1, 0], vec![5, 0xFF])],
        )
        .await;
        let error = result.unwrap_err();
        assert!(error.to_string().contains("authentication"), "{error}");
    }

    #[tokio::test]
    async fn socks4a_sends_the_name_after_the_user_id() {
        let proxy = ProxySettings {
            username: Some("me".to_string()),
            ..settings(ProxyKind::Socks4)
        };
        let result = scripted(
            proxy,
            "broker.test",
            1883,
            vec![(
                [&[4, 1, 0x07, 0x5b, 0, 0, 0, 1][..], b"me\0broker.test\0"].concat(),
                vec![0, 0x5A, 0, 0, 0, 0, 0, 0],
            )],
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
    }

    #[tokio::test]
    async fn http_connect_sends_basic_credentials_and_reads_only_the_head() {
        let proxy = with_credentials(ProxyKind::Http);
        let request = "CONNECT broker.test:1883 HTTP/1.1\r\nHost: broker.test:1883\r\n\
                       Proxy-Authorization: Basic YW5uOnB3\r\n\r\n";
        let (mut client, mut server) = duplex(4096);
        let server = tokio::spawn(async move {
            let mut got = vec![0u8; request.len()];
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(got, request.as_bytes());
            server
                .write_all(b"HTTP/1.1 200 Connection established\r\nX: y\r\n\r\n\x20\x02")
                .await
                .unwrap();
            server
        });
        handshake(&mut client, &proxy, "broker.test", 1883)
            .await
            .unwrap();
        let mut after = [0u8; 2];
        client.read_exact(&mut after).await.unwrap();
        assert_eq!(after, [0x20, 0x02]);
        drop(server.await.unwrap());
    }

    #[tokio::test]
    async fn http_connect_refusals_carry_the_status_line() {
        for (status, auth) in [("403 Forbidden", false), ("407 Proxy Auth Required", true)] {
            let response = format!("HTTP/1.1 {status}\r\n\r\n");
            let (mut client, mut server) = duplex(4096);
            tokio::spawn(async move {
                let mut buffer = [0u8; 512];
                let _ = server.read(&mut buffer).await;
                server.write_all(response.as_bytes()).await.unwrap();
                server
            });
            let error = handshake(&mut client, &settings(ProxyKind::Http), "b.test", 1)
                .await
                .unwrap_err();
            assert_eq!(
                matches!(error, ProxyError::AuthenticationFailed { .. }),
                auth,
                "{error:?}"
            );
            if !auth {
                assert!(error.to_string().contains("403 Forbidden"), "{error}");
            }
        }
    }

    #[test]
    fn proxy_urls_parse_as_mosquitto_reads_them() {
        let proxy = ProxySettings::from_url("socks5h://user:p%40ss@proxy.test:9050").unwrap();
        assert_eq!(proxy.kind, ProxyKind::Socks5);
        assert!(proxy.remote_dns);
        assert_eq!(proxy.host, "proxy.test");
        assert_eq!(proxy.port, 9050);
        assert_eq!(proxy.username.as_deref(), Some("user"));
        assert_eq!(proxy.password.as_deref(), Some("p@ss"));
        let proxy = ProxySettings::from_url("socks5://[::1]").unwrap();
        assert_eq!((proxy.host.as_str(), proxy.port), ("::1", 1080));
        assert!(!proxy.remote_dns);
        let proxy = ProxySettings::from_url("http://127.0.0.1:3128/").unwrap();
        assert_eq!(
            (proxy.kind, proxy.host.as_str(), proxy.port),
            (ProxyKind::Http, "127.0.0.1", 3128)
        );
        for bad in [
            "proxy.test:1080",
            "ftp://x",
            "socks5h://host:port",
            "socks5h://",
        ] {
            let error = ProxySettings::from_url(bad).unwrap_err();
            assert!(error.to_string().contains("invalid proxy URL"), "{error}");
        }
        let shown = format!(
            "{:?}",
            ProxySettings::from_url("socks5://u:secret@h").unwrap()
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
}
