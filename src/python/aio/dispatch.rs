//! The per-client dispatcher: one task on the runtime that takes the connection's events
//! in order, completes the awaitables waiting for them (CONNACK, PUBACK/PUBCOMP, SUBACK,
//! UNSUBACK, the end of the connection) and moves inbound messages into the bounded
//! buffer Python drains. While the buffer is full it waits, which stops the connection
//! task reading its socket.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::BytesMut;
use tokio::sync::{oneshot, Notify};

use crate::client::{ClientError, ClientHandle, CloseReason, Event, EventReceiver};
use crate::protocol::properties::encode_properties;
use crate::protocol::{ConnAck, Properties, ProtocolVersion, Publish};

/// The outcome of an acknowledged packet: reason codes and MQTT 5 property bytes.
pub type Acked = (Vec<u8>, Option<Vec<u8>>);

/// An inbound message and the connection it came on (acks go only to that connection).
pub struct Inbound {
    pub connection: u64,
    pub publish: Publish,
}

/// Completes an awaited publish: (reason code, MQTT 5 property bytes) or why it failed.
pub type PublishDone = oneshot::Sender<Result<(u8, Option<Vec<u8>>), ClientError>>;

/// A publish waiting for room in the outgoing queue, in call order.
pub struct Blocked {
    pub publish: Publish,
    pub done: PublishDone,
}

/// The awaitables waiting for a packet from the server (or the end of the connection).
#[derive(Default)]
pub struct Waiters {
    pub connect: Option<oneshot::Sender<ConnAck>>,
    pub publishes: HashMap<u16, PublishDone>,
    pub subscribes: HashMap<u16, oneshot::Sender<Acked>>,
    pub unsubscribes: HashMap<u16, oneshot::Sender<Acked>>,
    pub closed: Vec<oneshot::Sender<()>>,
}

/// What the dispatcher and the Python-facing methods share, under `Shared::state`.
pub struct State {
    pub version: ProtocolVersion,
    pub waiters: Waiters,
    pub messages: VecDeque<Inbound>,
    pub capacity: usize,
    pub blocked: VecDeque<Blocked>,
    /// Connections opened so far; the current one's number.
    pub connection: u64,
    /// From `connect` until its end has been dispatched.
    pub open: bool,
    pub close_reason: Option<CloseReason>,
    /// Most messages ever held at once (for tests of the bound).
    pub high_water: usize,
    /// A disconnect was requested: a full buffer no longer holds the dispatcher back, so
    /// the end of the connection is seen even when nobody reads.
    pub discarding: bool,
}

/// One per client: held by the class, the dispatcher and the awaitables in flight.
pub struct Shared {
    // std Mutex, not tokio: short sections, never held across .await or while attached
    // to Python by a runtime thread. Order: this lock, then the ClientHandle's.
    pub state: Mutex<State>,
    /// A message arrived in an empty buffer, or the connection ended.
    pub messages_ready: Notify,
    /// Python took messages: the dispatcher may resume.
    pub room: Notify,
    /// Events in the connection's channel, sampled by the dispatcher.
    pub channel_len: AtomicUsize,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub fn property_bytes(properties: &Properties, version: ProtocolVersion) -> Option<Vec<u8>> {
    if !version.is_v5() {
        return None;
    }
    let mut out = BytesMut::new();
    if encode_properties(properties, &mut out).is_err() {
        return Some(vec![0]);
    }
    Some(out.to_vec())
}

/// Takes the connection's events in order for the client's whole life.
pub async fn dispatch(mut events: EventReceiver, shared: Arc<Shared>, handle: Weak<ClientHandle>) {
    while let Some(event) = events.next_event().await {
        shared.channel_len.store(events.queued(), Ordering::Relaxed);
        match event {
            Event::Message(publish) => deliver(&shared, publish).await,
            Event::ConnAck(connack) => {
                if let Some(done) = shared.lock().waiters.connect.take() {
                    let _ = done.send(connack);
                }
            }
            Event::Published {
                packet_id,
                reason_code,
                properties,
            } => {
                let mut state = shared.lock();
                if let Some(done) = state.waiters.publishes.remove(&packet_id) {
                    let properties = property_bytes(&properties, state.version);
                    let _ = done.send(Ok((reason_code.as_u8(), properties)));
                }
                if !state.blocked.is_empty() {
                    if let Some(handle) = handle.upgrade() {
                        release_blocked(&mut state, &handle);
                    }
                }
            }
            Event::SubAck(suback) => {
                let mut state = shared.lock();
                if let Some(done) = state.waiters.subscribes.remove(&suback.packet_id) {
                    let codes = suback.reason_codes.iter().map(|c| c.as_u8()).collect();
                    let _ = done.send((codes, property_bytes(&suback.properties, state.version)));
                }
            }
            Event::UnsubAck(unsuback) => {
                let mut state = shared.lock();
                if let Some(done) = state.waiters.unsubscribes.remove(&unsuback.packet_id) {
                    let codes = unsuback.reason_codes.iter().map(|c| c.as_u8()).collect();
                    let properties = property_bytes(&unsuback.properties, state.version);
                    let _ = done.send((codes, properties));
                }
            }
            Event::Disconnected(reason) => close(&shared, reason),
            // Log lines reach Python's logging through the `log` crate already.
            Event::Log(..) => {}
        }
    }
}

/// Puts one message into the buffer, waiting for room while it is full.
pub async fn deliver(shared: &Shared, publish: Publish) {
    let mut publish = Some(publish);
    loop {
        let room = shared.room.notified();
        tokio::pin!(room);
        // Registered before the check, so a `take` in between is not missed.
        room.as_mut().enable();
        {
            let mut state = shared.lock();
            if state.discarding && state.messages.len() >= state.capacity {
                // A disconnect was requested and nobody reads: the message is not acked,
                // so the server keeps it for a persistent session.
                return;
            }
            if state.messages.len() < state.capacity {
                let was_empty = state.messages.is_empty();
                if let Some(publish) = publish.take() {
                    let connection = state.connection;
                    state.messages.push_back(Inbound {
                        connection,
                        publish,
                    });
                }
                state.high_water = state.high_water.max(state.messages.len());
                drop(state);
                if was_empty {
                    shared.messages_ready.notify_waiters();
                }
                return;
            }
        }
        room.await;
    }
}

/// The connection ended: every waiter learns it, buffered messages stay readable.
pub fn close(shared: &Shared, reason: CloseReason) {
    let mut state = shared.lock();
    state.open = false;
    state.close_reason = Some(reason);
    let waiters = std::mem::take(&mut state.waiters);
    let blocked = std::mem::take(&mut state.blocked);
    drop(state);
    // Dropping a sender fails its awaitable with ConnectionClosedError.
    drop(blocked);
    for done in waiters.closed {
        let _ = done.send(());
    }
    shared.messages_ready.notify_waiters();
}

/// Hands publishes that waited for room to the client core, in call order, while it
/// accepts them. Publishes whose awaitable was cancelled meanwhile are not sent.
pub fn release_blocked(state: &mut State, handle: &ClientHandle) {
    while let Some(blocked) = state.blocked.pop_front() {
        if blocked.done.is_closed() {
            continue;
        }
        match handle.publish(blocked.publish.clone()) {
            Ok((packet_id, _)) => {
                state.waiters.publishes.insert(packet_id, blocked.done);
            }
            Err(ClientError::QueueFull | ClientError::PacketIdsExhausted) => {
                state.blocked.push_front(blocked);
                return;
            }
            Err(e) => {
                let _ = blocked.done.send(Err(e));
            }
        }
    }
}
