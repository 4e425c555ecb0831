//! MQTT over WebSocket ([MQTT 5.0 §6]): the upgrade on both sides (subprotocol `mqtt`,
//! a path, a client's extra headers) and [`WsStream`], which turns the binary frames of a
//! WebSocket into the plain `AsyncRead + AsyncWrite` byte stream the MQTT connection code
//! reads and writes, so TCP, TLS and WebSocket connections share one code path. The
//! underlying stream (TCP or TLS) is opened by the caller.

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// The subprotocol MQTT 3.1.1 and 5.0 use ([MQTT-6.0.0-3]).
pub const MQTT_SUBPROTOCOL: &str = "mqtt";
/// The subprotocol some MQTT 3.1 clients (paho with `MQTTv31`) ask for.
pub const MQTT31_SUBPROTOCOL: &str = "mqttv3.1";

/// Why a WebSocket upgrade or connection failed.
#[derive(Debug, thiserror::Error)]
pub enum WebSocketError {
    #[error(
        "WebSocket upgrade refused: the client offered subprotocol(s) {offered:?}, \
         but MQTT needs \"mqtt\""
    )]
    WrongSubprotocol { offered: String },
    #[error("WebSocket upgrade refused: path {requested:?} is not the MQTT path {expected:?}")]
    WrongPath { requested: String, expected: String },
    #[error("the WebSocket server did not agree to the \"mqtt\" subprotocol")]
    SubprotocolNotAccepted,
    #[error("invalid WebSocket request: {0}")]
    InvalidRequest(String),
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] tungstenite::Error),
}

/// What a WebSocket listener accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsServerSettings {
    /// The request path MQTT is served on; `None` accepts any path (as Mosquitto does).
    pub path: Option<String>,
    /// Largest WebSocket message accepted, in bytes.
    pub max_message_size: usize,
}

impl Default for WsServerSettings {
    fn default() -> Self {
        WsServerSettings {
            path: None,
            max_message_size: 64 << 20,
        }
    }
}

fn config(max_message_size: usize) -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// Completes the server side of the upgrade on `stream`. A request without the `mqtt`
/// subprotocol (or `mqttv3.1`) or for another path gets HTTP 400/404 and an error here.
// The upgrade callback's error type is tungstenite's HTTP response, large by its design.
#[allow(clippy::result_large_err)]
pub async fn accept<S>(
    stream: S,
    settings: &WsServerSettings,
) -> Result<WsStream<S>, WebSocketError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // std Mutexes, not tokio: set once inside the synchronous upgrade callback.
    let refusal: Arc<Mutex<Option<WebSocketError>>> = Arc::new(Mutex::new(None));
    let upgrade: Arc<Mutex<Option<UpgradeRequest>>> = Arc::new(Mutex::new(None));
    let callback = {
        let refusal = refusal.clone();
        let upgrade = upgrade.clone();
        let expected_path = settings.path.clone();
        move |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
            match check_upgrade(request, expected_path.as_deref()) {
                Ok(subprotocol) => {
                    if let Ok(mut slot) = upgrade.lock() {
                        *slot = Some(UpgradeRequest::from_request(request, subprotocol));
                    }
                    response.headers_mut().insert(
                        "Sec-WebSocket-Protocol",
                        HeaderValue::from_static(subprotocol),
                    );
                    Ok(response)
                }
                Err(error) => {
                    let status = match error {
                        WebSocketError::WrongPath { .. } => StatusCode::NOT_FOUND,
                        _ => StatusCode::BAD_REQUEST,
                    };
                    let mut answer = ErrorResponse::new(Some(error.to_string()));
                    *answer.status_mut() = status;
                    if let Ok(mut slot) = refusal.lock() {
                        *slot = Some(error);
                    }
                    Err(answer)
                }
            }
        }
    };
    let result = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(config(settings.max_message_size)),
    )
    .await;
    match result {
        Ok(websocket) => {
            let mut stream = WsStream::new(websocket);
            stream.upgrade = upgrade.lock().ok().and_then(|mut slot| slot.take());
            Ok(stream)
        }
        Err(error) => {
            let refused = refusal.lock().ok().and_then(|mut slot| slot.take());
            Err(refused.unwrap_or(WebSocketError::Handshake(error)))
        }
    }
}

/// The subprotocol to answer with, or why the upgrade is refused.
fn check_upgrade(
    request: &Request,
    expected_path: Option<&str>,
) -> Result<&'static str, WebSocketError> {
    if let Some(expected) = expected_path {
        let requested = request.uri().path();
        if requested != expected {
            return Err(WebSocketError::WrongPath {
                requested: requested.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    let offered: Vec<String> = request
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|protocol| protocol.trim().to_string())
        .collect();
    for wanted in [MQTT_SUBPROTOCOL, MQTT31_SUBPROTOCOL] {
        if offered.iter().any(|protocol| protocol == wanted) {
            return Ok(wanted);
        }
    }
    Err(WebSocketError::WrongSubprotocol {
        offered: offered.join(", "),
    })
}

/// What an accepted client asked for in its upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeRequest {
    pub path: String,
    /// The subprotocol agreed on (`mqtt` or `mqttv3.1`).
    pub subprotocol: &'static str,
    /// Request headers (names lower-case), in order; values that are not text are skipped.
    pub headers: Vec<(String, String)>,
}

impl UpgradeRequest {
    fn from_request(request: &Request, subprotocol: &'static str) -> Self {
        UpgradeRequest {
            path: request.uri().path().to_string(),
            subprotocol,
            headers: request
                .headers()
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
                })
                .collect(),
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A client's upgrade request: paho's `ws_set_options(path, headers)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WsClientSettings {
    /// Request path; `""` means `/mqtt`, paho's default.
    pub path: String,
    /// Extra request headers, in order.
    pub headers: Vec<(String, String)>,
    /// Subprotocol to ask for; `""` means `mqtt`.
    pub subprotocol: String,
    pub max_message_size: Option<usize>,
}

/// Performs the client side of the upgrade over `stream` (already TCP or TLS-connected to
/// `host:port`; `secure` selects a `wss` URL).
pub async fn connect<S>(
    stream: S,
    host: &str,
    port: u16,
    secure: bool,
    settings: &WsClientSettings,
) -> Result<WsStream<S>, WebSocketError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let path = if settings.path.is_empty() {
        "/mqtt"
    } else {
        settings.path.as_str()
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let subprotocol = if settings.subprotocol.is_empty() {
        MQTT_SUBPROTOCOL
    } else {
        settings.subprotocol.as_str()
    };
    let scheme = if secure { "wss" } else { "ws" };
    let host_part = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let url = format!("{scheme}://{host_part}:{port}{path}");
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|error| WebSocketError::InvalidRequest(format!("{url}: {error}")))?;
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(subprotocol)
            .map_err(|_| WebSocketError::InvalidRequest(format!("subprotocol {subprotocol:?}")))?,
    );
    for (name, value) in &settings.headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| WebSocketError::InvalidRequest(format!("header name {name:?}")))?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| WebSocketError::InvalidRequest(format!("value of header {name:?}")))?;
        headers.insert(header_name, header_value);
    }
    let max_message_size = settings.max_message_size.unwrap_or(64 << 20);
    let (websocket, response) = tokio_tungstenite::client_async_with_config(
        request,
        stream,
        Some(config(max_message_size)),
    )
    .await
    .map_err(|error| match error {
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_),
        ) => WebSocketError::SubprotocolNotAccepted,
        other => WebSocketError::Handshake(other),
    })?;
    let agreed = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|value| value.to_str().ok());
    if agreed != Some(subprotocol) {
        return Err(WebSocketError::SubprotocolNotAccepted);
    }
    Ok(WsStream::new(websocket))
}

/// A WebSocket connection seen as a byte stream: reads yield the payloads of binary
/// frames in order, each write is sent as one binary frame.
#[derive(Debug)]
pub struct WsStream<S> {
    inner: WebSocketStream<S>,
    /// The unread rest of the last binary frame.
    pending: Bytes,
    /// Server side: the client's upgrade request.
    upgrade: Option<UpgradeRequest>,
}

impl<S> WsStream<S> {
    fn new(inner: WebSocketStream<S>) -> Self {
        WsStream {
            inner,
            pending: Bytes::new(),
            upgrade: None,
        }
    }

    /// On an accepted connection, the client's upgrade request.
    pub fn upgrade_request(&self) -> Option<&UpgradeRequest> {
        self.upgrade.as_ref()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// The underlying TCP or TLS stream.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }
}

fn to_io_error(error: tungstenite::Error) -> io::Error {
    match error {
        tungstenite::Error::Io(error) => error,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "WebSocket connection closed")
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => self.pending = data,
                // [MQTT-6.0.0-1] MQTT travels in binary frames only: close on anything else.
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text WebSocket frame on an MQTT connection",
                    )))
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                Some(Err(tungstenite::Error::ConnectionClosed)) => return Poll::Ready(Ok(())),
                Some(Err(error)) => return Poll::Ready(Err(to_io_error(error))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(Pin::new(&mut self.inner).poll_ready(cx)).map_err(to_io_error)?;
        Pin::new(&mut self.inner)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(to_io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner)
            .poll_flush(cx)
            .map_err(to_io_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.inner).poll_close(cx)) {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(error) => Poll::Ready(Err(to_io_error(error))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_pki::Pki;
    use crate::transport::tls;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    // An MQTT 3.1.1 CONNECT (client id "c") and its CONNACK.
    const CONNECT: [u8; 15] = [
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, b'c',
    ];
    const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

    async fn listener() -> (TcpListener, std::net::SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        (listener, address)
    }

    fn client_settings(path: &str) -> WsClientSettings {
        WsClientSettings {
            path: path.to_string(),
            headers: vec![("X-Device".to_string(), "sensor-7".to_string())],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn mqtt_bytes_cross_a_websocket_both_ways() {
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let settings = WsServerSettings {
                path: Some("/mqtt".to_string()),
                ..Default::default()
            };
            let mut stream = accept(socket, &settings).await.unwrap();
            let request = stream.upgrade_request().cloned().unwrap();
            let mut connect = [0u8; 15];
            stream.read_exact(&mut connect).await.unwrap();
            stream.write_all(&CONNACK).await.unwrap();
            stream.flush().await.unwrap();
            // A payload bigger than one read, sent in three writes (three frames).
            let mut big = vec![0u8; 100_000];
            stream.read_exact(&mut big).await.unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).await.unwrap();
            (request, connect, big, rest)
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let mut client = connect(
            socket,
            "127.0.0.1",
            address.port(),
            false,
            &client_settings("mqtt"),
        )
        .await
        .unwrap();
        client.write_all(&CONNECT).await.unwrap();
        client.flush().await.unwrap();
        let mut connack = [0u8; 4];
        client.read_exact(&mut connack).await.unwrap();
        assert_eq!(connack, CONNACK);
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in big.chunks(40_000) {
            client.write_all(chunk).await.unwrap();
        }
        client.flush().await.unwrap();
        client.shutdown().await.unwrap();
        let (request, connect_seen, big_seen, rest) =
            tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .unwrap()
                .unwrap();
        assert_eq!(connect_seen, CONNECT);
        assert_eq!(big_seen, big);
        assert!(rest.is_empty(), "a close frame reads as end of stream");
        assert_eq!(request.path, "/mqtt");
        assert_eq!(request.subprotocol, "mqtt");
        assert_eq!(request.header("x-device"), Some("sensor-7"));
    }

    async fn refused_upgrade(
        server_settings: WsServerSettings,
        client: WsClientSettings,
    ) -> (WebSocketError, WebSocketError) {
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            accept(socket, &server_settings).await.map(|_| ())
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let client_error = connect(socket, "127.0.0.1", address.port(), false, &client)
            .await
            .map(|_| ())
            .unwrap_err();
        let server_error = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        (server_error, client_error)
    }

    fn http_status(error: &WebSocketError) -> Option<u16> {
        match error {
            WebSocketError::Handshake(tungstenite::Error::Http(response)) => {
                Some(response.status().as_u16())
            }
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_wrong_subprotocol_is_refused_with_http_400() {
        let client = WsClientSettings {
            subprotocol: "chat".to_string(),
            ..client_settings("/mqtt")
        };
        let (server_error, client_error) =
            refused_upgrade(WsServerSettings::default(), client).await;
        assert!(
            matches!(&server_error, WebSocketError::WrongSubprotocol { offered } if offered == "chat"),
            "{server_error:?}"
        );
        assert!(server_error.to_string().contains("needs \"mqtt\""));
        assert_eq!(http_status(&client_error), Some(400), "{client_error:?}");
    }

    #[tokio::test]
    async fn a_wrong_path_is_refused_with_http_404() {
        let settings = WsServerSettings {
            path: Some("/mqtt".to_string()),
            ..Default::default()
        };
        let (server_error, client_error) =
            refused_upgrade(settings, client_settings("/other")).await;
        assert!(
            matches!(&server_error, WebSocketError::WrongPath { requested, .. } if requested == "/other"),
            "{server_error:?}"
        );
        assert_eq!(http_status(&client_error), Some(404), "{client_error:?}");
    }

    #[tokio::test]
    async fn mqttv31_subprotocol_is_accepted_for_old_clients() {
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let stream = accept(socket, &WsServerSettings::default()).await.unwrap();
            stream.upgrade_request().unwrap().subprotocol
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let client = WsClientSettings {
            subprotocol: "mqttv3.1".to_string(),
            ..Default::default()
        };
        let stream = connect(socket, "127.0.0.1", address.port(), false, &client).await;
        assert!(stream.is_ok(), "{stream:?}");
        assert_eq!(server.await.unwrap(), "mqttv3.1");
    }

    #[tokio::test]
    async fn a_server_that_ignores_the_subprotocol_is_refused_by_the_client() {
        let (listener, address) = listener().await;
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            // A plain WebSocket server that answers without Sec-WebSocket-Protocol.
            let _ = tokio_tungstenite::accept_async(socket).await;
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let result = connect(
            socket,
            "127.0.0.1",
            address.port(),
            false,
            &client_settings(""),
        )
        .await;
        assert!(
            matches!(result, Err(WebSocketError::SubprotocolNotAccepted)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_text_frame_is_a_read_error() {
        use futures_util::SinkExt;
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut stream = accept(socket, &WsServerSettings::default()).await.unwrap();
            let mut buffer = [0u8; 16];
            stream.read(&mut buffer).await
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{}/mqtt",
            address.port()
        ))
        .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        let (mut raw, _) = tokio_tungstenite::client_async(request, socket)
            .await
            .unwrap();
        raw.send(Message::text("hello")).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn websocket_runs_over_tls() {
        let pki = Pki::generate();
        let server_config = tls::server_config(&tls::TlsServerSettings {
            cert_file: pki.path("server.pem"),
            key_file: pki.path("server.key"),
            ..Default::default()
        })
        .unwrap();
        let client_config = tls::client_config(&tls::TlsClientSettings {
            ca_file: Some(pki.path("ca.pem")),
            ..Default::default()
        })
        .unwrap();
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let secure = tls::accept(server_config, socket).await.unwrap();
            let mut stream = accept(secure, &WsServerSettings::default()).await.unwrap();
            let mut connect = [0u8; 15];
            stream.read_exact(&mut connect).await.unwrap();
            stream.write_all(&CONNACK).await.unwrap();
            stream.flush().await.unwrap();
            connect
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let secure = tls::connect(client_config, "localhost", socket)
            .await
            .unwrap();
        let mut client = connect(
            secure,
            "localhost",
            address.port(),
            true,
            &client_settings(""),
        )
        .await
        .unwrap();
        client.write_all(&CONNECT).await.unwrap();
        client.flush().await.unwrap();
        let mut connack = [0u8; 4];
        client.read_exact(&mut connack).await.unwrap();
        assert_eq!(connack, CONNACK);
        assert_eq!(server.await.unwrap(), CONNECT);
    }

    #[tokio::test]
    async fn pings_are_answered_while_the_mqtt_side_reads() {
        use futures_util::{SinkExt, StreamExt};
        let (listener, address) = listener().await;
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut stream = accept(socket, &WsServerSettings::default()).await.unwrap();
            let mut connect = [0u8; 15];
            stream.read_exact(&mut connect).await.unwrap();
            connect
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{}/mqtt",
            address.port()
        ))
        .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        let (mut raw, _) = tokio_tungstenite::client_async(request, socket)
            .await
            .unwrap();
        raw.send(Message::Ping(Bytes::from_static(b"are you there")))
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), raw.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(answer, Message::Pong(Bytes::from_static(b"are you there")));
        // MQTT bytes split over two binary frames read as one stream.
        raw.send(Message::Binary(Bytes::copy_from_slice(&CONNECT[..5])))
            .await
            .unwrap();
        raw.send(Message::Binary(Bytes::copy_from_slice(&CONNECT[5..])))
            .await
            .unwrap();
        assert_eq!(server.await.unwrap(), CONNECT);
    }
}
