//! The sans-IO client session: packet ids, the in-flight window, the queue of QoS>0
//! publishes waiting for the window or for a connection, QoS 1/2 flows in both
//! directions, resend with DUP after a reconnect, keep-alive deadlines and MQTT 5
//! outgoing topic aliases. It never reads the clock or touches a socket: the connection
//! task feeds it packets and `now`, and applies the `Action`s it returns.

mod connect;
mod inbound;
mod keep_alive;
mod outbound;
mod subscribe;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::protocol::{
    ConnAck, Disconnect, Packet, ProtocolVersion, Publish, ReasonCode, SubAck, TopicName, UnsubAck,
};

use super::ClientError;
use outbound::{OutMessage, OutState};
use subscribe::Pending;

/// What the IO layer must do after a call into the state machine.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Encode and write this packet.
    Send(Packet),
    /// Hand this event to the application.
    Deliver(Event),
    /// Flush what was written, then close the connection.
    Close(CloseReason),
}

/// Something the application hears about.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// A CONNACK, accepted or refused.
    ConnAck(ConnAck),
    /// An inbound message: QoS 0/1 on PUBLISH, QoS 2 on PUBREL (as paho). The topic of a
    /// PUBLISH sent by Topic Alias only is resolved. QoS 1 and 2 need `ack()` afterwards.
    Message(Publish),
    /// An outgoing message is complete: QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP.
    Published {
        packet_id: u16,
        reason_code: ReasonCode,
        properties: crate::protocol::Properties,
    },
    SubAck(SubAck),
    UnsubAck(UnsubAck),
    /// The connection ended; the reason says who ended it and why.
    Disconnected(CloseReason),
    /// A log line from the IO layer (paho's `on_log`); the state machine never makes one.
    Log(log::Level, String),
}

/// Why a connection ends.
#[derive(Clone, Debug, PartialEq)]
pub enum CloseReason {
    /// The application called `disconnect()`.
    Requested,
    /// The server sent DISCONNECT (MQTT 5).
    ServerDisconnect(Disconnect),
    /// No PINGRESP (or CONNACK) within the keep-alive interval.
    KeepAliveTimeout,
    /// The socket closed or failed.
    ConnectionLost,
    /// The server broke the protocol (message for the log).
    ProtocolError(String),
    /// The CONNACK refused the connection.
    Refused(ReasonCode),
}

/// Limits the application configures (paho's `max_inflight_messages`/`max_queued_messages`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// QoS>0 messages in flight at once; 0 = unlimited.
    pub max_inflight: u16,
    /// QoS>0 messages held (in flight + waiting); 0 = unlimited.
    pub max_queued: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_inflight: 20,
            max_queued: 0,
        }
    }
}

/// What the server granted in its CONNACK, plus the per-connection clocks.
struct Link {
    connected: bool,
    keep_alive: Duration,
    opened_at: Instant,
    last_sent: Instant,
    last_received: Instant,
    ping_sent: Option<Instant>,
    receive_maximum: u16,
    maximum_packet_size: u32,
    topic_alias_maximum: u16,
    outgoing_aliases: HashMap<TopicName, u16>,
    incoming_aliases: HashMap<u16, TopicName>,
    closing: bool,
}

/// The client side of one MQTT session, across any number of connections.
pub struct ClientState {
    version: ProtocolVersion,
    limits: Limits,
    next_packet_id: u16,
    outgoing: HashMap<u16, OutMessage>,
    /// Outgoing QoS>0 packet ids in publish order.
    order: VecDeque<u16>,
    /// Every entry of `order` before this index is on the wire (nothing to send): where
    /// `fill_window` starts looking, so a full window of in-flight messages is not
    /// walked again for every acknowledgement.
    unsent_from: usize,
    inflight: usize,
    acks_pending: HashMap<u16, Pending>,
    /// Inbound QoS 2 messages received, delivered on PUBREL.
    incoming_qos2: HashMap<u16, Publish>,
    link: Option<Link>,
    assigned_client_id: Option<String>,
}

impl ClientState {
    pub fn new(version: ProtocolVersion, limits: Limits) -> Self {
        ClientState {
            version,
            limits,
            next_packet_id: 0,
            outgoing: HashMap::new(),
            order: VecDeque::new(),
            unsent_from: 0,
            inflight: 0,
            acks_pending: HashMap::new(),
            incoming_qos2: HashMap::new(),
            link: None,
            assigned_client_id: None,
        }
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// A 3.1.1 client may fall back to 3.1 between connections (paho does on CONNACK 1).
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// True while a connection is open (CONNECT sent, not yet closed).
    pub fn is_open(&self) -> bool {
        self.link.as_ref().is_some_and(|l| !l.closing)
    }

    /// True between an accepted CONNACK and the end of the connection.
    pub fn is_connected(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.connected && !l.closing)
    }

    /// The client identifier the server assigned in its last CONNACK (MQTT 5).
    pub fn assigned_client_id(&self) -> Option<&str> {
        self.assigned_client_id.as_deref()
    }

    /// The keep-alive in force: the server's Server Keep Alive overrides ours.
    pub fn keep_alive(&self) -> Option<Duration> {
        self.link.as_ref().map(|l| l.keep_alive)
    }

    /// QoS>0 messages held: in flight and waiting.
    pub fn queued_len(&self) -> usize {
        self.outgoing.len()
    }

    pub fn inflight_len(&self) -> usize {
        self.inflight
    }

    /// The next free packet id: 1..=65535, wrapping to 1, skipping ids in use.
    fn allocate_packet_id(&mut self) -> Result<u16, ClientError> {
        for _ in 0..u16::MAX {
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            let id = self.next_packet_id;
            if !self.outgoing.contains_key(&id) && !self.acks_pending.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(ClientError::PacketIdsExhausted)
    }

    fn send(&mut self, packet: Packet, now: Instant, actions: &mut Vec<Action>) {
        if let Some(link) = self.link.as_mut() {
            link.last_sent = now;
        }
        actions.push(Action::Send(packet));
    }

    /// A packet from the server.
    pub fn handle_incoming(&mut self, packet: Packet, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(link) = self.link.as_mut() else {
            return actions;
        };
        link.last_received = now;
        let connected = link.connected;
        match packet {
            Packet::ConnAck(connack) if !connected => {
                self.handle_connack(connack, now, &mut actions)
            }
            Packet::PingResp => {
                if let Some(link) = self.link.as_mut() {
                    link.ping_sent = None;
                }
            }
            Packet::Publish(publish) if connected => {
                self.handle_publish(publish, now, &mut actions)
            }
            Packet::PubAck(response) if connected => {
                self.complete(response, OutState::WaitPubAck, now, &mut actions)
            }
            Packet::PubComp(response) if connected => {
                self.complete(response, OutState::WaitPubComp, now, &mut actions)
            }
            Packet::PubRec(response) if connected => {
                self.handle_pubrec(response, now, &mut actions)
            }
            Packet::PubRel(response) if connected => {
                self.handle_pubrel(response, now, &mut actions)
            }
            Packet::SubAck(suback) if connected => {
                if self.acks_pending.remove(&suback.packet_id) == Some(Pending::Subscribe) {
                    actions.push(Action::Deliver(Event::SubAck(suback)));
                }
            }
            Packet::UnsubAck(unsuback) if connected => {
                if self.acks_pending.remove(&unsuback.packet_id) == Some(Pending::Unsubscribe) {
                    actions.push(Action::Deliver(Event::UnsubAck(unsuback)));
                }
            }
            Packet::Disconnect(disconnect) if self.version.is_v5() => {
                self.close(CloseReason::ServerDisconnect(disconnect), &mut actions);
            }
            other => {
                let message = format!("unexpected {:?} from the server", other.packet_type());
                self.close(CloseReason::ProtocolError(message), &mut actions);
            }
        }
        actions
    }

    fn close(&mut self, reason: CloseReason, actions: &mut Vec<Action>) {
        if let Some(link) = self.link.as_mut() {
            link.closing = true;
        }
        actions.push(Action::Close(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        Connect, Properties, Property, PublishResponse, QoS, Subscription, SubscriptionOptions,
        TopicFilter,
    };

    const V311: ProtocolVersion = ProtocolVersion::V311;
    const V5: ProtocolVersion = ProtocolVersion::V5;

    fn connect(clean: bool, keep_alive: u16) -> Connect {
        Connect {
            protocol_version: V311,
            bridge: false,
            clean_start: clean,
            keep_alive,
            client_id: "c".into(),
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        }
    }

    fn connack(properties: Properties) -> Packet {
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason_code: ReasonCode::Success,
            properties,
        })
    }

    fn topic(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    fn message(qos: QoS) -> Publish {
        Publish::new(topic("a/b"), qos, "hi")
    }

    fn sent(actions: &[Action]) -> Vec<&Packet> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn connected(version: ProtocolVersion, limits: Limits, t: Instant) -> ClientState {
        let mut state = ClientState::new(version, limits);
        state.connection_opened(connect(true, 60), t);
        state.handle_incoming(connack(Properties::new()), t);
        state
    }

    #[test]
    fn packet_ids_start_at_one_wrap_to_one_and_skip_ids_in_use() {
        let t = Instant::now();
        let mut state = ClientState::new(V311, Limits::default());
        let (first, open, _) = state.publish(message(QoS::AtLeastOnce), t).unwrap();
        assert_eq!((first, open), (1, false));
        state.next_packet_id = u16::MAX - 1;
        let (id, _, _) = state.publish(message(QoS::AtMostOnce), t).unwrap();
        assert_eq!(id, u16::MAX);
        // 1 is still held by the queued QoS 1 message, so 2 comes next.
        let (id, _, _) = state.publish(message(QoS::AtMostOnce), t).unwrap();
        assert_eq!(id, 2);
    }

    #[test]
    fn qos0_while_disconnected_is_dropped_and_qos1_is_queued_then_sent_after_connack() {
        let t = Instant::now();
        let mut state = ClientState::new(V311, Limits::default());
        let (_, open, actions) = state.publish(message(QoS::AtMostOnce), t).unwrap();
        assert!(!open && actions.is_empty());
        let (id, _, actions) = state.publish(message(QoS::AtLeastOnce), t).unwrap();
        assert!(actions.is_empty());
        assert_eq!(state.queued_len(), 1);
        let actions = state.connection_opened(connect(true, 60), t);
        assert!(matches!(sent(&actions)[..], [Packet::Connect(_)]));
        let actions = state.handle_incoming(connack(Properties::new()), t);
        assert!(matches!(actions[0], Action::Deliver(Event::ConnAck(_))));
        match sent(&actions)[..] {
            [Packet::Publish(p)] => assert_eq!((p.packet_id, p.dup), (id, false)),
            ref other => panic!("expected one PUBLISH, got {other:?}"),
        }
    }

    #[test]
    fn inflight_window_holds_extra_messages_until_acks_arrive() {
        let t = Instant::now();
        let limits = Limits {
            max_inflight: 2,
            max_queued: 0,
        };
        let mut state = connected(V311, limits, t);
        let mut sent_count = 0;
        for _ in 0..5 {
            let (_, _, actions) = state.publish(message(QoS::AtLeastOnce), t).unwrap();
            sent_count += sent(&actions).len();
        }
        assert_eq!(sent_count, 2);
        assert_eq!(state.inflight_len(), 2);
        let actions = state.handle_incoming(Packet::PubAck(PublishResponse::new(1)), t);
        assert!(matches!(
            actions[0],
            Action::Deliver(Event::Published { packet_id: 1, .. })
        ));
        match sent(&actions)[..] {
            [Packet::Publish(p)] => assert_eq!(p.packet_id, 3),
            ref other => panic!("expected PUBLISH 3, got {other:?}"),
        }
    }

    #[test]
    fn window_refills_in_publish_order_after_out_of_order_acks_and_a_reconnect() {
        let t = Instant::now();
        let limits = Limits {
            max_inflight: 2,
            max_queued: 0,
        };
        let mut state = connected(V311, limits, t);
        for _ in 0..6 {
            state.publish(message(QoS::AtLeastOnce), t).unwrap();
        }
        let ids = |actions: &[Action]| -> Vec<(u16, bool)> {
            sent(actions)
                .iter()
                .filter_map(|p| match p {
                    Packet::Publish(p) => Some((p.packet_id, p.dup)),
                    _ => None,
                })
                .collect()
        };
        // 1 and 2 in flight; the second is acknowledged first.
        let actions = state.handle_incoming(Packet::PubAck(PublishResponse::new(2)), t);
        assert_eq!(ids(&actions), [(3, false)]);
        let actions = state.handle_incoming(Packet::PubAck(PublishResponse::new(1)), t);
        assert_eq!(ids(&actions), [(4, false)]);
        state.connection_closed();
        state.connection_opened(connect(false, 60), t);
        let actions = state.handle_incoming(connack(Properties::new()), t);
        assert_eq!(ids(&actions), [(3, true), (4, true)]);
        let actions = state.handle_incoming(Packet::PubAck(PublishResponse::new(4)), t);
        assert_eq!(ids(&actions), [(5, false)]);
        assert_eq!(state.inflight_len(), 2);
    }

    #[test]
    fn server_receive_maximum_narrows_the_window() {
        let t = Instant::now();
        let mut state = ClientState::new(V5, Limits::default());
        for _ in 0..5 {
            state.publish(message(QoS::AtLeastOnce), t).unwrap();
        }
        state.connection_opened(connect(true, 60), t);
        let actions =
            state.handle_incoming(connack(Properties(vec![Property::ReceiveMaximum(3)])), t);
        assert_eq!(sent(&actions).len(), 3);
    }

    #[test]
    fn max_queued_messages_refuses_the_next_qos1_publish() {
        let t = Instant::now();
        let limits = Limits {
            max_inflight: 20,
            max_queued: 2,
        };
        let mut state = ClientState::new(V311, limits);
        state.publish(message(QoS::AtLeastOnce), t).unwrap();
        state.publish(message(QoS::ExactlyOnce), t).unwrap();
        let refused = state.publish(message(QoS::AtLeastOnce), t);
        assert!(matches!(refused, Err(ClientError::QueueFull)));
        // QoS 0 is never counted.
        assert!(state.publish(message(QoS::AtMostOnce), t).is_ok());
    }

    #[test]
    fn qos2_outgoing_flow_completes_on_pubcomp() {
        let t = Instant::now();
        let mut state = connected(V311, Limits::default(), t);
        let (id, _, _) = state.publish(message(QoS::ExactlyOnce), t).unwrap();
        let actions = state.handle_incoming(Packet::PubRec(PublishResponse::new(id)), t);
        assert_eq!(
            sent(&actions),
            vec![&Packet::PubRel(PublishResponse::new(id))]
        );
        let actions = state.handle_incoming(Packet::PubComp(PublishResponse::new(id)), t);
        assert!(matches!(
            actions[..],
            [Action::Deliver(Event::Published { packet_id, .. })] if packet_id == id
        ));
        assert_eq!(state.queued_len(), 0);
    }

    #[test]
    fn qos2_inbound_is_delivered_once_on_pubrel() {
        let t = Instant::now();
        let mut state = connected(V311, Limits::default(), t);
        let inbound = message(QoS::ExactlyOnce).with_packet_id(7);
        let actions = state.handle_incoming(Packet::Publish(inbound.clone()), t);
        assert_eq!(
            actions,
            vec![Action::Send(Packet::PubRec(PublishResponse::new(7)))]
        );
        // A duplicate PUBLISH before PUBREL is acknowledged again, not delivered.
        let actions = state.handle_incoming(Packet::Publish(inbound.clone()), t);
        assert_eq!(sent(&actions).len(), 1);
        let actions = state.handle_incoming(Packet::PubRel(PublishResponse::new(7)), t);
        assert_eq!(actions, vec![Action::Deliver(Event::Message(inbound))]);
        // A second PUBREL is completed without a second delivery.
        let actions = state.handle_incoming(Packet::PubRel(PublishResponse::new(7)), t);
        assert_eq!(
            actions,
            vec![Action::Send(Packet::PubComp(PublishResponse::new(7)))]
        );
        let actions = state.ack(7, QoS::ExactlyOnce, t);
        assert_eq!(
            actions,
            vec![Action::Send(Packet::PubComp(PublishResponse::new(7)))]
        );
    }

    #[test]
    fn unacknowledged_messages_are_resent_with_dup_after_reconnect() {
        let t = Instant::now();
        let mut state = connected(V311, Limits::default(), t);
        let (q1, _, _) = state.publish(message(QoS::AtLeastOnce), t).unwrap();
        let (q2, _, _) = state.publish(message(QoS::ExactlyOnce), t).unwrap();
        let (q2b, _, _) = state.publish(message(QoS::ExactlyOnce), t).unwrap();
        state.handle_incoming(Packet::PubRec(PublishResponse::new(q2b)), t);
        state.connection_closed();
        assert!(!state.is_open());
        state.connection_opened(connect(false, 60), t);
        let actions = state.handle_incoming(connack(Properties::new()), t);
        let packets = sent(&actions);
        assert_eq!(packets.len(), 3);
        assert!(matches!(packets[0], Packet::Publish(p) if p.packet_id == q1 && p.dup));
        assert!(matches!(packets[1], Packet::Publish(p) if p.packet_id == q2 && p.dup));
        assert_eq!(packets[2], &Packet::PubRel(PublishResponse::new(q2b)));
    }

    #[test]
    fn keepalive_sends_pingreq_when_idle_and_closes_without_pingresp() {
        let t = Instant::now();
        let mut state = ClientState::new(V311, Limits::default());
        state.connection_opened(connect(true, 10), t);
        state.handle_incoming(connack(Properties::new()), t);
        assert_eq!(state.next_deadline(), Some(t + Duration::from_secs(10)));
        assert!(state.handle_timeout(t + Duration::from_secs(9)).is_empty());
        let t1 = t + Duration::from_secs(10);
        assert_eq!(
            state.handle_timeout(t1),
            vec![Action::Send(Packet::PingReq)]
        );
        assert_eq!(state.next_deadline(), Some(t1 + Duration::from_secs(10)));
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(
            state.handle_timeout(t2),
            vec![Action::Close(CloseReason::KeepAliveTimeout)]
        );
    }

    #[test]
    fn pingresp_clears_the_outstanding_ping() {
        let t = Instant::now();
        let mut state = ClientState::new(V311, Limits::default());
        state.connection_opened(connect(true, 10), t);
        state.handle_incoming(connack(Properties::new()), t);
        let t1 = t + Duration::from_secs(10);
        state.handle_timeout(t1);
        state.handle_incoming(Packet::PingResp, t1 + Duration::from_secs(1));
        assert!(state.handle_timeout(t1 + Duration::from_secs(10)).len() == 1);
        assert!(state.is_connected());
    }

    #[test]
    fn missing_connack_closes_after_keepalive() {
        let t = Instant::now();
        let mut state = ClientState::new(V311, Limits::default());
        state.connection_opened(connect(true, 5), t);
        assert_eq!(
            state.handle_timeout(t + Duration::from_secs(5)),
            vec![Action::Close(CloseReason::KeepAliveTimeout)]
        );
    }

    #[test]
    fn server_keep_alive_and_assigned_client_id_are_honoured() {
        let t = Instant::now();
        let mut state = ClientState::new(V5, Limits::default());
        state.connection_opened(connect(true, 60), t);
        let properties = Properties(vec![
            Property::ServerKeepAlive(7),
            Property::AssignedClientIdentifier("auto-1".into()),
        ]);
        state.handle_incoming(connack(properties), t);
        assert_eq!(state.keep_alive(), Some(Duration::from_secs(7)));
        assert_eq!(state.assigned_client_id(), Some("auto-1"));
        assert_eq!(state.next_deadline(), Some(t + Duration::from_secs(7)));
    }

    #[test]
    fn outgoing_topic_aliases_stay_within_the_server_maximum() {
        let t = Instant::now();
        let mut state = ClientState::new(V5, Limits::default());
        state.connection_opened(connect(true, 60), t);
        state.handle_incoming(connack(Properties(vec![Property::TopicAliasMaximum(1)])), t);
        let publish = |state: &mut ClientState, name: &str| {
            let (_, _, actions) = state
                .publish(Publish::new(topic(name), QoS::AtMostOnce, "x"), t)
                .unwrap();
            match actions.into_iter().next() {
                Some(Action::Send(Packet::Publish(p))) => p,
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        };
        let first = publish(&mut state, "a");
        assert_eq!(
            (first.topic.as_str(), first.properties.topic_alias()),
            ("a", Some(1))
        );
        let second = publish(&mut state, "a");
        assert_eq!(
            (second.topic.as_str(), second.properties.topic_alias()),
            ("", Some(1))
        );
        let other = publish(&mut state, "b");
        assert_eq!(
            (other.topic.as_str(), other.properties.topic_alias()),
            ("b", None)
        );
    }

    #[test]
    fn inbound_topic_alias_is_resolved() {
        let t = Instant::now();
        let mut state = connected(V5, Limits::default(), t);
        let mut first = Publish::new(topic("x/y"), QoS::AtMostOnce, "1");
        first.properties.push(Property::TopicAlias(3));
        state.handle_incoming(Packet::Publish(first), t);
        let mut second = Publish::new(TopicName::empty(), QoS::AtMostOnce, "2");
        second.properties.push(Property::TopicAlias(3));
        let actions = state.handle_incoming(Packet::Publish(second), t);
        assert!(
            matches!(&actions[..], [Action::Deliver(Event::Message(p))] if p.topic.as_str() == "x/y")
        );
    }

    #[test]
    fn subscribe_needs_an_open_connection_and_suback_is_delivered() {
        let t = Instant::now();
        let mut state = ClientState::new(V311, Limits::default());
        let subscription = Subscription {
            filter: TopicFilter::new("a/#").unwrap(),
            options: SubscriptionOptions::default(),
        };
        let refused = state.subscribe(vec![subscription.clone()], Properties::new(), t);
        assert!(matches!(refused, Err(ClientError::NotConnected)));
        let mut state = connected(V311, Limits::default(), t);
        let (id, actions) = state
            .subscribe(vec![subscription], Properties::new(), t)
            .unwrap();
        assert_eq!(sent(&actions).len(), 1);
        let suback = SubAck {
            packet_id: id,
            reason_codes: vec![ReasonCode::GrantedQoS1],
            properties: Properties::new(),
        };
        let actions = state.handle_incoming(Packet::SubAck(suback.clone()), t);
        assert_eq!(actions, vec![Action::Deliver(Event::SubAck(suback))]);
    }

    #[test]
    fn refused_connack_is_delivered_then_closes() {
        let t = Instant::now();
        let mut state = ClientState::new(V311, Limits::default());
        state.connection_opened(connect(true, 60), t);
        let refusal = ConnAck {
            session_present: false,
            reason_code: ReasonCode::NotAuthorized,
            properties: Properties::new(),
        };
        let actions = state.handle_incoming(Packet::ConnAck(refusal.clone()), t);
        assert_eq!(
            actions,
            vec![
                Action::Deliver(Event::ConnAck(refusal)),
                Action::Close(CloseReason::Refused(ReasonCode::NotAuthorized))
            ]
        );
        assert!(!state.is_connected());
    }

    #[test]
    fn server_disconnect_and_unexpected_packets_close_the_connection() {
        let t = Instant::now();
        let mut state = connected(V5, Limits::default(), t);
        let disconnect = Disconnect::new(ReasonCode::ServerShuttingDown);
        let actions = state.handle_incoming(Packet::Disconnect(disconnect.clone()), t);
        assert_eq!(
            actions,
            vec![Action::Close(CloseReason::ServerDisconnect(disconnect))]
        );
        let mut state = connected(V311, Limits::default(), t);
        let actions = state.handle_incoming(Packet::PingReq, t);
        assert!(matches!(
            actions[..],
            [Action::Close(CloseReason::ProtocolError(_))]
        ));
    }

    #[test]
    fn disconnect_sends_disconnect_then_closes() {
        let t = Instant::now();
        let mut state = connected(V311, Limits::default(), t);
        let actions = state.disconnect(Disconnect::new(ReasonCode::Success), t);
        assert_eq!(actions.len(), 2);
        assert!(matches!(actions[1], Action::Close(CloseReason::Requested)));
        assert!(!state.is_open());
        assert!(state
            .disconnect(Disconnect::new(ReasonCode::Success), t)
            .is_empty());
    }

    #[test]
    fn drop_out_messages_returns_them_in_order() {
        let t = Instant::now();
        let mut state = ClientState::new(V311, Limits::default());
        for _ in 0..3 {
            state.publish(message(QoS::AtLeastOnce), t).unwrap();
        }
        let dropped: Vec<u16> = state
            .drop_out_messages()
            .iter()
            .map(|p| p.packet_id)
            .collect();
        assert_eq!(dropped, vec![1, 2, 3]);
        assert_eq!(state.queued_len(), 0);
    }
}
