//! The byte streams both sides use: TCP, TLS (rustls), WebSocket and Unix sockets, all
//! handed to the MQTT connection code as one [`BoxedStream`]. The broker's listener calls
//! [`accept_stream`] on each accepted socket; the client calls [`connect`], which may go
//! through a SOCKS or HTTP proxy first. Both layer TLS and WebSocket as configured, so the
//! connection task never knows which it got.

#![forbid(unsafe_code)]

pub mod proxy;
pub mod tls;
pub mod websocket;

#[cfg(test)]
mod test_pki;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub use proxy::{ProxyError, ProxyKind, ProxySettings};
pub use tls::TlsError;
pub use websocket::{UpgradeRequest, WebSocketError, WsClientSettings, WsServerSettings};

/// Any stream of MQTT bytes.
pub trait AsyncReadWrite: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncReadWrite for T {}

/// A TCP, TLS, WebSocket or Unix connection, whichever it is.
pub type BoxedStream = Box<dyn AsyncReadWrite>;

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    WebSocket(#[from] WebSocketError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// Who is on the other end of an accepted or opened connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddress {
    Tcp(SocketAddr),
    /// A Unix socket peer (usually unnamed).
    Unix(Option<PathBuf>),
}

impl PeerAddress {
    /// The IP address, for per-address limits; `None` on a Unix socket.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            PeerAddress::Tcp(address) => Some(*address),
            PeerAddress::Unix(_) => None,
        }
    }
}

/// An accepted connection after its TLS and WebSocket handshakes.
pub struct Accepted {
    pub stream: BoxedStream,
    /// Subject CN of the client certificate (for `use_identity_as_username`).
    pub certificate_common_name: Option<String>,
    /// The WebSocket upgrade request, on a WebSocket listener.
    pub upgrade_request: Option<UpgradeRequest>,
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("certificate_common_name", &self.certificate_common_name)
            .field("upgrade_request", &self.upgrade_request)
            .finish_non_exhaustive()
    }
}

/// Runs a listener's handshakes on an accepted socket: TLS when `tls` is set, then the
/// WebSocket upgrade when `websocket` is set. The caller bounds it with a timeout.
pub async fn accept_stream<S>(
    socket: S,
    tls: Option<Arc<rustls::ServerConfig>>,
    websocket: Option<&WsServerSettings>,
) -> Result<Accepted, TransportError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    match (tls, websocket) {
        (None, None) => Ok(Accepted {
            stream: Box::new(socket),
            certificate_common_name: None,
            upgrade_request: None,
        }),
        (None, Some(settings)) => {
            let stream = websocket::accept(socket, settings).await?;
            Ok(Accepted {
                upgrade_request: stream.upgrade_request().cloned(),
                stream: Box::new(stream),
                certificate_common_name: None,
            })
        }
        (Some(config), websocket_settings) => {
            let secure = tls::accept(config, socket).await?;
            let certificate_common_name = tls::peer_common_name(&secure);
            match websocket_settings {
                None => Ok(Accepted {
                    stream: Box::new(secure),
                    certificate_common_name,
                    upgrade_request: None,
                }),
                Some(settings) => {
                    let stream = websocket::accept(secure, settings).await?;
                    Ok(Accepted {
                        upgrade_request: stream.upgrade_request().cloned(),
                        stream: Box::new(stream),
                        certificate_common_name,
                    })
                }
            }
        }
    }
}

/// Where a client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Unix { path: PathBuf },
}

/// How a client connects: paho's `host`/`port` or `transport="unix"`, `proxy_set`,
/// `tls_set`, and `transport="websockets"` with `ws_set_options`.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub endpoint: Endpoint,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Name checked against the server certificate; defaults to the endpoint's host.
    pub tls_server_name: Option<String>,
    pub websocket: Option<WsClientSettings>,
    /// A proxy to tunnel through (TCP endpoints only).
    pub proxy: Option<ProxySettings>,
}

impl ConnectOptions {
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        ConnectOptions {
            endpoint: Endpoint::Tcp {
                host: host.into(),
                port,
            },
            tls: None,
            tls_server_name: None,
            websocket: None,
            proxy: None,
        }
    }

    pub fn unix(path: impl Into<PathBuf>) -> Self {
        ConnectOptions {
            endpoint: Endpoint::Unix { path: path.into() },
            tls: None,
            tls_server_name: None,
            websocket: None,
            proxy: None,
        }
    }
}

/// Opens the socket, then TLS and the WebSocket upgrade as configured. The caller bounds it
/// with a timeout.
pub async fn connect(options: &ConnectOptions) -> Result<BoxedStream, TransportError> {
    match &options.endpoint {
        Endpoint::Tcp { host, port } => {
            let socket = match &options.proxy {
                None => TcpStream::connect((host.as_str(), *port)).await?,
                Some(proxy) => {
                    let mut socket = TcpStream::connect((proxy.host.as_str(), proxy.port))
                        .await
                        .map_err(|e| proxy.unreachable(e))?;
                    proxy::handshake(&mut socket, proxy, host, *port).await?;
                    socket
                }
            };
            socket.set_nodelay(true)?;
            wrap_client_stream(socket, host, *port, options).await
        }
        #[cfg(unix)]
        Endpoint::Unix { .. } if options.proxy.is_some() => Err(unix_through_proxy()),
        #[cfg(unix)]
        Endpoint::Unix { path } => {
            let socket = tokio::net::UnixStream::connect(path).await?;
            wrap_client_stream(socket, "localhost", 0, options).await
        }
        #[cfg(not(unix))]
        Endpoint::Unix { .. } => Err(TransportError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix sockets are not available on this platform",
        ))),
    }
}

/// The error for a proxy set on a Unix socket connection.
pub fn unix_through_proxy() -> TransportError {
    TransportError::Proxy(ProxyError::Invalid(
        "a proxy cannot be used with a Unix socket (transport=\"unix\")".to_string(),
    ))
}

/// Adds TLS and the WebSocket upgrade, as `options` says, over a socket the caller opened
/// itself to `host:port` (e.g. bound to a local address, paho's `bind_address`);
/// `options.endpoint` is not used.
pub async fn wrap_client_stream<S>(
    socket: S,
    host: &str,
    port: u16,
    options: &ConnectOptions,
) -> Result<BoxedStream, TransportError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    match &options.tls {
        None => match &options.websocket {
            None => Ok(Box::new(socket)),
            Some(settings) => Ok(Box::new(
                websocket::connect(socket, host, port, false, settings).await?,
            )),
        },
        Some(config) => {
            let server_name = options.tls_server_name.as_deref().unwrap_or(host);
            let secure = tls::connect(config.clone(), server_name, socket).await?;
            match &options.websocket {
                None => Ok(Box::new(secure)),
                Some(settings) => Ok(Box::new(
                    websocket::connect(secure, host, port, true, settings).await?,
                )),
            }
        }
    }
}

/// Binds a Unix socket listener at `path`. A socket file left by a process that is gone is
/// replaced; one that still accepts connections is `AddrInUse`; any other file is refused.
#[cfg(unix)]
pub async fn bind_unix(path: &Path) -> io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => {
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by another listener", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    tokio::net::UnixListener::bind(path)
}

/// Accepts one Unix socket connection as a [`BoxedStream`] and its peer.
#[cfg(unix)]
pub async fn accept_unix(
    listener: &tokio::net::UnixListener,
) -> io::Result<(BoxedStream, PeerAddress)> {
    let (stream, address) = listener.accept().await?;
    let peer = PeerAddress::Unix(address.as_pathname().map(Path::to_path_buf));
    Ok((Box::new(stream), peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_pki::Pki;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const CONNECT: [u8; 15] = [
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, b'c',
    ];
    const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

    /// The MQTT side of a connection, the same code whatever the transport.
    async fn serve_one(mut stream: BoxedStream) -> [u8; 15] {
        let mut connect = [0u8; 15];
        stream.read_exact(&mut connect).await.unwrap();
        stream.write_all(&CONNACK).await.unwrap();
        stream.flush().await.unwrap();
        connect
    }

    async fn exchange(mut stream: BoxedStream) -> [u8; 4] {
        stream.write_all(&CONNECT).await.unwrap();
        stream.flush().await.unwrap();
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).await.unwrap();
        connack
    }

    #[tokio::test]
    async fn every_tcp_transport_combination_carries_mqtt_bytes() {
        let pki = Pki::generate();
        let server_tls = tls::server_config(&tls::TlsServerSettings {
            cert_file: pki.path("server.pem"),
            key_file: pki.path("server.key"),
            ca_file: Some(pki.path("ca.pem")),
            client_certificates: tls::ClientCertificates::Optional,
            ..Default::default()
        })
        .unwrap();
        let client_tls = tls::client_config(&tls::TlsClientSettings {
            ca_file: Some(pki.path("ca.pem")),
            cert_file: Some(pki.path("client.pem")),
            key_file: Some(pki.path("client.key")),
            ..Default::default()
        })
        .unwrap();
        for (use_tls, use_websocket) in [(false, false), (true, false), (false, true), (true, true)]
        {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server_config = use_tls.then(|| server_tls.clone());
            let server = tokio::spawn(async move {
                let (socket, _) = listener.accept().await.unwrap();
                let settings = WsServerSettings::default();
                let accepted =
                    accept_stream(socket, server_config, use_websocket.then_some(&settings))
                        .await
                        .unwrap();
                let common_name = accepted.certificate_common_name.clone();
                let path = accepted.upgrade_request.as_ref().map(|r| r.path.clone());
                (serve_one(accepted.stream).await, common_name, path)
            });
            let mut options = ConnectOptions::tcp("localhost", port);
            options.tls = use_tls.then(|| client_tls.clone());
            options.websocket = use_websocket.then(|| WsClientSettings {
                path: "/ws".to_string(),
                ..Default::default()
            });
            let stream = connect(&options).await.unwrap();
            assert_eq!(exchange(stream).await, CONNACK);
            let (connect_seen, common_name, path) =
                tokio::time::timeout(Duration::from_secs(5), server)
                    .await
                    .unwrap()
                    .unwrap();
            assert_eq!(connect_seen, CONNECT, "tls={use_tls} ws={use_websocket}");
            assert_eq!(
                common_name.as_deref(),
                use_tls.then_some("device-42"),
                "tls={use_tls} ws={use_websocket}"
            );
            assert_eq!(path.as_deref(), use_websocket.then_some("/ws"));
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn unix_sockets_carry_mqtt_bytes_and_replace_stale_socket_files() {
        let pki = Pki::generate(); // only for its temporary directory
        let path = pki.path("broker.sock");
        // A socket file whose listener is gone.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let listener = bind_unix(&path).await.unwrap();
        // A socket file with a live listener is left alone.
        let busy = pki.path("busy.sock");
        let _live = std::os::unix::net::UnixListener::bind(&busy).unwrap();
        let error = bind_unix(&busy).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        let server = tokio::spawn(async move {
            let (stream, peer) = accept_unix(&listener).await.unwrap();
            (serve_one(stream).await, peer)
        });
        let stream = connect(&ConnectOptions::unix(&path)).await.unwrap();
        assert_eq!(exchange(stream).await, CONNACK);
        let (connect_seen, peer) = server.await.unwrap();
        assert_eq!(connect_seen, CONNECT);
        assert_eq!(peer, PeerAddress::Unix(None));
        assert_eq!(peer.socket_addr(), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn bind_unix_refuses_to_replace_a_regular_file() {
        let pki = Pki::generate();
        let path = pki.path("ca.pem");
        let error = bind_unix(&path).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert!(path.exists());
    }

    #[tokio::test]
    async fn connection_refused_is_an_io_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let result = connect(&ConnectOptions::tcp("127.0.0.1", port)).await;
        assert!(
            matches!(&result, Err(TransportError::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused)
        );
    }
}
