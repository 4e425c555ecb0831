//! The `ConnectionTask`: the only broker code that awaits a socket. It reads bytes, lets
//! `protocol` decode them and the `Session` decide, sends `RouterCommand`s, drains the
//! session's `OutgoingQueue`, and writes everything due in one write per wake-up.
//!
//! Buffers are allocated when data arrives and released when idle, so an idle connection
//! costs little. On any end it hands the session state and will back to the router.

mod handshake;
mod stream;

pub use stream::{BrokerStream, Identity};

use super::auth::Authenticator;
use super::config::BrokerConfig;
use super::queue::{Control, OutgoingQueue};
use super::router::{DisconnectReport, Expiry, RouterCommand};
use super::session::{Action, CloseReason, Session, SessionLimits};
use super::stats::Counters;
use crate::auth::LoginDelay;
use crate::protocol::{decode, encode, Packet, ProtocolVersion, QoS, ReasonCode};
use bytes::{Buf, BytesMut};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::time::{sleep_until, timeout, Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// Deliveries taken from the queue per wake-up, so one busy session cannot starve reads.
const DRAIN_BATCH: usize = 256;
/// Smallest read: big enough for many small packets, small enough for idle memory.
const READ_CHUNK: usize = 4096;
/// First read of a connection: most CONNECT packets fit, and it is freed right after.
const CONNECT_CHUNK: usize = 256;
/// How long a closing connection may take to flush its last packets.
const CLOSE_FLUSH_DEADLINE: Duration = Duration::from_secs(1);

/// The client's address; `None` on a Unix socket.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Option<SocketAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(address) => address.fmt(f),
            None => f.write_str("a Unix socket"),
        }
    }
}

/// What every connection of one broker shares.
pub struct Shared {
    pub config: Arc<BrokerConfig>,
    pub limits: SessionLimits,
    pub router: mpsc::Sender<RouterCommand>,
    pub counters: Arc<Counters>,
    pub auth: Arc<dyn Authenticator>,
    /// std Mutex, not tokio: held only to update counts, never across an .await.
    pub login_delay: std::sync::Mutex<LoginDelay>,
    pub next_connection_id: AtomicU64,
}

/// Serves one accepted socket until it closes.
pub async fn run(
    shared: Arc<Shared>,
    stream: BrokerStream,
    address: Peer,
    token: CancellationToken,
    permit: Option<OwnedSemaphorePermit>,
) {
    // Boxed here and below: a task's future is as large as its largest state, and the
    // handshake, the read path and the goodbye are rare next to waiting idle.
    let Some(mut task) = Box::pin(start(shared, stream, address, token)).await else {
        return;
    };
    let reason = task.serve().await;
    Box::pin(task.finish(reason)).await;
    drop(permit);
}

/// The handshake; on success, the task that serves the session.
async fn start(
    shared: Arc<Shared>,
    stream: BrokerStream,
    address: Peer,
    token: CancellationToken,
) -> Option<Box<ConnectionTask>> {
    let connection_id = shared.next_connection_id.fetch_add(1, Ordering::Relaxed);
    let mut connection = Connection {
        shared,
        stream,
        address,
        token,
        read_buf: BytesMut::new(),
        write_buf: BytesMut::new(),
        connection_id,
    };
    let Some(accepted) = connection.handshake().await else {
        let _ = timeout(CLOSE_FLUSH_DEADLINE, connection.flush_all()).await;
        return None;
    };
    if connection.read_buf.is_empty() {
        // An idle client holds no read buffer (see `read_and_handle`).
        connection.read_buf = BytesMut::new();
    }
    Some(Box::new(ConnectionTask {
        io: connection,
        session: *accepted.session,
        queue: accepted.queue,
        acks: VecDeque::new(),
        actions: Vec::new(),
        closing: None,
        more_pending: false,
        was_blocked: false,
        timer: None,
    }))
}

struct Connection {
    shared: Arc<Shared>,
    stream: BrokerStream,
    address: Peer,
    token: CancellationToken,
    read_buf: BytesMut,
    write_buf: BytesMut,
    connection_id: u64,
}

struct Accepted {
    session: Box<Session>,
    queue: Arc<OutgoingQueue>,
}

enum Flush {
    /// Everything written; `woken` if the queue's wake-up was consumed meanwhile (so
    /// the caller must look at the queue again instead of waiting for another).
    Done {
        woken: bool,
    },
    Interrupted,
}

impl Connection {
    fn encode(&mut self, packet: &Packet, version: ProtocolVersion) {
        if let Err(error) = encode(packet, version, &mut self.write_buf) {
            log::warn!(
                "Cannot encode {:?} for {}: {error}",
                packet.packet_type(),
                self.address
            );
        }
    }

    /// Reads once into the read buffer (growing it by at least `chunk` when nearly full);
    /// Ok(Some(false)) on end of stream, Ok(None) when nothing was there.
    fn try_read(&mut self, chunk: usize) -> io::Result<Option<bool>> {
        let wanted = if self.read_buf.capacity() - self.read_buf.len() < chunk / 8 {
            chunk.max(self.read_buf.len())
        } else {
            0
        };
        self.read_buf.reserve(wanted);
        match self.stream.try_read_buf(&mut self.read_buf) {
            Ok(0) => Ok(Some(false)),
            Ok(n) => {
                Counters::add(&self.shared.counters.bytes_received, n as u64);
                Ok(Some(true))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the whole write buffer. With `interrupt_on`, stops early (between writes)
    /// when the broker stops or that queue asks the connection to close, so a client that
    /// does not read cannot hold a takeover or a shutdown.
    async fn flush(&mut self, interrupt_on: Option<&OutgoingQueue>) -> io::Result<Flush> {
        use tokio::io::AsyncWriteExt;
        let mut woken = false;
        while !self.write_buf.is_empty() {
            let written = match interrupt_on {
                None => self.stream.write(&self.write_buf).await?,
                Some(queue) => tokio::select! {
                    biased;
                    _ = self.token.cancelled() => return Ok(Flush::Interrupted),
                    _ = queue.woken() => {
                        if queue.has_close() {
                            return Ok(Flush::Interrupted);
                        }
                        woken = true;
                        continue;
                    }
                    written = self.stream.write(&self.write_buf) => written?,
                },
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.write_buf.advance(written);
            Counters::add(&self.shared.counters.bytes_sent, written as u64);
        }
        if self.stream.needs_flush() {
            match interrupt_on {
                None => self.stream.flush().await?,
                Some(_) => tokio::select! {
                    biased;
                    _ = self.token.cancelled() => return Ok(Flush::Interrupted),
                    flushed = self.stream.flush() => flushed?,
                },
            }
        }
        if self.write_buf.capacity() > 64 * 1024 {
            self.write_buf = BytesMut::new();
        }
        Ok(Flush::Done { woken })
    }

    async fn flush_all(&mut self) -> io::Result<()> {
        self.flush(None).await.map(|_| ())
    }
}

enum AckState {
    /// Routed; the router has not answered yet.
    AwaitingRouter,
    /// The router answered; the ack leaves once these queues have room.
    Waiting(ReasonCode, Vec<Arc<OutgoingQueue>>),
}

struct PendingAck {
    packet_id: u16,
    qos: QoS,
    state: AckState,
}

struct ConnectionTask {
    io: Connection,
    /// Inline: the task is one allocation per connection.
    session: Session,
    queue: Arc<OutgoingQueue>,
    /// QoS 1/2 acknowledgements in PUBLISH order ([MQTT-4.6.0-2]).
    acks: VecDeque<PendingAck>,
    actions: Vec<Action>,
    closing: Option<CloseReason>,
    /// The last drain filled its batch: drain again without waiting for a wake-up.
    more_pending: bool,
    was_blocked: bool,
    /// The keep-alive timer, created on first use and reset afterwards.
    timer: Option<Pin<Box<Sleep>>>,
}

impl ConnectionTask {
    fn version(&self) -> ProtocolVersion {
        self.session.version
    }

    /// The queue the front acknowledgement waits for, which pauses reading.
    fn blocked_on(&self) -> Option<Arc<OutgoingQueue>> {
        match self.acks.front() {
            Some(PendingAck {
                state: AckState::Waiting(_, queues),
                ..
            }) => queues.iter().find(|q| !q.has_room()).cloned(),
            _ => None,
        }
    }

    /// The front acknowledgement was answered by the router and nothing holds it back.
    fn front_ack_is_due(&self) -> bool {
        matches!(
            self.acks.front(),
            Some(PendingAck {
                state: AckState::Waiting(_, queues),
                ..
            }) if queues.iter().all(|q| q.has_room())
        )
    }

    async fn serve(&mut self) -> CloseReason {
        let queue = self.queue.clone();
        // Packets that arrived with the CONNECT (a client need not wait for the CONNACK):
        // the socket may have nothing more to wake us for them.
        if !self.io.read_buf.is_empty() {
            Box::pin(self.handle_buffered()).await;
        }
        loop {
            let now = Instant::now();
            self.handle_control();
            self.send_ready_acks();
            if self.closing.is_none() {
                self.pump_deliveries(now);
            }
            let interrupt_on = self.closing.is_none().then_some(&*queue);
            let flushed = if self.io.write_buf.is_empty() {
                Ok(Flush::Done { woken: false })
            } else if let Some(reason) = &self.closing {
                // A closing connection gets a deadline: a client that does not read must
                // not hold up a takeover or a shutdown.
                let reason = reason.clone();
                match Box::pin(timeout(CLOSE_FLUSH_DEADLINE, self.io.flush(None))).await {
                    Ok(result) => result,
                    Err(_) => {
                        self.io.write_buf.clear();
                        return reason;
                    }
                }
            } else {
                // Boxed: kept out of the idle future (see `run`).
                Box::pin(self.io.flush(interrupt_on)).await
            };
            match flushed {
                Ok(Flush::Done { woken }) => self.more_pending |= woken,
                Ok(Flush::Interrupted) => {
                    self.cancelled();
                    continue;
                }
                Err(_) => return CloseReason::ConnectionLost,
            }
            if let Some(reason) = self.closing.take() {
                return reason;
            }
            if self.io.token.is_cancelled() {
                self.cancelled();
                continue;
            }
            let blocked = self.blocked_on();
            if blocked.is_none() && self.front_ack_is_due() {
                // The queues it waited for made room after `send_ready_acks` looked: send
                // it now, or a publisher whose window is full would wait for nothing.
                continue;
            }
            if blocked.is_none() && self.was_blocked {
                // We stopped reading, so the client's silence meanwhile was ours.
                self.session.touch(Instant::now());
            }
            self.was_blocked = blocked.is_some();
            let deadline = if blocked.is_some() {
                None
            } else {
                self.session.next_deadline()
            };
            match (deadline, &mut self.timer) {
                (Some(deadline), Some(timer)) => {
                    if timer.deadline() != deadline {
                        timer.as_mut().reset(deadline);
                    }
                }
                (Some(deadline), None) => self.timer = Some(Box::pin(sleep_until(deadline))),
                (None, _) => {}
            }
            // Only a paused connection allocates the wait for room.
            let mut room = blocked.map(|q| Box::pin(async move { q.wait_for_room().await }));
            // The idle wait: every branch is a small poll_fn over state the task owns, as
            // this future is part of every idle connection's memory.
            let stream = &mut self.io.stream;
            let timer = &mut self.timer;
            let event = tokio::select! {
                biased;
                ready = poll_fn(|cx| stream.poll_read_ready(cx)), if room.is_none() => {
                    if ready.is_err() { Wake::Lost } else { Wake::Readable }
                }
                _ = poll_fn(|cx| queue.poll_woken(cx)) => Wake::Other,
                _ = poll_fn(|cx| poll_optional(&mut room, cx)), if room.is_some() => Wake::Other,
                _ = poll_fn(|cx| poll_optional(timer, cx)), if deadline.is_some() => Wake::Timer,
                _ = std::future::ready(()), if self.more_pending => Wake::Other,
            };
            match event {
                Wake::Lost => return CloseReason::ConnectionLost,
                Wake::Readable => {
                    if let Some(reason) = Box::pin(self.read_and_handle()).await {
                        return reason;
                    }
                }
                Wake::Timer => {
                    self.session
                        .handle_timeout(Instant::now(), &mut self.actions);
                    Box::pin(self.apply_actions()).await;
                }
                Wake::Other => {}
            }
        }
    }

    /// The broker is stopping or another connection took the session over.
    fn cancelled(&mut self) {
        if self.closing.is_some() {
            return;
        }
        let mut reason = ReasonCode::ServerShuttingDown;
        let mut controls = Vec::new();
        self.queue.take_control(&mut controls);
        for control in controls {
            if let Control::Close(code) = control {
                reason = code;
            }
        }
        if self.version().is_v5() {
            let packet = self.session.disconnect_packet(reason, "");
            self.io.encode(&packet, ProtocolVersion::V5);
        }
        self.closing = Some(if reason == ReasonCode::SessionTakenOver {
            CloseReason::TakenOver
        } else {
            CloseReason::ServerShutdown
        });
    }

    /// Reads what the socket has and handles every complete packet. Some(reason) when the
    /// connection ends at once (socket closed or failed).
    async fn read_and_handle(&mut self) -> Option<CloseReason> {
        match self.io.try_read(READ_CHUNK) {
            Ok(Some(true)) => {}
            Ok(None) => {
                // A spurious wake-up: keep no buffer while idle.
                if self.io.read_buf.is_empty() {
                    self.io.read_buf = BytesMut::new();
                }
                return None;
            }
            Ok(Some(false)) | Err(_) => {
                self.io.read_buf = BytesMut::new();
                return Some(CloseReason::ConnectionLost);
            }
        }
        self.handle_buffered().await;
        None
    }

    /// Handles every complete packet in the read buffer.
    async fn handle_buffered(&mut self) {
        let now = Instant::now();
        let version = self.version();
        let max_packet_size = self.io.shared.limits.max_packet_size;
        while self.closing.is_none() {
            match decode(&mut self.io.read_buf, version, max_packet_size) {
                Ok(Some(packet)) => {
                    if matches!(packet, Packet::Publish(_)) {
                        Counters::add(&self.io.shared.counters.messages_received, 1);
                    }
                    self.session.handle_incoming(packet, now, &mut self.actions);
                    self.apply_actions().await;
                }
                Ok(None) => break,
                Err(error) => {
                    log::info!(
                        "Client {} disconnected due to malformed packet: {error}.",
                        self.session.client_id
                    );
                    self.session.close_with(
                        error.reason_code(),
                        &error.to_string(),
                        &mut self.actions,
                    );
                    self.apply_actions().await;
                }
            }
        }
        if self.io.read_buf.is_empty() {
            // Release the read buffer between bursts: idle connections hold no buffer.
            self.io.read_buf = BytesMut::new();
        }
    }

    async fn apply_actions(&mut self) {
        let version = self.version();
        let mut actions = std::mem::take(&mut self.actions);
        for action in actions.drain(..) {
            match action {
                Action::Send(packet) => self.io.encode(&packet, version),
                Action::Route { message, ack } => {
                    if let Some((packet_id, qos)) = ack {
                        self.acks.push_back(PendingAck {
                            packet_id,
                            qos,
                            state: AckState::AwaitingRouter,
                        });
                    }
                    let command = RouterCommand::Publish {
                        session: self.session.id,
                        message,
                        ack: ack.map(|(packet_id, _)| packet_id),
                    };
                    let _ = self.io.shared.router.send(command).await;
                }
                Action::Ack {
                    packet_id,
                    qos,
                    reason,
                } => self.acks.push_back(PendingAck {
                    packet_id,
                    qos,
                    state: AckState::Waiting(reason, Vec::new()),
                }),
                Action::Subscribe(subscriptions) => {
                    let command = RouterCommand::Subscribe {
                        session: self.session.id,
                        subscriptions,
                    };
                    let _ = self.io.shared.router.send(command).await;
                }
                Action::Unsubscribe(filters) => {
                    let command = RouterCommand::Unsubscribe {
                        session: self.session.id,
                        filters,
                    };
                    let _ = self.io.shared.router.send(command).await;
                }
                Action::Close(reason) => {
                    if self.closing.is_none() {
                        self.closing = Some(reason);
                    }
                }
            }
        }
        self.actions = actions;
    }

    fn handle_control(&mut self) {
        let mut controls = Vec::new();
        self.queue.take_control(&mut controls);
        for control in controls {
            match control {
                Control::PublishDone {
                    packet_id,
                    reason,
                    wait_for,
                } => {
                    let pending = self.acks.iter_mut().find(|ack| {
                        matches!(ack.state, AckState::AwaitingRouter) && ack.packet_id == packet_id
                    });
                    if let Some(ack) = pending {
                        ack.state = AckState::Waiting(reason, wait_for);
                    }
                }
                Control::Close(code) => {
                    if self.closing.is_none() {
                        if self.version().is_v5() {
                            let packet = self.session.disconnect_packet(code, "");
                            self.io.encode(&packet, ProtocolVersion::V5);
                        }
                        self.closing = Some(if code == ReasonCode::SessionTakenOver {
                            CloseReason::TakenOver
                        } else {
                            CloseReason::ServerShutdown
                        });
                    }
                }
            }
        }
    }

    /// Writes acknowledgements from the front while they are due.
    fn send_ready_acks(&mut self) {
        let version = self.version();
        while let Some(front) = self.acks.front_mut() {
            let AckState::Waiting(reason, queues) = &mut front.state else {
                break;
            };
            queues.retain(|q| !q.has_room());
            if !queues.is_empty() {
                break;
            }
            let (packet_id, qos, reason) = (front.packet_id, front.qos, *reason);
            self.acks.pop_front();
            let packet = self.session.acknowledgement(packet_id, qos, reason);
            self.io.encode(&packet, version);
        }
    }

    fn pump_deliveries(&mut self, now: Instant) {
        let budget = self.session.send_budget();
        let mut deliveries = Vec::new();
        self.queue.drain(&mut deliveries, DRAIN_BATCH, budget);
        self.more_pending = deliveries.len() == DRAIN_BATCH;
        let version = self.version();
        let mut sent = 0;
        for delivery in deliveries {
            match self.session.deliver(delivery, now) {
                Some(packet) => {
                    self.io.encode(&packet, version);
                    sent += 1;
                }
                None => Counters::add(&self.io.shared.counters.messages_dropped, 1),
            }
        }
        Counters::add(&self.io.shared.counters.messages_sent, sent);
    }

    /// Closes the socket after writing what is due, and hands the session to the router.
    async fn finish(mut self: Box<Self>, reason: CloseReason) {
        let _ = timeout(CLOSE_FLUSH_DEADLINE, self.io.flush_all()).await;
        let client_id = self.session.client_id.clone();
        match &reason {
            CloseReason::ClientDisconnect { .. } => log::info!("Client {client_id} disconnected."),
            CloseReason::ConnectionLost => log::info!("Client {client_id} closed its connection."),
            CloseReason::KeepAliveTimeout => {
                log::info!("Client {client_id} has exceeded timeout, disconnecting.")
            }
            CloseReason::ProtocolError(code) => {
                log::info!("Client {client_id} disconnected due to protocol error ({code:?}).")
            }
            CloseReason::TakenOver => log::debug!("Client {client_id} was taken over."),
            CloseReason::ServerShutdown => log::debug!("Client {client_id} closed for shutdown."),
        }
        let session = self.session;
        let config = &self.io.shared.config;
        let expiry = if session.version.is_v5() {
            Expiry::from_v5(session.session_expiry)
        } else if session.clean_start {
            Expiry::AtDisconnect
        } else {
            config
                .persistent_client_expiration
                .map_or(Expiry::Never, |s| Expiry::After(Duration::from_secs(s)))
        };
        let Session {
            id, state, will, ..
        } = session;
        let report = DisconnectReport {
            connection_id: self.io.connection_id,
            session_id: id,
            state: Box::new(state),
            will: will.map(|will| *will),
            reason,
            expiry,
        };
        let _ = self
            .io
            .shared
            .router
            .send(RouterCommand::Disconnected(Box::new(report)))
            .await;
        // The router has the session back before the client sees the close, so a client
        // reacting to the close finds the session stored.
        use tokio::io::AsyncWriteExt;
        let _ = timeout(CLOSE_FLUSH_DEADLINE, self.io.stream.shutdown()).await;
    }
}

/// What ended an idle wait.
enum Wake {
    Readable,
    Lost,
    Timer,
    Other,
}

/// Polls an optional future; a missing one never completes.
fn poll_optional<F: Future + Unpin>(future: &mut Option<F>, cx: &mut Context<'_>) -> Poll<()> {
    match future {
        Some(future) => Pin::new(future).poll(cx).map(|_| ()),
        None => Poll::Pending,
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    /// Every idle connection holds its task's future, so it must stay small (see the
    /// boxing in `run`); 10,000 idle connections are a benchmark target.
    #[tokio::test]
    async fn connection_future_stays_small() {
        use tokio::net::TcpStream;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let config = Arc::new(BrokerConfig::default());
        let (router, _inbox) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            limits: SessionLimits::from_config(&config),
            config,
            router,
            counters: Arc::new(Counters::new()),
            auth: Arc::new(crate::broker::AllowAll),
            login_delay: std::sync::Mutex::new(LoginDelay::new(Duration::ZERO, Duration::ZERO)),
            next_connection_id: AtomicU64::new(0),
        });
        let address = Peer(Some(stream.local_addr().unwrap()));
        let future = run(
            shared,
            BrokerStream::Tcp(stream),
            address,
            CancellationToken::new(),
            None,
        );
        let size = std::mem::size_of_val(&future);
        assert!(size <= 512, "connection future is {size} bytes");
        let task = std::mem::size_of::<ConnectionTask>();
        assert!(task <= 600, "connection task is {task} bytes");
    }
}
