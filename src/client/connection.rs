//! One tokio task per connection: it moves bytes between the socket and the shared
//! `ClientState`, writes once per wake-up, runs the keep-alive timer and forwards events
//! to the application through a bounded channel. When the application falls behind, the
//! task stops reading and TCP pushes back on the server.
//!
//! `ClientHandle` is the synchronous side the application (the Python facade) calls from
//! any thread: it updates the state under a short lock, appends encoded bytes to the
//! output buffer and wakes the task; on a plain TCP connection that has been quiet, it
//! writes them to the socket itself, one hand-off between threads less.

use std::io::Write;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

use super::events::{describe, Doorbell, EventReceiver, Readiness};
use super::ledger::{Qos0Ledger, Qos0Status};
use super::state::{Action, ClientState, CloseReason, Event, Limits};
use super::ClientError;
use crate::protocol::{
    self, Connect, Disconnect, Packet, ProtocolVersion, Publish, QoS, ReasonCode, Subscription,
    TopicFilter, MAX_PACKET_SIZE,
};
use crate::transport::ConnectOptions;

mod open;
mod task;

use open::{describe_endpoint, open_stream};
use task::Task;

/// Events waiting for the application; beyond this the task stops reading the socket.
/// Large enough to absorb a burst while the Python loop catches up (a QoS 0 flood the
/// broker would otherwise drop once its queue for this client fills); the channel
/// allocates as it fills, so an idle client pays nothing for it.
pub const EVENT_CAPACITY: usize = 32 * 1024;
const READ_CAPACITY: usize = 64 * 1024;
/// A caller writes to the socket itself only when nothing was written for this long: a lone
/// message skips the hand-off to the task, a stream is batched by the task into one write
/// per wake-up.
const DIRECT_WRITE_GAP: Duration = Duration::from_micros(50);

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
    /// A second handle on a plain TCP socket (not TLS, not WebSocket), through which a
    /// calling thread writes at once when the task is not writing; None when closed.
    direct: Option<std::net::TcpStream>,
    /// The task took bytes from `out` and may still be writing them.
    writing: bool,
    /// When the task or a caller last wrote.
    last_write: Option<Instant>,
    /// QoS 0 messages published without a "published" event (`publish_with`).
    ledger: Qos0Ledger,
    /// Threads in `wait_qos0`.
    qos0_waiters: usize,
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
    /// Wakes the thread in `recv_batch`; ends its wait early (loop_stop from another thread).
    pub(super) doorbell: Doorbell,
    /// Signalled, with `inner`, when unreported QoS 0 messages are settled.
    settled: Condvar,
    log_enabled: AtomicBool,
    pub(super) readiness: Readiness,
    /// The task holds events the channel had no room for: a caller must not send one
    /// ahead of them.
    backlog: AtomicBool,
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
                direct: None,
                writing: false,
                last_write: None,
                ledger: Qos0Ledger::default(),
                qos0_waiters: 0,
            }),
            wake: Notify::new(),
            doorbell: Doorbell::default(),
            settled: Condvar::new(),
            log_enabled: AtomicBool::new(false),
            readiness: Readiness::new()?,
            backlog: AtomicBool::new(false),
        });
        let handle = ClientHandle {
            shared: shared.clone(),
            events: sender,
            runtime: runtime.clone(),
            connections: AtomicU64::new(0),
        };
        let receiver = EventReceiver { receiver, shared };
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
        let (stream, direct) = self.runtime.block_on(async {
            match tokio::time::timeout(connect_timeout, open_stream(&target, bind)).await {
                Ok(result) => result,
                Err(_) => Err(ClientError::ConnectTimeout(describe_endpoint(&target))),
            }
        })?;
        self.start_with(stream, connect, direct);
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
        let (stream, direct) =
            match tokio::time::timeout(connect_timeout, open_stream(&target, bind)).await {
                Ok(result) => result?,
                Err(_) => return Err(ClientError::ConnectTimeout(describe_endpoint(&target))),
            };
        self.start_with(stream, connect, direct);
        Ok(())
    }

    /// Starts the task for an already open byte stream (the seam for other transports).
    pub fn start<S>(&self, stream: S, connect: Connect)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.start_with(stream, connect, None);
    }

    fn start_with<S>(&self, stream: S, connect: Connect, direct: Option<std::net::TcpStream>)
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
        drop_output(&self.shared, &mut inner);
        inner.written_qos0.clear();
        inner.direct = direct;
        inner.writing = false;
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
        drop_output(&self.shared, &mut inner);
        inner.written_qos0.clear();
        inner.direct = None;
    }

    /// Publishes; see `ClientState::publish`. Returns (packet id, sent to an open socket).
    pub fn publish(&self, publish: Publish) -> Result<(u16, bool), ClientError> {
        let (packet_id, open, _) = self.publish_with(publish, true)?;
        Ok((packet_id, open))
    }

    /// `publish`, where a QoS 0 message sent to an open socket is reported published by an
    /// event only with `report_qos0`; without, it is numbered in a ledger instead (the
    /// third value) that `qos0_status` and `wait_qos0` read, which costs no event.
    pub fn publish_with(
        &self,
        mut publish: Publish,
        report_qos0: bool,
    ) -> Result<(u16, bool, Option<u64>), ClientError> {
        let qos = publish.qos;
        let mut inner = self.lock();
        // Refuse what cannot be encoded now, rather than hold a message that never leaves
        // (the packet id is not allocated yet: any non-zero one gives the same length).
        // Measured in a packet it is moved into and back out of, not a clone; the state
        // sets the real packet id.
        if publish.qos != QoS::AtMostOnce {
            publish.packet_id = 1;
        }
        let packet = Packet::Publish(publish);
        protocol::encoded_len(&packet, inner.version)?;
        let Packet::Publish(publish) = packet else {
            unreachable!("built as a PUBLISH above")
        };
        let now = Instant::now();
        let (packet_id, open, actions) = inner.state.publish(publish, now)?;
        let idle = inner.is_idle();
        apply(&self.shared, &mut inner, actions);
        let mut number = None;
        if qos == QoS::AtMostOnce && open {
            if report_qos0 {
                inner.written_qos0.push(packet_id);
            } else {
                number = Some(inner.ledger.assign());
            }
        }
        self.write_direct(&mut inner, now);
        let wake = idle && !inner.is_idle();
        drop(inner);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok((packet_id, open, number))
    }

    /// What became of a QoS 0 message numbered by `publish_with`.
    pub fn qos0_status(&self, number: u64) -> Qos0Status {
        self.lock().ledger.status(number)
    }

    /// Waits up to `timeout` for a QoS 0 message numbered by `publish_with` to be written
    /// or dropped. Blocks the calling thread: call it without holding the GIL.
    pub fn wait_qos0(&self, number: u64, timeout: Duration) -> Qos0Status {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.lock();
        inner.qos0_waiters += 1;
        let status = loop {
            let status = inner.ledger.status(number);
            if status != Qos0Status::Pending {
                break status;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(deadline) if now >= deadline => break status,
                Some(deadline) => deadline - now,
                None => Duration::from_secs(3600),
            };
            inner = self
                .shared
                .settled
                .wait_timeout(inner, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        };
        inner.qos0_waiters -= 1;
        status
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
        self.write_direct(&mut inner, Instant::now());
        let wake = idle && !inner.is_idle();
        drop(inner);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Writes what is waiting in `out` from the calling thread when the socket allows it
    /// (plain TCP, the task not writing, no close pending, nothing written in the last
    /// `DIRECT_WRITE_GAP`): one hand-off between threads less for a lone message. The
    /// write does not block; what the socket does not take is left for the task. QoS 0
    /// messages written whole are reported published here, unless other events are
    /// waiting for the task to forward (they keep their order).
    fn write_direct(&self, inner: &mut Inner, now: Instant) {
        if inner.out.is_empty() || inner.writing || inner.close.is_some() {
            return;
        }
        if inner
            .last_write
            .is_some_and(|last| now.saturating_duration_since(last) < DIRECT_WRITE_GAP)
        {
            return;
        }
        let Some(socket) = inner.direct.as_ref() else {
            return;
        };
        // Errors (WouldBlock, a reset) are the task's to find when it writes the rest.
        let Ok(written) = (&*socket).write(&inner.out) else {
            return;
        };
        inner.last_write = Some(now);
        inner.out.advance(written);
        if inner.out.is_empty() {
            let upto = inner.ledger.assigned();
            settle_qos0(&self.shared, inner, upto);
        }
        if !inner.out.is_empty()
            || !inner.pending.is_empty()
            || self.shared.backlog.load(Ordering::Acquire)
        {
            return;
        }
        let generation = inner.generation;
        let mut sent = 0;
        for &packet_id in &inner.written_qos0 {
            let event = Event::Published {
                packet_id,
                reason_code: ReasonCode::Success,
                properties: Default::default(),
            };
            if self.events.try_send((generation, event)).is_err() {
                break;
            }
            sent += 1;
        }
        // Any left (the channel is full) are reported by the task.
        inner.written_qos0.drain(..sent);
        if sent > 0 {
            self.shared.events_sent();
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
        self.shared.doorbell.interrupt();
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

impl Shared {
    /// After events were put into the channel: wakes whoever waits for them.
    fn events_sent(&self) {
        self.doorbell.ring();
        self.readiness.signal();
    }
}

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared
        .inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Everything numbered in the QoS 0 ledger up to `upto` was written.
pub(super) fn settle_qos0(shared: &Shared, inner: &mut Inner, upto: u64) {
    if inner.ledger.written(upto) && inner.qos0_waiters > 0 {
        shared.settled.notify_all();
    }
}

/// Discards what was not written (the connection is gone): unreported QoS 0 messages in
/// it are dropped.
pub(super) fn drop_output(shared: &Shared, inner: &mut Inner) {
    inner.out.clear();
    if inner.ledger.drop_unwritten() && inner.qos0_waiters > 0 {
        shared.settled.notify_all();
    }
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
