//! Opening a connection's byte stream: name resolution, binding, proxies, then TLS and the
//! WebSocket upgrade.

use std::os::fd::AsFd;

use tokio::net::TcpStream;

use super::ClientError;
use crate::transport::{self, BoxedStream, ConnectOptions, Endpoint, TransportError};

pub(super) fn describe_endpoint(target: &ConnectOptions) -> String {
    match &target.endpoint {
        Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        Endpoint::Unix { path } => path.display().to_string(),
    }
}

/// Opens the byte stream `target` describes. For plain TCP, also a second handle on the
/// socket (`Inner::direct`).
pub(super) async fn open_stream(
    target: &ConnectOptions,
    bind: Option<(String, u16)>,
) -> Result<(BoxedStream, Option<std::net::TcpStream>), ClientError> {
    match &target.endpoint {
        Endpoint::Tcp { host, port } => {
            let socket = match &target.proxy {
                None => open_tcp(host, *port, bind).await?,
                Some(proxy) => {
                    let mut socket = open_tcp(&proxy.host, proxy.port, bind)
                        .await
                        .map_err(|error| match error {
                            ClientError::Io(e) => proxy.unreachable(e),
                            _ => transport::ProxyError::UnknownHost(proxy.host.clone()),
                        })
                        .map_err(TransportError::from)?;
                    transport::proxy::handshake(&mut socket, proxy, host, *port)
                        .await
                        .map_err(TransportError::from)?;
                    socket
                }
            };
            socket.set_nodelay(true)?;
            let direct = match (&target.tls, &target.websocket) {
                (None, None) => Some(std::net::TcpStream::from(
                    socket.as_fd().try_clone_to_owned()?,
                )),
                _ => None,
            };
            let stream = transport::wrap_client_stream(socket, host, *port, target).await?;
            Ok((stream, direct))
        }
        Endpoint::Unix { .. } => Ok((transport::connect(target).await?, None)),
    }
}

async fn open_tcp(
    host: &str,
    port: u16,
    bind: Option<(String, u16)>,
) -> Result<TcpStream, ClientError> {
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| ClientError::UnknownHost(host.to_owned()))?
        .collect();
    let mut last_error = None;
    for address in addresses {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if let Some((bind_host, bind_port)) = &bind {
            let local = tokio::net::lookup_host((bind_host.as_str(), *bind_port))
                .await?
                .find(|a| a.is_ipv4() == address.is_ipv4());
            if let Some(local) = local {
                socket.bind(local)?;
            }
        }
        match socket.connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) => ClientError::Io(e),
        None => ClientError::UnknownHost(host.to_owned()),
    })
}
