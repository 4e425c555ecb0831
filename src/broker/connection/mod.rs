//! The `ConnectionTask`: the only broker code that awaits a socket. It reads bytes, lets
//! `protocol` decode them and the `Session` decide, sends `RouterCommand`s, drains the
//! session's `OutgoingQueue`, and writes everything due in one write per wake-up.
//!
//! Buffers are allocated when data arrives and released when idle, so an idle connection
//! costs little. On any end it hands the session state and will back to the router.

mod handshake;
mod keep_alive;
mod stream;

pub use keep_alive::KeepAliveTimers;
pub use stream::{BrokerStream, Identity};

use super::admission::{Admission, ConnectionSlot};
use super::auth::Access;
use super::config::BrokerConfig;
use super::hooks::{BrokerHooks, HookClient, HookMessage, MessageVerdict};
use super::queue::{Control, Message, OutgoingQueue};
use super::router::{DisconnectReport, Expiry, RouterCommand};
use super::session::{forwardable_properties, Action, CloseReason, Session, SessionContext};
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
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// Consecutive PUBLISHes handed to the publish hooks in one question: one thread hop and
/// one interpreter lock for all of them (benches/broker_hooks.py).
const HOOK_BATCH: usize = 64;
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
    /// The limits and authenticator every session of the broker applies.
    pub session: Arc<SessionContext>,
    pub router: mpsc::Sender<RouterCommand>,
    pub counters: Arc<Counters>,
    /// The application's hooks, asked after the authenticator.
    pub hooks: Option<Arc<BrokerHooks>>,
    /// std Mutex, not tokio: held only to update counts, never across an .await.
    pub login_delay: std::sync::Mutex<LoginDelay>,
    /// The per-address connection limits; `None` when both are off.
    pub admission: Option<Arc<Admission>>,
    pub next_connection_id: AtomicU64,
    /// Every connection's keep-alive deadline, served by one timer task.
    pub keep_alive: Arc<KeepAliveTimers>,
}

/// Serves one accepted socket until it closes.
///
/// Not an `async fn`: an async fn keeps its arguments for its whole life, and this future
/// is part of every idle connection's memory (tokio rounds a task up to 128 bytes, so
/// every byte over a multiple counts). The handshake, the read path and the goodbye are
/// boxed for the same reason: they are rare next to waiting idle.
pub fn run(
    shared: Arc<Shared>,
    stream: BrokerStream,
    address: Peer,
    token: CancellationToken,
    slot: ConnectionSlot,
) -> impl Future<Output = ()> + Send {
    let handshake = Box::pin(start(shared, stream, address, token));
    async move {
        let Some(mut task) = handshake.await else {
            return;
        };
        let reason = task.serve().await;
        // The slot is held here rather than in the task: this future has room left in
        // its cell.
        Box::pin(task.finish(reason, slot)).await;
    }
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
        token,
        buffers: None,
        connection_id,
    };
    let Some(accepted) = connection.handshake(address).await else {
        let _ = timeout(CLOSE_FLUSH_DEADLINE, connection.flush_all()).await;
        return None;
    };
    connection.release_idle_buffers();
    // The address is kept only for the hooks (an idle connection without them saves it).
    let hook_client = match &connection.shared.hooks {
        Some(hooks) => {
            let client = Box::new(HookClient {
                client_id: accepted.session.client_id.clone(),
                username: accepted.session.username.clone(),
                address: address.0,
                version: accepted.session.version,
            });
            hooks.connected((*client).clone()).await;
            Some(client)
        }
        None => None,
    };
    Some(Box::new(ConnectionTask {
        io: connection,
        hook_client,
        session: *accepted.session,
        queue: accepted.queue,
        acks: Acks::default(),
        closing: None,
        more_pending: false,
        was_blocked: false,
    }))
}

/// The socket side of a connection. The client's address is not kept: the handshake takes
/// it, the router keeps it with the session, and 32 bytes count in every idle connection.
struct Connection {
    shared: Arc<Shared>,
    stream: BrokerStream,
    token: CancellationToken,
    /// Allocated when data arrives or is due, dropped when the connection goes idle.
    buffers: Option<Box<Buffers>>,
    connection_id: u64,
}

#[derive(Default)]
struct Buffers {
    read: BytesMut,
    write: BytesMut,
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
    fn buffers(&mut self) -> &mut Buffers {
        self.buffers.get_or_insert_with(Box::default)
    }

    fn has_unread(&self) -> bool {
        self.buffers.as_ref().is_some_and(|b| !b.read.is_empty())
    }

    fn has_unwritten(&self) -> bool {
        self.buffers.as_ref().is_some_and(|b| !b.write.is_empty())
    }

    /// Drops both buffers if neither holds anything: an idle connection keeps none.
    fn release_idle_buffers(&mut self) {
        if !self.has_unread() && !self.has_unwritten() {
            self.buffers = None;
        }
    }

    fn encode(&mut self, packet: &Packet, version: ProtocolVersion) {
        if let Err(error) = encode(packet, version, &mut self.buffers().write) {
            log::warn!(
                "Cannot encode {:?} for connection {}: {error}",
                packet.packet_type(),
                self.connection_id
            );
        }
    }

    /// Reads once into the read buffer (growing it by at least `chunk` when nearly full);
    /// Ok(Some(false)) on end of stream, Ok(None) when nothing was there.
    fn try_read(&mut self, chunk: usize) -> io::Result<Option<bool>> {
        let read_buf = &mut self.buffers.get_or_insert_with(Box::default).read;
        let wanted = if read_buf.capacity() - read_buf.len() < chunk / 8 {
            chunk.max(read_buf.len())
        } else {
            0
        };
        read_buf.reserve(wanted);
        match self.stream.try_read_buf(read_buf) {
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
        let Some(buffers) = self.buffers.as_mut() else {
            return Ok(Flush::Done { woken });
        };
        let write_buf = &mut buffers.write;
        while !write_buf.is_empty() {
            let written = match interrupt_on {
                None => self.stream.write(write_buf).await?,
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
                    written = self.stream.write(write_buf) => written?,
                },
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            write_buf.advance(written);
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
        if write_buf.capacity() > 64 * 1024 {
            *write_buf = BytesMut::new();
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

/// The acknowledgements in order, allocated while there are some: an idle connection
/// keeps 8 bytes instead of an empty `VecDeque`'s 32.
#[derive(Default)]
#[allow(clippy::box_collection)] // the box is the point: 8 bytes while there is none
struct Acks(Option<Box<VecDeque<PendingAck>>>);

impl Acks {
    fn front(&self) -> Option<&PendingAck> {
        self.0.as_ref().and_then(|acks| acks.front())
    }

    fn front_mut(&mut self) -> Option<&mut PendingAck> {
        self.0.as_mut().and_then(|acks| acks.front_mut())
    }

    fn push_back(&mut self, ack: PendingAck) {
        self.0.get_or_insert_with(Box::default).push_back(ack);
    }

    fn pop_front(&mut self) -> Option<PendingAck> {
        let acks = self.0.as_mut()?;
        let front = acks.pop_front();
        if acks.is_empty() {
            self.0 = None;
        }
        front
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut PendingAck> {
        self.0.iter_mut().flat_map(|acks| acks.iter_mut())
    }
}

struct ConnectionTask {
    io: Connection,
    /// Inline: the task is one allocation per connection.
    session: Session,
    /// The client as the hooks see it; `None` when the broker has no hooks.
    hook_client: Option<Box<HookClient>>,
    queue: Arc<OutgoingQueue>,
    /// QoS 1/2 acknowledgements in PUBLISH order ([MQTT-4.6.0-2]).
    acks: Acks,
    closing: Option<CloseReason>,
    /// The last drain filled its batch: drain again without waiting for a wake-up.
    more_pending: bool,
    was_blocked: bool,
}

/// What the idle wait keeps from one turn of `serve` to the next. It lives in the task's
/// future, not in `ConnectionTask`: tokio rounds a task up to a multiple of 128 bytes and
/// this fits in what the rounding leaves of the future's cell.
#[derive(Default)]
struct IdleWait {
    /// While a publisher waits for room in a subscriber's queue: that wait.
    room: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The deadline registered with the broker's `KeepAliveTimers`, if any.
    keep_alive_registered: Option<Instant>,
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

    /// Decides what the idle wait below waits for; false when there is work to do first.
    fn prepare_idle_wait(&mut self, idle: &mut IdleWait) -> bool {
        let blocked = self.blocked_on();
        if blocked.is_none() && self.front_ack_is_due() {
            // The queues it waited for made room after `send_ready_acks` looked: send
            // it now, or a publisher whose window is full would wait for nothing.
            return false;
        }
        if blocked.is_none() && self.was_blocked {
            // We stopped reading, so the client's silence meanwhile was ours.
            self.session.touch(Instant::now());
        }
        self.was_blocked = blocked.is_some();
        // Only a paused connection allocates the wait for room.
        idle.room = blocked.map(|q| -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async move { q.wait_for_room().await })
        });
        true
    }

    /// The idle wait, in order of priority. A plain poll over state the task owns: this
    /// future is part of every idle connection's memory.
    fn poll_idle(&mut self, idle: &mut IdleWait, cx: &mut Context<'_>) -> Poll<Wake> {
        if idle.room.is_none() {
            // Reading pauses while a publisher waits for room (backpressure).
            if let Poll::Ready(ready) = self.io.stream.poll_read_ready(cx) {
                return Poll::Ready(if ready.is_err() {
                    Wake::Lost
                } else {
                    Wake::Readable
                });
            }
        }
        if self.queue.poll_woken(cx).is_ready() {
            return Poll::Ready(Wake::Other);
        }
        if poll_optional(&mut idle.room, cx).is_ready() {
            return Poll::Ready(Wake::Other);
        }
        // No keep-alive while reading is paused: the silence would be ours.
        if idle.room.is_none()
            && self
                .poll_keep_alive(&mut idle.keep_alive_registered, cx)
                .is_ready()
        {
            return Poll::Ready(Wake::Timer);
        }
        if self.more_pending {
            return Poll::Ready(Wake::Other);
        }
        // Going idle: an idle connection keeps no buffer.
        self.io.release_idle_buffers();
        Poll::Pending
    }

    /// Ready once the session's keep-alive deadline has passed; until then the broker's
    /// timer task holds a deadline no later than it, to wake this task.
    fn poll_keep_alive(&self, registered: &mut Option<Instant>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.session.next_deadline() else {
            return Poll::Pending;
        };
        let now = Instant::now();
        if now >= deadline {
            return Poll::Ready(());
        }
        // Packets since the registration only push the deadline back: an earlier wake-up
        // is checked here and registered again, so busy connections never take the lock.
        let registered_in_time = registered.is_some_and(|at| now < at && at <= deadline);
        if !registered_in_time {
            let timers = &self.io.shared.keep_alive;
            timers.register(self.io.connection_id, deadline, *registered, cx.waker());
            *registered = Some(deadline);
        }
        Poll::Pending
    }

    async fn serve(&mut self) -> CloseReason {
        let mut idle = IdleWait::default();
        // Packets that arrived with the CONNECT (a client need not wait for the CONNACK):
        // the socket may have nothing more to wake us for them.
        if self.io.has_unread() {
            Box::pin(self.handle_buffered()).await;
        }
        let reason = loop {
            let now = Instant::now();
            self.handle_control();
            self.send_ready_acks();
            if self.closing.is_none() {
                self.pump_deliveries(now);
            }
            let interrupt_on = self.closing.is_none().then_some(&*self.queue);
            let flushed = if !self.io.has_unwritten() {
                Ok(Flush::Done { woken: false })
            } else if let Some(reason) = &self.closing {
                // A closing connection gets a deadline: a client that does not read must
                // not hold up a takeover or a shutdown.
                let reason = reason.clone();
                match Box::pin(timeout(CLOSE_FLUSH_DEADLINE, self.io.flush(None))).await {
                    Ok(result) => result,
                    Err(_) => {
                        self.io.buffers = None;
                        break reason;
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
                Err(_) => break CloseReason::ConnectionLost,
            }
            if let Some(reason) = self.closing.take() {
                break reason;
            }
            if self.io.token.is_cancelled() {
                self.cancelled();
                continue;
            }
            if !self.prepare_idle_wait(&mut idle) {
                continue;
            }
            let event = poll_fn(|cx| self.poll_idle(&mut idle, cx)).await;
            idle.room = None;
            match event {
                Wake::Lost => break CloseReason::ConnectionLost,
                Wake::Readable => {
                    if let Some(reason) = Box::pin(self.read_and_handle()).await {
                        break reason;
                    }
                }
                Wake::Timer => Box::pin(self.handle_keep_alive_timeout()).await,
                Wake::Other => {}
            }
        };
        if let Some(at) = idle.keep_alive_registered {
            self.io.shared.keep_alive.cancel(self.io.connection_id, at);
        }
        reason
    }

    async fn handle_keep_alive_timeout(&mut self) {
        let mut actions = Vec::new();
        self.session.handle_timeout(Instant::now(), &mut actions);
        self.apply_actions(&mut actions).await;
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
            Ok(None) => return None,
            Ok(Some(false)) | Err(_) => {
                if let Some(buffers) = &mut self.io.buffers {
                    buffers.read = BytesMut::new();
                }
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
        let max_packet_size = self.io.shared.session.limits.max_packet_size;
        let mut actions = Vec::new();
        // With publish hooks, consecutive PUBLISHes are handed to them in one question.
        let batch = if self.publish_hooks_installed() {
            HOOK_BATCH
        } else {
            1
        };
        let mut batched = 0;
        while self.closing.is_none() {
            match decode(&mut self.io.buffers().read, version, max_packet_size) {
                Ok(Some(packet @ Packet::Publish(_))) => {
                    Counters::add(&self.io.shared.counters.messages_received, 1);
                    self.session.handle_incoming(packet, now, &mut actions);
                    batched += 1;
                    let closes = matches!(actions.last(), Some(Action::Close(_)));
                    if batched >= batch || closes {
                        self.apply_actions(&mut actions).await;
                        batched = 0;
                    }
                }
                Ok(Some(packet)) => {
                    // The PUBLISHes before it are handled first, in order.
                    self.apply_actions(&mut actions).await;
                    batched = 0;
                    match packet {
                        Packet::Subscribe(subscribe) => {
                            let refused = self.subscribe_hooks(&subscribe).await;
                            self.session.handle_subscribe_checked(
                                subscribe,
                                &refused,
                                now,
                                &mut actions,
                            );
                        }
                        packet => self.session.handle_incoming(packet, now, &mut actions),
                    }
                    self.apply_actions(&mut actions).await;
                }
                Ok(None) => break,
                Err(error) => {
                    log::info!(
                        "Client {} disconnected due to malformed packet: {error}.",
                        self.session.client_id
                    );
                    self.apply_actions(&mut actions).await;
                    self.session
                        .close_with(error.reason_code(), &error.to_string(), &mut actions);
                    self.apply_actions(&mut actions).await;
                }
            }
        }
        self.apply_actions(&mut actions).await;
        if let Some(buffers) = &mut self.io.buffers {
            if buffers.read.is_empty() {
                // Release the read buffer between bursts: idle connections hold none.
                buffers.read = BytesMut::new();
            }
        }
    }

    /// Carries out (and empties) `actions`. Not a field: an idle connection keeps none.
    async fn apply_actions(&mut self, actions: &mut Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        let version = self.version();
        if self.publish_hooks_installed() {
            *actions = self.publish_hooks(std::mem::take(actions)).await;
        }
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
    }

    /// The client as the hooks see it (only asked when the broker has hooks).
    fn hook_client(&self) -> HookClient {
        match &self.hook_client {
            Some(client) => (**client).clone(),
            None => HookClient {
                client_id: self.session.client_id.clone(),
                username: self.session.username.clone(),
                address: None,
                version: self.session.version,
            },
        }
    }

    fn publish_hooks_installed(&self) -> bool {
        self.io.shared.hooks.as_ref().is_some_and(|hooks| {
            let installed = hooks.installed();
            installed.authorize || installed.on_message
        })
    }

    /// Passes the PUBLISHes the session accepted (the `Route`s among `actions`) through
    /// the hooks, all in one question: each becomes the `Route` of the message as
    /// `on_message` left it, or the `Ack` of its refusal (success for a dropped message;
    /// nothing for QoS 0). A hook that fails refuses. Other actions keep their places.
    async fn publish_hooks(&mut self, actions: Vec<Action>) -> Vec<Action> {
        let Some(broker_hooks) = self.io.shared.hooks.clone() else {
            return actions;
        };
        let installed = broker_hooks.installed();
        let mut received = Vec::new();
        let mut slots = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                Action::Route { message, ack } => {
                    let Message {
                        topic,
                        payload,
                        qos,
                        retain,
                        properties,
                        expires_at,
                        publisher,
                    } = message;
                    received.push(HookMessage {
                        topic,
                        payload,
                        qos,
                        retain,
                        properties,
                    });
                    slots.push(Slot::Route {
                        ack,
                        expires_at,
                        publisher,
                    });
                }
                other => slots.push(Slot::Other(other)),
            }
        }
        if received.is_empty() {
            return slots.into_iter().filter_map(Slot::into_other).collect();
        }
        let count = received.len();
        let client = self.hook_client();
        let verdicts = broker_hooks
            .ask(&self.io.token, move |hooks| {
                let mut verdicts = Vec::with_capacity(received.len());
                hooks.batch(&mut || {
                    for message in received.drain(..) {
                        let topic = message.topic.as_str();
                        verdicts.push(
                            if installed.authorize
                                && !hooks.authorize(&client, Access::Write, topic)
                            {
                                MessageVerdict::Refuse(ReasonCode::NotAuthorized)
                            } else if installed.on_message {
                                hooks.on_message(&client, message)
                            } else {
                                MessageVerdict::Route(message)
                            },
                        );
                    }
                });
                verdicts
            })
            .await
            .filter(|verdicts| verdicts.len() == count);
        let mut verdicts = verdicts.map(Vec::into_iter);
        let retain_available = self.io.shared.session.limits.retain_available;
        let mut actions = Vec::with_capacity(slots.len());
        for slot in slots {
            let (ack, expires_at, publisher) = match slot {
                Slot::Other(action) => {
                    actions.push(action);
                    continue;
                }
                Slot::Route {
                    ack,
                    expires_at,
                    publisher,
                } => (ack, expires_at, publisher),
            };
            let verdict = verdicts.as_mut().and_then(Iterator::next);
            let reason = match verdict {
                Some(MessageVerdict::Route(changed)) => {
                    let mut properties = changed.properties;
                    forwardable_properties(&mut properties);
                    let message = Message {
                        topic: changed.topic,
                        payload: changed.payload,
                        qos: changed.qos,
                        retain: changed.retain && retain_available,
                        properties,
                        expires_at,
                        publisher,
                    };
                    actions.push(Action::Route { message, ack });
                    continue;
                }
                Some(MessageVerdict::Drop) => ReasonCode::Success,
                Some(MessageVerdict::Refuse(reason)) if reason.is_failure() => reason,
                Some(MessageVerdict::Refuse(_)) | None => ReasonCode::UnspecifiedError,
            };
            if let Some((packet_id, qos)) = ack {
                actions.push(Action::Ack {
                    packet_id,
                    qos,
                    reason,
                });
            }
        }
        actions
    }

    /// Which of a SUBSCRIBE's filters the `authorize` hook refuses (asked only for those
    /// the files allow); empty when no hook is set.
    async fn subscribe_hooks(&mut self, subscribe: &crate::protocol::Subscribe) -> Vec<bool> {
        let Some(broker_hooks) = &self.io.shared.hooks else {
            return Vec::new();
        };
        if !broker_hooks.installed().authorize {
            return Vec::new();
        }
        let asked: Vec<Option<String>> = subscribe
            .subscriptions
            .iter()
            .map(|s| {
                let filter = s.filter.as_str();
                self.session
                    .is_authorized(filter, Access::Subscribe)
                    .then(|| filter.to_owned())
            })
            .collect();
        let count = asked.len();
        let client = self.hook_client();
        let refused = broker_hooks
            .ask(&self.io.token, move |hooks| {
                asked
                    .iter()
                    .map(|filter| {
                        filter
                            .as_deref()
                            .is_some_and(|f| !hooks.authorize(&client, Access::Subscribe, f))
                    })
                    .collect::<Vec<bool>>()
            })
            .await;
        refused.unwrap_or_else(|| vec![true; count])
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
    /// The connection's slot is given back before the close, so a client that saw the
    /// close may connect again at once.
    async fn finish(mut self: Box<Self>, reason: CloseReason, slot: ConnectionSlot) {
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
        if let Some(hooks) = &self.io.shared.hooks {
            hooks.disconnected(self.hook_client(), reason.clone()).await;
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
        drop(slot);
        use tokio::io::AsyncWriteExt;
        let _ = timeout(CLOSE_FLUSH_DEADLINE, self.io.stream.shutdown()).await;
    }
}

/// An action around the hooks' question: a PUBLISH's place, or any other action.
enum Slot {
    Route {
        ack: Option<(u16, QoS)>,
        expires_at: Option<Instant>,
        publisher: Option<super::queue::SessionId>,
    },
    Other(Action),
}

impl Slot {
    fn into_other(self) -> Option<Action> {
        match self {
            Slot::Other(action) => Some(action),
            Slot::Route { .. } => None,
        }
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
mod tests {
    use super::*;
    use crate::broker::queue::{Delivery, Message};
    use crate::broker::session::SessionState;
    use crate::protocol::{Connect, Properties, TopicName};
    use std::task::Waker;
    use tokio::net::TcpStream;

    fn shared() -> Arc<Shared> {
        let config = Arc::new(BrokerConfig::default());
        let (router, _inbox) = mpsc::channel(1);
        Arc::new(Shared {
            session: SessionContext::new(&config, Arc::new(crate::broker::AllowAll)),
            config,
            router,
            counters: Arc::new(Counters::new()),
            hooks: None,
            login_delay: std::sync::Mutex::new(LoginDelay::new(Duration::ZERO, Duration::ZERO)),
            admission: None,
            next_connection_id: AtomicU64::new(0),
            keep_alive: Arc::new(KeepAliveTimers::new()),
        })
    }

    /// A socket on 127.0.0.1: the broker's end and the client's.
    async fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    /// The task serving an accepted 3.1.1 session, as `start` leaves it.
    async fn connected_task() -> (Box<ConnectionTask>, TcpStream) {
        let (server, client) = socket_pair().await;
        let shared = shared();
        let connect = Connect {
            protocol_version: ProtocolVersion::V311,
            bridge: false,
            clean_start: true,
            keep_alive: 60,
            client_id: "publisher".to_owned(),
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        };
        let session = Session::new(
            1,
            Arc::from("publisher"),
            &connect,
            SessionState::default(),
            shared.session.clone(),
            Instant::now(),
        );
        let task = Box::new(ConnectionTask {
            io: Connection {
                shared,
                stream: BrokerStream::Tcp(server),
                token: CancellationToken::new(),
                buffers: None,
                connection_id: 0,
            },
            session,
            hook_client: None,
            queue: Arc::new(OutgoingQueue::new(100)),
            acks: Acks::default(),
            closing: None,
            more_pending: false,
            was_blocked: false,
        });
        (task, client)
    }

    /// A subscriber's queue holding `limit` QoS 1 deliveries: full, with its connection
    /// online, so a publisher's acknowledgement waits for it.
    fn full_subscriber_queue(limit: usize) -> Arc<OutgoingQueue> {
        let queue = Arc::new(OutgoingQueue::new(limit));
        queue.set_online(true);
        let message = Arc::new(Message {
            topic: TopicName::new("fan/in").unwrap(),
            payload: bytes::Bytes::from_static(b"x"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::new(),
            expires_at: None,
            publisher: None,
        });
        for _ in 0..limit {
            let delivery = Delivery {
                message: message.clone(),
                qos: QoS::AtLeastOnce,
                retain: false,
                subscription_ids: Vec::new(),
            };
            queue.push(delivery, true);
        }
        assert!(!queue.has_room());
        queue
    }

    /// The router answered the QoS 1 PUBLISH `packet_id`: acknowledge it once `queue` has room.
    fn ack_waiting_for(task: &mut ConnectionTask, packet_id: u16, queue: &Arc<OutgoingQueue>) {
        task.acks.push_back(PendingAck {
            packet_id,
            qos: QoS::AtLeastOnce,
            state: AckState::Waiting(ReasonCode::Success, vec![queue.clone()]),
        });
    }

    /// Issue 3 (fan-in QoS 1 stall): the subscriber's queue makes room after the
    /// publisher's connection looked at its acknowledgements and before it goes idle. A
    /// publisher whose window is full sends nothing that would wake its connection again,
    /// so the connection must not go idle with that acknowledgement due. This is the
    /// interleaving, step by step, that multi-threaded runs hit only by chance.
    #[tokio::test]
    async fn ack_that_becomes_due_before_going_idle_is_sent_issue_3() {
        let (mut task, _client) = connected_task().await;
        let subscriber = full_subscriber_queue(1);
        ack_waiting_for(&mut task, 7, &subscriber);
        task.send_ready_acks();
        assert!(!task.io.has_unwritten(), "the PUBACK waits for room");
        // The subscriber's connection drains its queue (on another runtime thread).
        subscriber.drain(&mut Vec::new(), 10, 10);
        assert!(
            !task.prepare_idle_wait(&mut IdleWait::default()),
            "the connection went idle with a PUBACK due and nothing left to wake it"
        );
        task.send_ready_acks();
        assert_eq!(&task.io.buffers().write[..], [0x40, 0x02, 0x00, 0x07]);
    }

    /// The other side of the same decision: while the queue is still full the connection
    /// does wait (reading paused), and the drain wakes it.
    #[tokio::test]
    async fn publisher_waiting_for_room_is_woken_by_the_drain() {
        let (mut task, _client) = connected_task().await;
        let subscriber = full_subscriber_queue(1);
        ack_waiting_for(&mut task, 8, &subscriber);
        task.send_ready_acks();
        let mut idle = IdleWait::default();
        assert!(
            task.prepare_idle_wait(&mut idle),
            "nothing to do while the queue is full"
        );
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.poll_idle(&mut idle, &mut cx).is_pending());
        subscriber.drain(&mut Vec::new(), 10, 10);
        assert!(matches!(
            task.poll_idle(&mut idle, &mut cx),
            Poll::Ready(Wake::Other)
        ));
        task.send_ready_acks();
        assert_eq!(&task.io.buffers().write[..], [0x40, 0x02, 0x00, 0x08]);
    }

    /// Every idle connection holds its task, so it must stay small. tokio allocates a
    /// task as header (32 bytes), scheduler and id (16), the future and a trailer (48),
    /// rounded up to 128 bytes on x86_64: a future of at most 152 bytes (with the
    /// tracker's 8) keeps the task at 256. 10,000 idle connections are a benchmark target.
    #[tokio::test]
    async fn connection_future_stays_small() {
        let (server, _client) = socket_pair().await;
        let address = Peer(server.peer_addr().ok());
        let future = run(
            shared(),
            BrokerStream::Tcp(server),
            address,
            CancellationToken::new(),
            ConnectionSlot::default(),
        );
        let size = std::mem::size_of_val(&future);
        assert!(size <= 144, "connection future is {size} bytes");
        let task = std::mem::size_of::<ConnectionTask>();
        // Plus malloc's 8-byte header: 304 bytes.
        assert!(task <= 296, "connection task is {task} bytes");
        // In an `Arc` (16 bytes) plus malloc's header: 144 bytes.
        let queue = std::mem::size_of::<OutgoingQueue>();
        assert!(queue <= 120, "outgoing queue is {queue} bytes");
    }
}
