//! The messages the router hands to sessions and the bounded `OutgoingQueue` that carries
//! them: the router pushes (never waits), the session's connection task drains.
//!
//! A queue belongs to a session, not a connection: while a persistent session is offline
//! it keeps filling (within its bound) and the next connection drains it in order. The
//! same queue carries the router's `Control` replies to the connection that owns it.

use crate::protocol::{Properties, QoS, ReasonCode, TopicName};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Identifies one session for its whole life (client ids can be reused by a new session).
pub type SessionId = u64;

/// A message as routed: one allocation shared by every subscriber it reaches.
#[derive(Debug)]
pub struct Message {
    pub topic: TopicName,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// The properties forwarded to subscribers unchanged (no Topic Alias, no Subscription
    /// Identifier, no Message Expiry Interval: that one is recomputed from `expires_at`).
    pub properties: Properties,
    pub expires_at: Option<Instant>,
    /// The session that published it, for no-local; `None` for wills, `$SYS` and delayed.
    pub publisher: Option<SessionId>,
}

impl Message {
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// One message on its way to one session, with that subscription's QoS and flags.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Message>,
    pub qos: QoS,
    pub retain: bool,
    /// The matching subscriptions' identifiers (MQTT 5); empty, unallocated otherwise.
    pub subscription_ids: Vec<u32>,
}

/// What the router tells the connection that owns a queue.
#[derive(Debug)]
pub enum Control {
    /// A QoS 1/2 PUBLISH from this connection has been routed: acknowledge it with
    /// `reason` once every queue in `wait_for` is below its bound (backpressure).
    PublishDone {
        packet_id: u16,
        reason: ReasonCode,
        wait_for: Vec<Arc<OutgoingQueue>>,
    },
    /// Close the connection, telling an MQTT 5 client `reason` (e.g. 0x8E, taken over).
    Close(ReasonCode),
}

/// What became of a pushed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Queued,
    /// Queued, but the queue is at or past its bound: the publisher should pause.
    QueuedOverLimit,
    /// Not queued (full queue: QoS 0, or QoS 1/2 for an offline session); counted.
    Dropped,
}

#[derive(Default)]
struct QueueState {
    messages: VecDeque<Delivery>,
    control: Vec<Control>,
    /// The connection task waiting for a push (a plain waker slot is much smaller in
    /// every idle connection's future than a `Notified`).
    waker: Option<Waker>,
}

/// A session's bounded queue of deliveries plus its connection's control messages.
pub struct OutgoingQueue {
    // std Mutex, not tokio: held only for a push or a drain, never across .await.
    state: Mutex<QueueState>,
    /// Wakes publishers paused until this queue is below its bound.
    space: Notify,
    /// u32 beside the flags below: 8 bytes less in every session's queue allocation.
    limit: u32,
    /// Set by a push, cleared when the connection task sees it. Read and written only
    /// with `state` locked (an atomic only to sit outside it, in what would be padding).
    woken: AtomicBool,
    /// Whether a connection drains this queue; paused publishers stop waiting for an
    /// offline session (its queue would never make room).
    online: AtomicBool,
}

impl std::fmt::Debug for OutgoingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingQueue")
            .field("len", &self.len())
            .field("limit", &self.limit)
            .finish()
    }
}

impl OutgoingQueue {
    pub fn new(limit: usize) -> OutgoingQueue {
        OutgoingQueue {
            state: Mutex::new(QueueState::default()),
            space: Notify::new(),
            limit: u32::try_from(limit.max(1)).unwrap_or(u32::MAX),
            online: AtomicBool::new(false),
            woken: AtomicBool::new(false),
        }
    }

    fn limit(&self) -> usize {
        self.limit as usize
    }

    /// Marks the queue woken (with `state` locked); the returned waker is to be woken
    /// after unlocking.
    fn wake(&self, state: &mut QueueState) -> Option<Waker> {
        self.woken.store(true, Ordering::Relaxed);
        state.waker.take()
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A panic while holding this lock cannot leave the deque inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a delivery. A full queue drops QoS 0 (and QoS 1/2 when `online` is false);
    /// for an online session QoS 1/2 is queued anyway and reported over the limit, so the
    /// router can pause the publisher instead of dropping an acknowledged message.
    pub fn push(&self, delivery: Delivery, online: bool) -> PushOutcome {
        let mut state = self.lock();
        let full = state.messages.len() >= self.limit();
        if full && (delivery.qos == QoS::AtMostOnce || !online) {
            // Counted by the router (`messages_dropped`), not here.
            return PushOutcome::Dropped;
        }
        state.messages.push_back(delivery);
        // Only an online session drains, so only its bound can pause publishers.
        let outcome = if online && state.messages.len() >= self.limit() {
            PushOutcome::QueuedOverLimit
        } else {
            PushOutcome::Queued
        };
        let waker = self.wake(&mut state);
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        outcome
    }

    pub fn push_control(&self, control: Control) {
        let mut state = self.lock();
        state.control.push(control);
        let waker = self.wake(&mut state);
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether a `Control::Close` is waiting (checked while a write is stuck).
    pub fn has_close(&self) -> bool {
        self.lock()
            .control
            .iter()
            .any(|c| matches!(c, Control::Close(_)))
    }

    /// Forgets control messages meant for a previous connection of this session.
    pub fn clear_control(&self) {
        self.lock().control.clear();
    }

    /// Drops every queued delivery (the session ended).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.messages.clear();
        state.messages.shrink_to_fit();
        state.control.clear();
        drop(state);
        self.space.notify_waiters();
    }

    pub fn take_control(&self, into: &mut Vec<Control>) {
        let mut state = self.lock();
        into.append(&mut state.control);
    }

    /// Moves deliveries into `into`, in order: at most `max` of them, and stops before the
    /// first QoS 1/2 delivery once `qos_budget` of those have been taken.
    pub fn drain(&self, into: &mut Vec<Delivery>, max: usize, mut qos_budget: usize) {
        let mut state = self.lock();
        let before = state.messages.len();
        while into.len() < max {
            match state.messages.front() {
                Some(front) if front.qos != QoS::AtMostOnce => {
                    if qos_budget == 0 {
                        break;
                    }
                    qos_budget -= 1;
                }
                Some(_) => {}
                None => break,
            }
            if let Some(delivery) = state.messages.pop_front() {
                into.push(delivery);
            }
        }
        let after = state.messages.len();
        if after == 0 && state.messages.capacity() > 64 {
            // An idle session should not keep the memory of its last burst.
            state.messages = VecDeque::new();
        }
        drop(state);
        if before >= self.limit() && after < self.limit() {
            self.space.notify_waiters();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Below the bound, or nobody drains it (so there is nothing to wait for).
    pub fn has_room(&self) -> bool {
        !self.online.load(Ordering::Acquire) || self.len() < self.limit()
    }

    /// Marks whether a connection drains the queue; going offline releases publishers
    /// waiting for room.
    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Release);
        if !online {
            self.space.notify_waiters();
        }
    }

    /// Ready when something was pushed since the last time it was ready.
    pub fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if self.woken.swap(false, Ordering::Relaxed) {
            return Poll::Ready(());
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Resolves when something was pushed since the last wake-up.
    pub async fn woken(&self) {
        std::future::poll_fn(|cx| self.poll_woken(cx)).await
    }

    /// Resolves once the queue is below its bound.
    pub async fn wait_for_room(&self) {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A one-byte QoS `qos` delivery on topic "t" (also used by the session's tests).
    pub(crate) fn delivery(qos: QoS) -> Delivery {
        Delivery {
            message: Arc::new(Message {
                topic: TopicName::new("t").unwrap(),
                payload: Bytes::from_static(b"x"),
                qos,
                retain: false,
                properties: Properties::new(),
                expires_at: None,
                publisher: None,
            }),
            qos,
            retain: false,
            subscription_ids: Vec::new(),
        }
    }

    #[test]
    fn full_queue_drops_qos0_but_keeps_qos1_for_online_sessions() {
        let queue = OutgoingQueue::new(2);
        assert_eq!(
            queue.push(delivery(QoS::AtMostOnce), true),
            PushOutcome::Queued
        );
        assert_eq!(
            queue.push(delivery(QoS::AtLeastOnce), true),
            PushOutcome::QueuedOverLimit
        );
        assert_eq!(
            queue.push(delivery(QoS::AtMostOnce), true),
            PushOutcome::Dropped
        );
        assert_eq!(
            queue.push(delivery(QoS::ExactlyOnce), true),
            PushOutcome::QueuedOverLimit
        );
        assert_eq!(
            queue.push(delivery(QoS::AtLeastOnce), false),
            PushOutcome::Dropped
        );
        assert_eq!(queue.len(), 3);
    }

    #[test]
    fn drain_respects_the_qos_budget_and_order() {
        let queue = OutgoingQueue::new(10);
        for qos in [
            QoS::AtLeastOnce,
            QoS::AtMostOnce,
            QoS::AtLeastOnce,
            QoS::AtMostOnce,
        ] {
            queue.push(delivery(qos), true);
        }
        let mut out = Vec::new();
        queue.drain(&mut out, 10, 1);
        let got: Vec<QoS> = out.iter().map(|d| d.qos).collect();
        assert_eq!(got, [QoS::AtLeastOnce, QoS::AtMostOnce]);
        out.clear();
        queue.drain(&mut out, 10, 5);
        assert_eq!(out.len(), 2);
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn waiting_publisher_is_released_when_the_queue_drains() {
        let queue = Arc::new(OutgoingQueue::new(1));
        queue.set_online(true);
        queue.push(delivery(QoS::AtLeastOnce), true);
        assert!(!queue.has_room());
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.wait_for_room().await }
        });
        tokio::task::yield_now().await;
        let mut out = Vec::new();
        queue.drain(&mut out, 10, 10);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn waiting_publisher_is_released_when_the_session_goes_offline() {
        let queue = Arc::new(OutgoingQueue::new(1));
        queue.set_online(true);
        queue.push(delivery(QoS::AtLeastOnce), true);
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.wait_for_room().await }
        });
        tokio::task::yield_now().await;
        queue.set_online(false);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(queue.len(), 1, "the offline session keeps its messages");
    }
}
