//! The `Router`: the `SubscriptionTree`, the retained store, shared groups and every
//! session's bookkeeping (online or not, stored state, will delay, expiry), behind one
//! lock (see `handle.rs`).
//!
//! Connection tasks send it `RouterCommand`s through a `RouterHandle`, which handles a
//! command in place when the router is free and queues it for the router's task
//! otherwise; it matches each message and `push`es a `Delivery` into every matching
//! session's `OutgoingQueue`. It never awaits a session:
//! a full queue answers at once (see `OutgoingQueue::push`), so a slow subscriber slows
//! nobody but the publishers of the QoS 1/2 messages waiting for its room.

mod handle;
mod lifecycle;
pub mod observe;

pub use handle::RouterHandle;

use super::auth::{Access, Authenticator};
use super::config::BrokerConfig;
use super::queue::{Control, Delivery, Message, OutgoingQueue, PushOutcome, SessionId};
use super::retained::RetainedStore;
use super::session::{
    owned_topic, CloseReason, RouteSubscription, SessionState, SESSION_NEVER_EXPIRES,
};
use super::stats::Counters;
use super::subscriptions::{Match, SubscriptionTree};
use super::sys::{self, ClientEvent, LoadAverages};
use super::FastMap;
use crate::protocol::{Properties, ProtocolVersion, QoS, ReasonCode, TopicFilter, TopicName, Will};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Commands the router takes, in the order each connection sent them.
#[derive(Debug)]
pub enum RouterCommand {
    Connect(Box<ConnectRequest>),
    Publish {
        session: SessionId,
        message: Message,
        /// The packet id to acknowledge through `Control::PublishDone` (QoS 1/2).
        ack: Option<u16>,
    },
    Subscribe {
        session: SessionId,
        subscriptions: Vec<RouteSubscription>,
    },
    Unsubscribe {
        session: SessionId,
        filters: Vec<TopicFilter>,
    },
    Disconnected(Box<DisconnectReport>),
    /// Tell every connected client to go (the broker is stopping): `Control::Close`.
    CloseAll(ReasonCode),
    /// Publish pending wills, then stop.
    Shutdown(oneshot::Sender<()>),
    /// A question from an observer (tests, notebooks): answered with a snapshot.
    Observe(observe::Query),
}

/// How long a session outlives its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    AtDisconnect,
    After(Duration),
    Never,
}

impl Expiry {
    /// MQTT 5 Session Expiry Interval (seconds).
    pub fn from_v5(seconds: u32) -> Expiry {
        match seconds {
            0 => Expiry::AtDisconnect,
            SESSION_NEVER_EXPIRES => Expiry::Never,
            s => Expiry::After(Duration::from_secs(u64::from(s))),
        }
    }
}

/// A client asking for its session after a valid CONNECT.
#[derive(Debug)]
pub struct ConnectRequest {
    pub connection_id: u64,
    pub client_id: Arc<str>,
    pub username: Option<Arc<str>>,
    pub address: Option<SocketAddr>,
    pub version: ProtocolVersion,
    pub clean_start: bool,
    pub keep_alive: u16,
    pub reply: oneshot::Sender<ConnectReply>,
}

/// The session a connection gets.
#[derive(Debug)]
pub struct ConnectReply {
    pub session_id: SessionId,
    pub session_present: bool,
    /// `None` for a new session: the connection allocates state when it needs some.
    pub state: Option<Box<SessionState>>,
    pub queue: Arc<OutgoingQueue>,
}

/// A connection that ended, handing its session state back.
#[derive(Debug)]
pub struct DisconnectReport {
    pub connection_id: u64,
    pub session_id: SessionId,
    /// `None` when the connection never needed any state.
    pub state: Option<Box<SessionState>>,
    pub will: Option<Will>,
    pub reason: CloseReason,
    pub expiry: Expiry,
}

struct Online {
    connection_id: u64,
    version: ProtocolVersion,
}

struct SessionEntry {
    client_id: Arc<str>,
    username: Option<Arc<str>>,
    address: Option<SocketAddr>,
    queue: Arc<OutgoingQueue>,
    connection: Option<Online>,
    /// The stored state while offline.
    state: Option<Box<SessionState>>,
    /// Bumped on every connect and disconnect, so stale timers are ignored.
    generation: u64,
    /// A will waiting for its Will Delay Interval.
    pending_will: Option<Box<Will>>,
    /// A CONNECT waiting for the connection it takes over to hand the session back.
    pending_connect: Option<Box<ConnectRequest>>,
}

/// Client id -> session, for every session: a hash table of session ids hashed by client
/// id, the id itself being read from the session's entry. A slot takes 8 bytes where a
/// `HashMap<Arc<str>, SessionId>` takes 24, in a table sized for every session.
#[derive(Default)]
struct ClientIds {
    hasher: std::hash::RandomState,
    table: hashbrown::HashTable<SessionId>,
}

impl ClientIds {
    fn hash(&self, client_id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(client_id)
    }

    fn get(
        &self,
        sessions: &FastMap<SessionId, Box<SessionEntry>>,
        client_id: &str,
    ) -> Option<SessionId> {
        let has_id = |id: &SessionId| sessions.get(id).is_some_and(|e| &*e.client_id == client_id);
        self.table.find(self.hash(client_id), has_id).copied()
    }

    /// Maps `client_id` to `session`, whose entry must already be in `sessions`.
    fn insert(
        &mut self,
        sessions: &FastMap<SessionId, Box<SessionEntry>>,
        client_id: &str,
        session: SessionId,
    ) {
        if let Some(previous) = self.get(sessions, client_id) {
            self.remove(client_id, previous);
        }
        let hash = self.hash(client_id);
        let hasher = &self.hasher;
        self.table.insert_unique(hash, session, |id| {
            use std::hash::BuildHasher;
            sessions
                .get(id)
                .map_or(0, |e| hasher.hash_one(&*e.client_id))
        });
    }

    /// Forgets `client_id` if it maps to `session`.
    fn remove(&mut self, client_id: &str, session: SessionId) {
        if let Ok(entry) = self
            .table
            .find_entry(self.hash(client_id), |&id| id == session)
        {
            entry.remove();
        }
    }
}

#[derive(Debug)]
enum Timer {
    WillDelay { session: SessionId, generation: u64 },
    SessionExpiry { session: SessionId, generation: u64 },
    Delayed(Message),
    Sys,
}

/// One candidate delivery while a publish is matched.
#[derive(Clone, Copy)]
struct Candidate {
    session: SessionId,
    qos: QoS,
    retain_as_published: bool,
    identifier: Option<u32>,
    shared: bool,
}

pub struct Router {
    config: Arc<BrokerConfig>,
    counters: Arc<Counters>,
    auth: Arc<dyn Authenticator>,
    tree: SubscriptionTree,
    retained: RetainedStore,
    /// Boxed: the map's slots stay small, so its spare capacity costs little.
    sessions: FastMap<SessionId, Box<SessionEntry>>,
    by_client_id: ClientIds,
    timers: BTreeMap<(Instant, u64), Timer>,
    next_timer: u64,
    next_session: SessionId,
    candidates: Vec<Candidate>,
    load: LoadAverages,
    last_sys: Instant,
    observer: observe::Observer,
}

impl Router {
    pub fn new(
        config: Arc<BrokerConfig>,
        counters: Arc<Counters>,
        auth: Arc<dyn Authenticator>,
    ) -> Router {
        let mut router = Router {
            config,
            counters,
            auth,
            tree: SubscriptionTree::new(),
            retained: RetainedStore::new(),
            sessions: FastMap::default(),
            by_client_id: ClientIds::default(),
            timers: BTreeMap::new(),
            next_timer: 0,
            next_session: 1,
            candidates: Vec::new(),
            load: LoadAverages::default(),
            last_sys: Instant::now(),
            observer: observe::Observer::default(),
        };
        if router.config.sys_interval > 0 {
            router.schedule(Instant::now(), Timer::Sys);
        }
        router
    }

    /// When the earliest timer is due, if any.
    fn next_timer(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    fn schedule(&mut self, at: Instant, timer: Timer) {
        self.next_timer += 1;
        self.timers.insert((at, self.next_timer), timer);
    }

    pub fn handle(&mut self, command: RouterCommand, now: Instant) {
        match command {
            RouterCommand::Connect(request) => self.handle_connect(request, now),
            RouterCommand::Publish {
                session,
                message,
                ack,
            } => self.handle_publish(session, message, ack, now),
            RouterCommand::Subscribe {
                session,
                subscriptions,
            } => self.handle_subscribe(session, subscriptions, now),
            RouterCommand::Unsubscribe { session, filters } => {
                for filter in &filters {
                    self.tree.unsubscribe(session, filter);
                }
                self.update_subscription_count();
            }
            RouterCommand::Disconnected(report) => self.handle_disconnected(*report, now),
            RouterCommand::CloseAll(reason) => {
                for entry in self.sessions.values() {
                    if entry.connection.is_some() {
                        entry.queue.push_control(Control::Close(reason));
                    }
                }
            }
            RouterCommand::Shutdown(done) => {
                self.settle();
                let _ = done.send(());
            }
            RouterCommand::Observe(query) => self.answer(query),
        }
    }

    fn handle_publish(
        &mut self,
        session: SessionId,
        message: Message,
        ack: Option<u16>,
        now: Instant,
    ) {
        let (reason, wait_for) = if message.topic.as_str().starts_with("$SYS") {
            // Only the broker publishes under $SYS.
            (ReasonCode::Success, Vec::new())
        } else {
            self.publish(message, now)
        };
        if let Some(packet_id) = ack {
            if let Some(entry) = self.sessions.get(&session) {
                if entry.connection.is_some() {
                    entry.queue.push_control(Control::PublishDone {
                        packet_id,
                        reason,
                        wait_for,
                    });
                }
            }
        }
    }

    /// Stores (if retained) and routes a message; `$delayed/{seconds}/{topic}` is held
    /// back. Returns the reason for the publisher and the queues it should wait for.
    fn publish(&mut self, message: Message, now: Instant) -> (ReasonCode, Vec<Arc<OutgoingQueue>>) {
        if let Some(rest) = message.topic.as_str().strip_prefix("$delayed/") {
            let parsed = rest.split_once('/').and_then(|(seconds, topic)| {
                Some((seconds.parse::<u32>().ok()?, TopicName::new(topic).ok()?))
            });
            return match parsed {
                Some((seconds, topic)) => {
                    let at = now + Duration::from_secs(u64::from(seconds));
                    let delayed = Message { topic, ..message };
                    self.schedule(at, Timer::Delayed(delayed));
                    (ReasonCode::Success, Vec::new())
                }
                None => (ReasonCode::TopicNameInvalid, Vec::new()),
            };
        }
        self.observe_routed(&message, now);
        let message = Arc::new(message);
        if message.retain && self.config.retain_available {
            // The stored copy owns its bytes: a slice would pin a whole read buffer for
            // as long as the message stays retained.
            self.retained.store(Arc::new(Message {
                topic: owned_topic(&message.topic),
                payload: Bytes::copy_from_slice(&message.payload),
                qos: message.qos,
                retain: true,
                properties: message.properties.clone(),
                expires_at: message.expires_at,
                publisher: message.publisher,
            }));
            self.counters
                .retained_messages_count
                .store(self.retained.len() as u64, Ordering::Relaxed);
        }
        self.route(message, now)
    }

    /// Pushes `message` to every matching session: one copy per session at the highest
    /// matching QoS carrying every matching Subscription Identifier, plus one copy per
    /// matching shared group (to one member).
    fn route(
        &mut self,
        message: Arc<Message>,
        now: Instant,
    ) -> (ReasonCode, Vec<Arc<OutgoingQueue>>) {
        let Router {
            tree,
            sessions,
            candidates,
            ..
        } = self;
        candidates.clear();
        let publisher = message.publisher;
        tree.for_each_match(message.topic.as_str(), |found| match found {
            Match::Subscriber(s) => {
                if s.options.no_local && publisher == Some(s.session) {
                    return; // [MQTT-3.8.3-3]
                }
                candidates.push(Candidate {
                    session: s.session,
                    qos: s.options.qos,
                    retain_as_published: s.options.retain_as_published,
                    identifier: s.identifier,
                    shared: false,
                });
            }
            Match::Group(group) => {
                let online = |id: SessionId| {
                    sessions
                        .get(&id)
                        .is_some_and(|entry| entry.connection.is_some())
                };
                if let Some(s) = group.pick(online) {
                    candidates.push(Candidate {
                        session: s.session,
                        qos: s.options.qos,
                        retain_as_published: s.options.retain_as_published,
                        identifier: s.identifier,
                        shared: true,
                    });
                }
            }
        });
        if candidates.len() > 1 {
            candidates.sort_unstable_by_key(|c| (c.session, c.shared));
        }
        let mut reason = ReasonCode::Success;
        let mut wait_for = Vec::new();
        let mut index = 0;
        let candidates = std::mem::take(&mut self.candidates);
        while index < candidates.len() {
            let first = candidates[index];
            let mut qos = first.qos;
            let mut retain_as_published = first.retain_as_published;
            let mut identifiers = Vec::new();
            identifiers.extend(first.identifier);
            index += 1;
            while !first.shared
                && index < candidates.len()
                && candidates[index].session == first.session
                && !candidates[index].shared
            {
                let next = candidates[index];
                qos = qos.max(next.qos);
                retain_as_published |= next.retain_as_published;
                identifiers.extend(next.identifier);
                index += 1;
            }
            let qos = qos.min(message.qos);
            let delivery = Delivery {
                qos,
                retain: message.retain && retain_as_published,
                subscription_ids: identifiers,
                message: message.clone(),
            };
            match self.push(first.session, delivery, now) {
                // Only QoS 1/2 deliveries pause the publisher: QoS 0 ones are dropped
                // when full, so waiting for them could wait forever.
                Some((PushOutcome::QueuedOverLimit, queue)) if qos != QoS::AtMostOnce => {
                    wait_for.push(queue);
                }
                Some((PushOutcome::Dropped, _)) if qos != QoS::AtMostOnce => {
                    reason = ReasonCode::QuotaExceeded;
                }
                _ => {}
            }
        }
        self.candidates = candidates;
        (reason, wait_for)
    }

    /// Pushes one delivery into a session's queue, applying the offline rules.
    fn push(
        &self,
        session: SessionId,
        delivery: Delivery,
        _now: Instant,
    ) -> Option<(PushOutcome, Arc<OutgoingQueue>)> {
        let entry = self.sessions.get(&session)?;
        let online = entry.connection.is_some();
        if !online && delivery.qos == QoS::AtMostOnce && !self.config.queue_qos0_messages {
            return None;
        }
        if !self.auth.authorize(
            &entry.client_id,
            entry.username.as_deref(),
            delivery.message.topic.as_str(),
            Access::Read,
        ) {
            return None;
        }
        let outcome = entry.queue.push(delivery, online);
        if outcome == PushOutcome::Dropped {
            self.counters
                .messages_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        Some((outcome, entry.queue.clone()))
    }

    fn handle_subscribe(
        &mut self,
        session: SessionId,
        subscriptions: Vec<RouteSubscription>,
        now: Instant,
    ) {
        if !self.sessions.contains_key(&session) {
            return;
        }
        for subscription in subscriptions {
            self.tree.subscribe(
                session,
                &subscription.filter,
                subscription.options,
                subscription.identifier,
            );
            if !subscription.send_retained || !self.config.retain_available {
                continue;
            }
            // [MQTT-3.3.1-9]: retained messages go out with the retain flag set.
            for message in self.retained.matching(subscription.filter.as_str(), now) {
                let delivery = Delivery {
                    qos: subscription.options.qos.min(message.qos),
                    retain: true,
                    subscription_ids: subscription.identifier.into_iter().collect(),
                    message,
                };
                self.push(session, delivery, now);
            }
        }
        self.update_subscription_count();
    }

    fn update_subscription_count(&self) {
        self.counters
            .subscriptions_count
            .store(self.tree.len() as u64, Ordering::Relaxed);
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            match timer {
                Timer::WillDelay {
                    session,
                    generation,
                } => {
                    let will = self
                        .sessions
                        .get_mut(&session)
                        .filter(|entry| entry.generation == generation)
                        .and_then(|entry| entry.pending_will.take());
                    if let Some(will) = will {
                        self.publish_will(*will, now);
                    }
                }
                Timer::SessionExpiry {
                    session,
                    generation,
                } => {
                    let current = self.sessions.get(&session).is_some_and(|entry| {
                        entry.generation == generation && entry.connection.is_none()
                    });
                    if current {
                        log::info!("Expiring client session {session}.");
                        self.end_session(session, None, now);
                    }
                }
                Timer::Delayed(message) => {
                    self.publish(message, now);
                }
                Timer::Sys => {
                    self.publish_sys(now);
                    let interval = Duration::from_secs(self.config.sys_interval.max(1));
                    self.schedule(now + interval, Timer::Sys);
                }
            }
        }
    }

    fn publish_sys(&mut self, now: Instant) {
        let stats = self.counters.snapshot();
        self.load
            .update(&stats, now.saturating_duration_since(self.last_sys));
        self.last_sys = now;
        for (topic, payload) in sys::periodic_topics(&stats, &self.load) {
            if let Ok(topic) = TopicName::new(topic) {
                self.publish(system_message(topic, payload.into(), true), now);
            }
        }
    }

    /// Shutdown: wills still waiting for their delay are published now.
    fn settle(&mut self) {
        let now = Instant::now();
        let wills: Vec<Will> = self
            .sessions
            .values_mut()
            .filter_map(|entry| entry.pending_will.take().map(|will| *will))
            .collect();
        for will in wills {
            self.publish_will(will, now);
        }
    }
}

fn system_message(topic: TopicName, payload: Bytes, retain: bool) -> Message {
    Message {
        topic,
        payload,
        qos: QoS::AtMostOnce,
        retain,
        properties: Properties::new(),
        expires_at: None,
        publisher: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every session has an entry, boxed: with malloc's 8-byte header it takes 128 bytes.
    /// 10,000 idle connections are a benchmark target.
    #[test]
    fn session_entry_stays_small() {
        let size = std::mem::size_of::<SessionEntry>();
        assert!(size <= 120, "session entry is {size} bytes");
    }
    use crate::broker::auth::AllowAll;
    use crate::protocol::SubscriptionOptions;

    fn router(config: BrokerConfig) -> Router {
        Router::new(
            Arc::new(config),
            Arc::new(Counters::new()),
            Arc::new(AllowAll),
        )
    }

    fn connect(
        router: &mut Router,
        client_id: &str,
        clean_start: bool,
        connection_id: u64,
        now: Instant,
    ) -> (ConnectReply, ()) {
        let (reply, mut receiver) = oneshot::channel();
        router.handle(
            RouterCommand::Connect(Box::new(ConnectRequest {
                connection_id,
                client_id: Arc::from(client_id),
                username: None,
                address: None,
                version: ProtocolVersion::V311,
                clean_start,
                keep_alive: 60,
                reply,
            })),
            now,
        );
        (receiver.try_recv().expect("connect answered"), ())
    }

    fn subscribe(
        router: &mut Router,
        session: SessionId,
        filter: &str,
        qos: QoS,
        now: Instant,
    ) -> Box<SessionState> {
        let filter = TopicFilter::new(filter).unwrap();
        let options = SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        };
        router.handle(
            RouterCommand::Subscribe {
                session,
                subscriptions: vec![RouteSubscription {
                    filter: filter.clone(),
                    options,
                    identifier: None,
                    send_retained: true,
                }],
            },
            now,
        );
        let mut state = Box::<SessionState>::default();
        state.subscriptions.insert(
            filter,
            super::super::session::SubscriptionRecord {
                options,
                identifier: None,
            },
        );
        state
    }

    fn message(topic: &str, qos: QoS, retain: bool, payload: &'static [u8]) -> Message {
        Message {
            topic: TopicName::new(topic).unwrap(),
            payload: Bytes::from_static(payload),
            qos,
            retain,
            properties: Properties::new(),
            expires_at: None,
            publisher: None,
        }
    }

    fn drain(queue: &OutgoingQueue) -> Vec<Delivery> {
        let mut out = Vec::new();
        queue.drain(&mut out, 1000, 1000);
        out
    }

    #[test]
    fn persistent_session_queues_qos1_while_offline_and_resumes() {
        let now = Instant::now();
        let mut r = router(BrokerConfig::default());
        let (sub, _) = connect(&mut r, "sub", false, 1, now);
        let state = subscribe(&mut r, sub.session_id, "a/#", QoS::AtLeastOnce, now);
        r.handle(
            RouterCommand::Disconnected(Box::new(DisconnectReport {
                connection_id: 1,
                session_id: sub.session_id,
                state: Some(state),
                will: None,
                reason: CloseReason::ConnectionLost,
                expiry: Expiry::Never,
            })),
            now,
        );
        let (publisher, _) = connect(&mut r, "pub", true, 2, now);
        r.handle(
            RouterCommand::Publish {
                session: publisher.session_id,
                message: message("a/b", QoS::AtLeastOnce, false, b"1"),
                ack: Some(1),
            },
            now,
        );
        r.handle(
            RouterCommand::Publish {
                session: publisher.session_id,
                message: message("a/c", QoS::AtMostOnce, false, b"0"),
                ack: None,
            },
            now,
        );
        let (again, _) = connect(&mut r, "sub", false, 3, now);
        assert!(again.session_present);
        assert_eq!(again.session_id, sub.session_id);
        let kept = again
            .state
            .as_deref()
            .map(|state| state.subscriptions.len());
        assert_eq!(kept, Some(1));
        let queued = drain(&again.queue);
        assert_eq!(
            queued.len(),
            1,
            "QoS 0 is not queued for an offline session"
        );
        assert_eq!(queued[0].message.payload, Bytes::from_static(b"1"));
        let mut control = Vec::new();
        publisher.queue.take_control(&mut control);
        assert!(
            matches!(&control[0], Control::PublishDone { packet_id: 1, reason: ReasonCode::Success, wait_for } if wait_for.is_empty())
        );
    }

    #[test]
    fn overlapping_subscriptions_give_one_copy_at_the_highest_qos() {
        let now = Instant::now();
        let mut r = router(BrokerConfig::default());
        let (sub, _) = connect(&mut r, "sub", true, 1, now);
        subscribe(&mut r, sub.session_id, "a/+", QoS::AtMostOnce, now);
        subscribe(&mut r, sub.session_id, "a/#", QoS::ExactlyOnce, now);
        r.handle(
            RouterCommand::Publish {
                session: 99,
                message: message("a/b", QoS::ExactlyOnce, false, b"x"),
                ack: None,
            },
            now,
        );
        let got = drain(&sub.queue);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].qos, QoS::ExactlyOnce);
    }

    #[test]
    fn takeover_waits_for_the_old_connection_and_publishes_its_will() {
        let now = Instant::now();
        let mut r = router(BrokerConfig::default());
        let (watcher, _) = connect(&mut r, "watcher", true, 1, now);
        subscribe(&mut r, watcher.session_id, "will", QoS::AtMostOnce, now);
        let (old, _) = connect(&mut r, "c", true, 2, now);
        let (reply, mut receiver) = oneshot::channel();
        r.handle(
            RouterCommand::Connect(Box::new(ConnectRequest {
                connection_id: 3,
                client_id: Arc::from("c"),
                username: None,
                address: None,
                version: ProtocolVersion::V5,
                clean_start: true,
                keep_alive: 0,
                reply,
            })),
            now,
        );
        assert!(receiver.try_recv().is_err(), "waits for the old connection");
        let mut control = Vec::new();
        old.queue.take_control(&mut control);
        assert!(matches!(
            control[0],
            Control::Close(ReasonCode::SessionTakenOver)
        ));
        let will = Will {
            topic: TopicName::new("will").unwrap(),
            payload: Bytes::from_static(b"gone"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties::new(),
        };
        r.handle(
            RouterCommand::Disconnected(Box::new(DisconnectReport {
                connection_id: 2,
                session_id: old.session_id,
                state: None,
                will: Some(will),
                reason: CloseReason::TakenOver,
                expiry: Expiry::AtDisconnect,
            })),
            now,
        );
        let new = receiver.try_recv().expect("answered after the handover");
        assert!(!new.session_present);
        let got = drain(&watcher.queue);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message.payload, Bytes::from_static(b"gone"));
    }

    #[test]
    fn will_delay_is_cancelled_by_reconnect_and_fires_otherwise() {
        let now = Instant::now();
        let mut r = router(BrokerConfig::default());
        let (watcher, _) = connect(&mut r, "watcher", true, 1, now);
        subscribe(&mut r, watcher.session_id, "will", QoS::AtMostOnce, now);
        let mut properties = Properties::new();
        properties.push(crate::protocol::Property::WillDelayInterval(5));
        let will = Will {
            topic: TopicName::new("will").unwrap(),
            payload: Bytes::from_static(b"w"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties,
        };
        for (round, reconnect) in [(0u64, true), (1, false)] {
            let (c, _) = connect(&mut r, "c", false, 10 + round * 2, now);
            r.handle(
                RouterCommand::Disconnected(Box::new(DisconnectReport {
                    connection_id: 10 + round * 2,
                    session_id: c.session_id,
                    state: None,
                    will: Some(will.clone()),
                    reason: CloseReason::ConnectionLost,
                    expiry: Expiry::Never,
                })),
                now,
            );
            r.fire_timers(now + Duration::from_secs(4));
            assert!(drain(&watcher.queue).is_empty());
            if reconnect {
                let (again, _) = connect(
                    &mut r,
                    "c",
                    false,
                    11 + round * 2,
                    now + Duration::from_secs(4),
                );
                r.fire_timers(now + Duration::from_secs(6));
                assert!(
                    drain(&watcher.queue).is_empty(),
                    "cancelled by the reconnect"
                );
                r.handle(
                    RouterCommand::Disconnected(Box::new(DisconnectReport {
                        connection_id: 11 + round * 2,
                        session_id: again.session_id,
                        state: None,
                        will: None,
                        reason: CloseReason::ClientDisconnect { with_will: false },
                        expiry: Expiry::Never,
                    })),
                    now,
                );
            } else {
                r.fire_timers(now + Duration::from_secs(6));
                assert_eq!(drain(&watcher.queue).len(), 1);
            }
        }
    }

    #[test]
    fn retained_messages_reach_new_subscribers_with_retain_set() {
        let now = Instant::now();
        let mut r = router(BrokerConfig::default());
        r.handle(
            RouterCommand::Publish {
                session: 0,
                message: message("r/1", QoS::AtLeastOnce, true, b"v"),
                ack: None,
            },
            now,
        );
        r.handle(
            RouterCommand::Publish {
                session: 0,
                message: message("r/2", QoS::AtLeastOnce, true, b"v"),
                ack: None,
            },
            now,
        );
        r.handle(
            RouterCommand::Publish {
                session: 0,
                message: message("r/2", QoS::AtLeastOnce, true, b""),
                ack: None,
            },
            now,
        );
        let (sub, _) = connect(&mut r, "sub", true, 1, now);
        subscribe(&mut r, sub.session_id, "r/#", QoS::AtMostOnce, now);
        let got = drain(&sub.queue);
        assert_eq!(got.len(), 1);
        assert!(got[0].retain);
        assert_eq!(got[0].qos, QoS::AtMostOnce);
        r.handle(
            RouterCommand::Publish {
                session: 0,
                message: message("r/1", QoS::AtMostOnce, true, b"w"),
                ack: None,
            },
            now,
        );
        let live = drain(&sub.queue);
        assert!(
            !live[0].retain,
            "live delivery clears retain without retain-as-published"
        );
    }

    #[test]
    fn delayed_publish_is_routed_after_its_delay() {
        let now = Instant::now();
        let mut r = router(BrokerConfig {
            sys_interval: 0,
            ..BrokerConfig::default()
        });
        let (sub, _) = connect(&mut r, "sub", true, 1, now);
        subscribe(&mut r, sub.session_id, "d/x", QoS::AtMostOnce, now);
        r.handle(
            RouterCommand::Publish {
                session: 0,
                message: message("$delayed/2/d/x", QoS::AtMostOnce, false, b"later"),
                ack: None,
            },
            now,
        );
        r.fire_timers(now + Duration::from_secs(1));
        assert!(drain(&sub.queue).is_empty());
        r.fire_timers(now + Duration::from_secs(2));
        let got = drain(&sub.queue);
        assert_eq!(got[0].message.topic.as_str(), "d/x");
    }

    #[test]
    fn full_online_queue_pauses_qos1_publishers_and_full_offline_queue_refuses() {
        let now = Instant::now();
        let mut r = router(BrokerConfig {
            max_queued_messages: 1,
            ..BrokerConfig::default()
        });
        let (sub, _) = connect(&mut r, "sub", false, 1, now);
        let state = subscribe(&mut r, sub.session_id, "q", QoS::AtLeastOnce, now);
        let (publisher, _) = connect(&mut r, "pub", true, 2, now);
        r.handle(
            RouterCommand::Publish {
                session: publisher.session_id,
                message: message("q", QoS::AtLeastOnce, false, b"1"),
                ack: Some(1),
            },
            now,
        );
        let mut control = Vec::new();
        publisher.queue.take_control(&mut control);
        assert!(
            matches!(&control[0], Control::PublishDone { wait_for, .. } if wait_for.len() == 1)
        );
        r.handle(
            RouterCommand::Disconnected(Box::new(DisconnectReport {
                connection_id: 1,
                session_id: sub.session_id,
                state: Some(state),
                will: None,
                reason: CloseReason::ConnectionLost,
                expiry: Expiry::Never,
            })),
            now,
        );
        r.handle(
            RouterCommand::Publish {
                session: publisher.session_id,
                message: message("q", QoS::AtLeastOnce, false, b"2"),
                ack: Some(2),
            },
            now,
        );
        control.clear();
        publisher.queue.take_control(&mut control);
        assert!(matches!(
            &control[0],
            Control::PublishDone {
                reason: ReasonCode::QuotaExceeded,
                ..
            }
        ));
        assert_eq!(r.counters.snapshot().messages_dropped, 1);
    }
}
