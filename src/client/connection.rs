//! One tokio task per connection: it moves bytes between the socket and the shared
//! `ClientState`, writes once per wake-up, runs the keep-alive timer and forwards events
//! to the application through a bounded channel. When the application falls behind, the
//! task stops reading and TCP pushes back on the server.
//!
//! `ClientHandle` is the synchronous side the application (the Python facade) calls from
//! any thread: it updates the state under a short lock, appends encoded bytes to the
//! output buffer and wakes the task.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

use super::events::{describe, EventReceiver, Readiness};
use super::state::{Action, ClientState, CloseReason, Event, Limits};
use super::ClientError;
use crate::protocol::{
    self, Connect, Disconnect, Packet, ProtocolVersion, Publish, QoS, ReasonCode, Subscription,
    TopicFilter, MAX_PACKET_SIZE,
};
use crate::transport::{self, BoxedStream, ConnectOptions, Endpoint, TransportError};

/// Events waiting for the application; beyond this the task stops reading the socket.
/// Large enough to absorb a burst while the Python loop catches up (a QoS 0 flood the
/// broker would otherwise drop once its queue for this client fills); the channel
/// allocates as it fills, so an idle client pays nothing for it.
pub const EVENT_CAPACITY: usize = 32 * 1024;
const READ_CAPACITY: usize = 64 * 1024;

/// Where and how to connect.
pub struct ConnectParams {
    /// Endpoint (TCP host and port, or a Unix socket path), TLS and WebSocket settings.
    pub target: ConnectOptions,
    /// Local address to bind before connecting over TCP (paho's `bind_address`/`bind_port`).
    pub bind: Option<(String, u16)>,
    pub connect_timeout: Duration,
    pub connect: Connect,
}

pub(super) struct Inner {
    state: ClientState,
    version: ProtocolVersion,
    /// Encoded packets the task has not written yet.
    out: BytesMut,
    /// Packet ids of QoS 0 publishes in `out`: "published" once written (paho's on_publish).
    written_qos0: Vec<u16>,
    /// Events produced outside the task, forwarded by it to keep one producer in order.
    pending: Vec<Event>,
    close: Option<CloseReason>,
    pub(super) generation: u64,
    task: Option<AbortHandle>,
    /// Lines for the `log` crate, written by the task once the lock is released.
    warnings: Vec<String>,
}

impl Inner {
    /// Nothing for the task to write, forward or close.
    fn is_idle(&self) -> bool {
        self.out.is_empty()
            && self.pending.is_empty()
            && self.close.is_none()
            && self.written_qos0.is_empty()
    }
}

pub(super) struct Shared {
    inner: Mutex<Inner>,
    wake: Notify,
    /// Ends a `recv_batch` wait early (loop_stop from another thread).
    pub(super) interrupt: Notify,
    log_enabled: AtomicBool,
    pub(super) readiness: Readiness,
}

/// The application's side of a client: thread-safe, never blocks except in `connect`.
pub struct ClientHandle {
    shared: Arc<Shared>,
    events: mpsc::Sender<(u64, Event)>,
    runtime: Handle,
    connections: AtomicU64,
}

impl ClientHandle {
    pub fn new(
        version: ProtocolVersion,
        limits: Limits,
        runtime: Handle,
    ) -> Result<(ClientHandle, EventReceiver), ClientError> {
        let (sender, receiver) = mpsc::channel(EVENT_CAPACITY);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state: ClientState::new(version, limits),
                version,
                out: BytesMut::new(),
                written_qos0: Vec::new(),
                pending: Vec::new(),
                close: None,
                generation: 0,
                task: None,
                warnings: Vec::new(),
            }),
            wake: Notify::new(),
            interrupt: Notify::new(),
            log_enabled: AtomicBool::new(false),
            readiness: Readiness::new()?,
        });
        let handle = ClientHandle {
            shared: shared.clone(),
            events: sender,
            runtime: runtime.clone(),
            connections: AtomicU64::new(0),
        };
        let receiver = EventReceiver {
            receiver,
            runtime,
            shared,
        };
        Ok((handle, receiver))
    }

    // std Mutex, not tokio: held for short state updates, never across .await.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared)
    }

    /// Opens the connection (TCP or Unix socket, then TLS and the WebSocket upgrade as
    /// `params.target` says, all within the connect timeout) and starts its task, which
    /// sends CONNECT. Any previous connection is dropped without an event (paho's
    /// `reconnect`). Blocks the calling thread: call it without holding the GIL.
    pub fn connect(&self, params: ConnectParams) -> Result<(), ClientError> {
        self.abort_connection();
        let ConnectParams {
            target,
            bind,
            connect_timeout,
            connect,
        } = params;
        let stream = self.runtime.block_on(async {
            match tokio::time::timeout(connect_timeout, open_stream(&target, bind)).await {
                Ok(result) => result,
                Err(_) => Err(ClientError::ConnectTimeout(describe_endpoint(&target))),
            }
        })?;
        self.start(stream, connect);
        Ok(())
    }

    /// `connect` for callers that run on the runtime (the asyncio client): the same steps,
    /// awaited instead of blocking a thread.
    pub async fn connect_async(&self, params: ConnectParams) -> Result<(), ClientError> {
        self.abort_connection();
        let ConnectParams {
            target,
            bind,
            connect_timeout,
            connect,
        } = params;
        let stream = match tokio::time::timeout(connect_timeout, open_stream(&target, bind)).await {
            Ok(result) => result?,
            Err(_) => return Err(ClientError::ConnectTimeout(describe_endpoint(&target))),
        };
        self.start(stream, connect);
        Ok(())
    }

    /// Starts the task for an already open byte stream (the seam for other transports).
    pub fn start<S>(&self, stream: S, connect: Connect)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let max_packet_size = connect
            .properties
            .maximum_packet_size()
            .unwrap_or(MAX_PACKET_SIZE);
        let now = Instant::now();
        let mut inner = self.lock();
        inner.generation += 1;
        inner.close = None;
        inner.out.clear();
        inner.written_qos0.clear();
        inner.version = connect.protocol_version;
        inner.state.set_version(connect.protocol_version);
        let actions = inner.state.connection_opened(connect, now);
        apply(&self.shared, &mut inner, actions);
        let task = Task {
            shared: self.shared.clone(),
            events: self.events.clone(),
            generation: inner.generation,
            version: inner.version,
            max_packet_size,
        };
        let join = self.runtime.spawn(task.run(stream));
        inner.task = Some(join.abort_handle());
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops the open connection, if any, without DISCONNECT and without an event.
    pub fn abort_connection(&self) {
        let mut inner = self.lock();
        if let Some(task) = inner.task.take() {
            task.abort();
        }
        inner.generation += 1;
        inner.state.connection_closed();
        inner.out.clear();
        inner.written_qos0.clear();
    }

    /// Publishes; see `ClientState::publish`. Returns (packet id, sent to an open socket).
    pub fn publish(&self, publish: Publish) -> Result<(u16, bool), ClientError> {
        let qos = publish.qos;
        let mut inner = self.lock();
        // Refuse what cannot be encoded now, rather than hold a message that never leaves
        // (the packet id is not allocated yet: any non-zero one gives the same length).
        let mut probe = publish.clone();
        if probe.qos != QoS::AtMostOnce {
            probe.packet_id = 1;
        }
        protocol::encoded_len(&Packet::Publish(probe), inner.version)?;
        let (packet_id, open, actions) = inner.state.publish(publish, Instant::now())?;
        let idle = inner.is_idle();
        apply(&self.shared, &mut inner, actions);
        if qos == QoS::AtMostOnce && open {
            inner.written_qos0.push(packet_id);
        }
        let wake = idle && !inner.is_idle();
        drop(inner);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok((packet_id, open))
    }

    pub fn subscribe(
        &self,
        subscriptions: Vec<Subscription>,
        properties: protocol::Properties,
    ) -> Result<u16, ClientError> {
        let mut inner = self.lock();
        let (packet_id, actions) =
            inner
                .state
                .subscribe(subscriptions, properties, Instant::now())?;
        self.apply_and_wake(inner, actions);
        Ok(packet_id)
    }

    pub fn unsubscribe(
        &self,
        filters: Vec<TopicFilter>,
        properties: protocol::Properties,
    ) -> Result<u16, ClientError> {
        let mut inner = self.lock();
        let (packet_id, actions) = inner
            .state
            .unsubscribe(filters, properties, Instant::now())?;
        self.apply_and_wake(inner, actions);
        Ok(packet_id)
    }

    /// Acknowledges delivered inbound messages (QoS 1 PUBACK, QoS 2 PUBCOMP).
    pub fn ack(&self, acks: &[(u16, QoS)]) {
        if acks.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        let mut actions = Vec::with_capacity(acks.len());
        for &(packet_id, qos) in acks {
            actions.extend(inner.state.ack(packet_id, qos, now));
        }
        self.apply_and_wake(inner, actions);
    }

    /// Sends DISCONNECT and closes. False when no connection was open.
    pub fn disconnect(&self, disconnect: Disconnect) -> bool {
        let mut inner = self.lock();
        let actions = inner.state.disconnect(disconnect, Instant::now());
        if actions.is_empty() {
            return false;
        }
        self.apply_and_wake(inner, actions);
        true
    }

    /// Applies `actions` and wakes the task only if it had nothing to do: when work was
    /// already waiting, a wake-up is already pending and the task takes it all at once.
    fn apply_and_wake(&self, mut inner: MutexGuard<'_, Inner>, actions: Vec<Action>) {
        let idle = inner.is_idle();
        apply(&self.shared, &mut inner, actions);
        let wake = idle && !inner.is_idle();
        drop(inner);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    pub fn is_open(&self) -> bool {
        self.lock().state.is_open()
    }

    pub fn is_connected(&self) -> bool {
        self.lock().state.is_connected()
    }

    /// True while the connection task runs (it may be flushing a requested close).
    pub fn has_task(&self) -> bool {
        self.lock().task.as_ref().is_some_and(|t| !t.is_finished())
    }

    pub fn set_limits(&self, limits: Limits) {
        let mut inner = self.lock();
        inner.state.set_limits(limits);
    }

    pub fn assigned_client_id(&self) -> Option<String> {
        self.lock().state.assigned_client_id().map(str::to_owned)
    }

    pub fn drop_out_messages(&self) -> Vec<Publish> {
        self.lock().state.drop_out_messages()
    }

    pub fn queued_len(&self) -> usize {
        self.lock().state.queued_len()
    }

    /// Whether the task should produce paho-style log lines as `Event::Log`.
    pub fn set_log_enabled(&self, enabled: bool) {
        self.shared.log_enabled.store(enabled, Ordering::Relaxed);
    }

    pub fn readiness_fd(&self) -> RawFd {
        self.shared.readiness.fd()
    }

    /// Ends the wait of the thread in `EventReceiver::recv_batch`, if any.
    pub fn interrupt(&self) {
        self.shared.interrupt.notify_one();
    }

    /// How many connections were opened (for tests and diagnostics).
    pub fn connection_count(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        if let Some(task) = self.lock().task.take() {
            task.abort();
        }
    }
}

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared
        .inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn describe_endpoint(target: &ConnectOptions) -> String {
    match &target.endpoint {
        Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        Endpoint::Unix { path } => path.display().to_string(),
    }
}

async fn open_stream(
    target: &ConnectOptions,
    bind: Option<(String, u16)>,
) -> Result<BoxedStream, ClientError> {
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
            Ok(transport::wrap_client_stream(socket, host, *port, target).await?)
        }
        Endpoint::Unix { .. } => Ok(transport::connect(target).await?),
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

/// Carries out the state machine's actions while the lock is held: packets are encoded
/// into the output buffer, events and a close request are left for the task.
fn apply(shared: &Shared, inner: &mut Inner, actions: Vec<Action>) {
    let log = shared.log_enabled.load(Ordering::Relaxed);
    for action in actions {
        match action {
            Action::Send(packet) => {
                if log {
                    let line = describe(&packet, true);
                    inner.pending.push(Event::Log(log::Level::Debug, line));
                }
                if let Err(e) = protocol::encode(&packet, inner.version, &mut inner.out) {
                    let line = format!("Cannot encode {:?}: {e}", packet.packet_type());
                    // Logged by the task after the lock is released: a log backend may
                    // take the GIL, which must never happen while this lock is held.
                    inner.warnings.push(line.clone());
                    inner.pending.push(Event::Log(log::Level::Error, line));
                }
            }
            Action::Deliver(event) => inner.pending.push(event),
            Action::Close(reason) => {
                if inner.close.is_none() {
                    inner.close = Some(reason);
                }
            }
        }
    }
}

struct Task {
    shared: Arc<Shared>,
    events: mpsc::Sender<(u64, Event)>,
    generation: u64,
    version: ProtocolVersion,
    max_packet_size: u32,
}

impl Task {
    async fn run<S>(self, mut stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut read_buf = BytesMut::with_capacity(READ_CAPACITY);
        let mut queue: VecDeque<Event> = VecDeque::new();
        let reason = loop {
            let (out, written_qos0, close, deadline, warnings) = {
                let mut inner = lock(&self.shared);
                if inner.generation != self.generation {
                    return;
                }
                queue.extend(inner.pending.drain(..));
                let out = inner.out.split();
                let written = std::mem::take(&mut inner.written_qos0);
                let warnings = std::mem::take(&mut inner.warnings);
                let close = inner.close.take();
                (out, written, close, inner.state.next_deadline(), warnings)
            };
            for line in warnings {
                log::warn!("{line}");
            }
            if !out.is_empty() {
                // One write per wake-up, however many packets were queued.
                if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                    break close.unwrap_or(CloseReason::ConnectionLost);
                }
                queue.extend(written_qos0.into_iter().map(|packet_id| Event::Published {
                    packet_id,
                    reason_code: ReasonCode::Success,
                    properties: Default::default(),
                }));
            }
            if let Some(reason) = close {
                break reason;
            }
            self.forward(&mut queue);
            let reading = queue.is_empty();
            let sleep = deadline.map(tokio::time::Instant::from_std);
            tokio::select! {
                read = stream.read_buf(&mut read_buf), if reading => match read {
                    Ok(0) | Err(_) => break CloseReason::ConnectionLost,
                    Ok(_) => self.feed(&mut read_buf),
                },
                permit = self.events.reserve(), if !queue.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = queue.pop_front() {
                            permit.send((self.generation, event));
                        }
                        self.shared.readiness.signal();
                    }
                    Err(_) => return,
                },
                _ = self.shared.wake.notified() => {}
                _ = sleep_until(sleep) => {
                    let mut inner = lock(&self.shared);
                    let actions = inner.state.handle_timeout(Instant::now());
                    apply(&self.shared, &mut inner, actions);
                }
            }
        };
        let _ = stream.shutdown().await;
        {
            let mut inner = lock(&self.shared);
            if inner.generation != self.generation {
                return;
            }
            inner.state.connection_closed();
            queue.extend(inner.pending.drain(..));
        }
        queue.push_back(Event::Disconnected(reason));
        for event in queue {
            if self.events.send((self.generation, event)).await.is_err() {
                break;
            }
            self.shared.readiness.signal();
        }
        // Only now does the connection count as gone: its events are all queued.
        let mut inner = lock(&self.shared);
        if inner.generation == self.generation {
            inner.task = None;
        }
    }

    /// Sends what fits into the event channel without waiting.
    fn forward(&self, queue: &mut VecDeque<Event>) {
        let mut sent = false;
        while let Some(event) = queue.pop_front() {
            match self.events.try_send((self.generation, event)) {
                Ok(()) => sent = true,
                Err(mpsc::error::TrySendError::Full((_, event))) => {
                    queue.push_front(event);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    queue.clear();
                    break;
                }
            }
        }
        if sent {
            self.shared.readiness.signal();
        }
    }

    /// Decodes every complete packet in `read_buf` and feeds it to the state machine.
    fn feed(&self, read_buf: &mut BytesMut) {
        let mut inner = lock(&self.shared);
        let now = Instant::now();
        let log = self.shared.log_enabled.load(Ordering::Relaxed);
        loop {
            match protocol::decode(read_buf, self.version, self.max_packet_size) {
                Ok(Some(packet)) => {
                    if log {
                        let line = describe(&packet, false);
                        inner.pending.push(Event::Log(log::Level::Debug, line));
                    }
                    let actions = inner.state.handle_incoming(packet, now);
                    apply(&self.shared, &mut inner, actions);
                }
                Ok(None) => break,
                Err(e) => {
                    let line = format!("malformed packet from the server: {e}");
                    inner.warnings.push(line);
                    let mut actions = Vec::new();
                    if self.version.is_v5() {
                        let disconnect = Disconnect::new(e.reason_code());
                        actions.push(Action::Send(Packet::Disconnect(disconnect)));
                    }
                    actions.push(Action::Close(CloseReason::ProtocolError(e.to_string())));
                    apply(&self.shared, &mut inner, actions);
                    break;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
