//! The `Listener`: binds a TCP socket (IPv4 or IPv6) and spawns a connection task per
//! accepted client, taking a connection permit (`max_connections`) before `accept` so a
//! flood waits in the backlog instead of exhausting file descriptors, and closing at once
//! what the per-address limits (`super::admission`) refuse. On a TLS or
//! WebSocket listener the handshakes run in the spawned task, bounded by the connect timeout, so a slow or
//! silent client never holds up the accept loop.

use super::admission::{ConnectionSlot, Refusal};
use super::config::ListenerConfig;
use super::connection::{self, BrokerStream, Identity, Peer, Shared};
use super::BrokerError;
use crate::transport::tls::ReloadableServerConfig;
use crate::transport::WsServerSettings;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Binds `config` (the first address its host resolves to).
pub async fn bind(config: &ListenerConfig) -> Result<TcpListener, BrokerError> {
    let bind_error = |source: std::io::Error| BrokerError::Bind {
        address: format!("{}:{}", config.host, config.port),
        source,
    };
    let address = tokio::net::lookup_host((config.host.as_str(), config.port))
        .await
        .map_err(bind_error)?
        .next()
        .ok_or_else(|| bind_error(std::io::ErrorKind::AddrNotAvailable.into()))?;
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).map_err(bind_error)?;
    socket.set_reuse_address(true).map_err(bind_error)?;
    if address.is_ipv6() {
        // "::" and "0.0.0.0" can then be two listeners side by side.
        socket.set_only_v6(true).map_err(bind_error)?;
    }
    socket.set_nonblocking(true).map_err(bind_error)?;
    socket.bind(&address.into()).map_err(bind_error)?;
    socket.listen(1024).map_err(bind_error)?;
    TcpListener::from_std(socket.into()).map_err(bind_error)
}

/// Accepts until `token` is cancelled.
pub async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    permits: Option<Arc<Semaphore>>,
    token: CancellationToken,
    tracker: TaskTracker,
    layers: Option<Layers>,
) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    loop {
        let Some(permit) = next_permit(permits.as_ref(), &token).await else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = token.cancelled() => return,
        };
        match accepted {
            Ok((stream, address)) => {
                let address_slot = match &shared.admission {
                    None => None,
                    Some(admission) => match admission.admit(address.ip(), Instant::now()) {
                        Ok(slot) => Some(slot),
                        Err(refusal) => {
                            // Closed before any task or buffer exists: a flood from one
                            // address costs an accept and a close. Debug only, so the
                            // flood does not become a flood of log lines.
                            log::debug!(
                                "Refused connection from {address}: {}.",
                                match refusal {
                                    Refusal::TooManyConnections => "too many connections",
                                    Refusal::RateExceeded => "connection rate exceeded",
                                }
                            );
                            continue;
                        }
                    },
                };
                let slot = ConnectionSlot {
                    permit,
                    address: address_slot.map(Box::new),
                };
                let _ = stream.set_nodelay(true);
                log::info!("New connection from {address} on port {port}.");
                match &layers {
                    None => tracker.spawn(connection::run(
                        shared.clone(),
                        BrokerStream::Tcp(stream),
                        Peer(Some(address)),
                        token.clone(),
                        slot,
                    )),
                    Some(layers) => tracker.spawn(serve_layered(
                        layers.clone(),
                        shared.clone(),
                        stream,
                        Peer(Some(address)),
                        token.clone(),
                        slot,
                    )),
                };
            }
            Err(error) => {
                // Out of descriptors or similar: back off instead of spinning.
                log::warn!("Accept failed on port {port}: {error}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = token.cancelled() => return,
                }
            }
        }
    }
}

/// The address a listener ended up on (port 0 resolved).
pub fn local_addr(listener: &TcpListener) -> Result<SocketAddr, BrokerError> {
    listener.local_addr().map_err(|source| BrokerError::Bind {
        address: "listener".into(),
        source,
    })
}

/// The layers a TLS or WebSocket listener puts over each accepted TCP connection.
#[derive(Clone, Debug)]
pub struct Layers {
    pub tls: Option<Arc<ReloadableServerConfig>>,
    pub websocket: Option<WsServerSettings>,
    pub use_identity_as_username: bool,
}

/// The TLS and WebSocket handshakes (within the connect timeout), then the connection task.
async fn serve_layered<S>(
    layers: Layers,
    shared: Arc<Shared>,
    stream: S,
    address: Peer,
    token: CancellationToken,
    slot: ConnectionSlot,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let deadline = shared.config.connect_timeout_duration();
    let tls = layers.tls.as_ref().map(|config| config.current());
    let handshake = crate::transport::accept_stream(stream, tls, layers.websocket.as_ref());
    let accepted = tokio::select! {
        accepted = tokio::time::timeout(deadline, handshake) => accepted,
        _ = token.cancelled() => return,
    };
    let accepted = match accepted {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(error)) => {
            log::info!("Handshake with {address} failed: {error}");
            return;
        }
        Err(_) => {
            log::info!("Handshake with {address} timed out, disconnecting.");
            return;
        }
    };
    let identity = match (
        layers.use_identity_as_username,
        accepted.certificate_common_name,
    ) {
        (false, _) => Identity::NotUsed,
        (true, Some(name)) => Identity::Username(name),
        (true, None) => Identity::Missing,
    };
    let stream = BrokerStream::layered(accepted.stream, identity);
    connection::run(shared, stream, address, token, slot).await;
}

/// A place under `max_connections` (`Some(None)` without a limit); `None` once the broker
/// stops.
async fn next_permit(
    permits: Option<&Arc<Semaphore>>,
    token: &CancellationToken,
) -> Option<Option<OwnedSemaphorePermit>> {
    let Some(semaphore) = permits else {
        return Some(None);
    };
    tokio::select! {
        permit = semaphore.clone().acquire_owned() => permit.ok().map(Some),
        _ = token.cancelled() => None,
    }
}

/// Accepts on a Unix socket until `token` is cancelled, as `run` does for TCP.
pub async fn run_unix(
    listener: tokio::net::UnixListener,
    shared: Arc<Shared>,
    permits: Option<Arc<Semaphore>>,
    token: CancellationToken,
    tracker: TaskTracker,
    layers: Option<Layers>,
) {
    loop {
        let Some(permit) = next_permit(permits.as_ref(), &token).await else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = token.cancelled() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                log::info!("New connection on a Unix socket.");
                let slot = ConnectionSlot {
                    permit,
                    address: None,
                };
                match &layers {
                    None => tracker.spawn(connection::run(
                        shared.clone(),
                        BrokerStream::layered(Box::new(stream), Identity::NotUsed),
                        Peer(None),
                        token.clone(),
                        slot,
                    )),
                    Some(layers) => tracker.spawn(serve_layered(
                        layers.clone(),
                        shared.clone(),
                        stream,
                        Peer(None),
                        token.clone(),
                        slot,
                    )),
                };
            }
            Err(error) => {
                log::warn!("Accept failed on a Unix socket: {error}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = token.cancelled() => return,
                }
            }
        }
    }
}
