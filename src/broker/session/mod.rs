//! The sans-IO `Session`: one client's protocol state (packet ids, in-flight windows both
//! ways, QoS 2 flows, topic aliases, keep-alive, will). It never touches a socket or reads
//! the clock: the connection task feeds it packets and `now`, and applies the `Action`s
//! it returns. `SessionState` is the part that outlives a connection of a persistent
//! session; the router keeps it while the client is offline.

mod close;
mod connect;
mod inbound;
mod outbound;
mod state;
mod subscriptions;

pub use close::CloseReason;
pub use connect::{decide_client_id, refusal, ClientIdDecision};
pub use inbound::{forwardable_properties, owned_topic};
pub use state::{KeptState, SessionContext, SessionLimits, SessionState, SubscriptionRecord};

use super::auth::Access;
use super::queue::{Message, SessionId};
use crate::protocol::{
    Connect, Packet, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions, TopicFilter, TopicName,
    Will,
};
use std::sync::Arc;
use tokio::time::Instant;

/// The session expiry that means "never" ([MQTT 5.0 §3.1.2.11.2]).
pub const SESSION_NEVER_EXPIRES: u32 = u32::MAX;

/// What the IO layer must do after the session has looked at something.
#[derive(Debug)]
pub enum Action {
    /// Write this packet to the client.
    Send(Packet),
    /// Hand this message to the router. `ack` = the QoS 1/2 PUBLISH to acknowledge once
    /// the router has taken it (acknowledgements leave in the order PUBLISHes came).
    Route {
        message: Message,
        ack: Option<(u16, QoS)>,
    },
    /// Acknowledge a QoS 1/2 PUBLISH that is not routed (a resent QoS 2 PUBLISH, or a
    /// refused one), in order with the routed ones.
    Ack {
        packet_id: u16,
        qos: QoS,
        reason: ReasonCode,
    },
    /// Add or replace subscriptions in the router.
    Subscribe(Vec<RouteSubscription>),
    /// Remove subscriptions from the router.
    Unsubscribe(Vec<TopicFilter>),
    /// End the connection (after writing what was sent before).
    Close(CloseReason),
}

/// A subscription as the router needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSubscription {
    pub filter: TopicFilter,
    pub options: SubscriptionOptions,
    pub identifier: Option<u32>,
    /// Send the matching retained messages now (retain handling, shared or not).
    pub send_retained: bool,
}

/// One client's protocol state while connected.
pub struct Session {
    pub id: SessionId,
    pub client_id: Arc<str>,
    pub username: Option<Arc<str>>,
    pub version: ProtocolVersion,
    /// What outlives the connection, allocated when first needed.
    pub state: KeptState,
    pub clean_start: bool,
    /// The will of this connection; taken by the connection task when it ends.
    pub will: Option<Box<Will>>,
    /// MQTT 5 Session Expiry Interval (seconds), possibly updated by DISCONNECT.
    pub session_expiry: u32,
    /// Keep-alive in effect (seconds, 0 = none) and what the client asked for.
    pub keep_alive: u16,
    pub requested_keep_alive: u16,
    last_received: Instant,
    context: Arc<SessionContext>,
    /// MQTT 5 inbound topic aliases, allocated by the first one (boxed: 8 bytes in
    /// every session that uses none, instead of an empty `Vec`'s 24).
    #[allow(clippy::box_collection)]
    topic_aliases: Option<Box<Vec<Option<TopicName>>>>,
    /// QoS 1/2 PUBLISHes received and not yet acknowledged to the end.
    inbound_unacked: u16,
    /// The client's Receive Maximum (MQTT 5) or our 3.x window.
    send_quota: u16,
    client_max_packet_size: u32,
    request_problem_information: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for an accepted CONNECT; `state` is the stored state of a resumed session.
    pub fn new(
        id: SessionId,
        client_id: Arc<str>,
        connect: &Connect,
        state: Option<Box<SessionState>>,
        context: Arc<SessionContext>,
        now: Instant,
    ) -> Session {
        let limits = &context.limits;
        let version = connect.protocol_version;
        let properties = &connect.properties;
        let (session_expiry, send_quota, client_max_packet_size, problem_info) = if version.is_v5()
        {
            (
                properties.session_expiry_interval().unwrap_or(0),
                properties.receive_maximum().unwrap_or(u16::MAX).max(1),
                properties
                    .maximum_packet_size()
                    .unwrap_or(crate::protocol::MAX_PACKET_SIZE),
                properties.request_problem_information() != Some(0),
            )
        } else {
            (
                0,
                limits.max_inflight,
                crate::protocol::MAX_PACKET_SIZE,
                true,
            )
        };
        let keep_alive = if version.is_v5()
            && (connect.keep_alive == 0 || connect.keep_alive > limits.max_keepalive)
            && limits.max_keepalive < u16::MAX
        {
            limits.max_keepalive
        } else {
            connect.keep_alive
        };
        Session {
            id,
            client_id,
            username: connect.username.as_deref().map(Arc::from),
            version,
            state: KeptState::new(state),
            clean_start: connect.clean_start,
            will: connect.will.clone().map(Box::new),
            session_expiry,
            keep_alive,
            requested_keep_alive: connect.keep_alive,
            last_received: now,
            topic_aliases: None,
            inbound_unacked: 0,
            send_quota,
            client_max_packet_size,
            request_problem_information: problem_info,
            context,
        }
    }

    /// Asks the authenticator whether this client may do `access` on `topic`.
    pub fn is_authorized(&self, topic: &str, access: Access) -> bool {
        self.context
            .auth
            .authorize(&self.client_id, self.username.as_deref(), topic, access)
    }

    /// Handles one packet from the client.
    pub fn handle_incoming(&mut self, packet: Packet, now: Instant, out: &mut Vec<Action>) {
        self.last_received = now;
        match packet {
            Packet::Publish(publish) => self.handle_publish(publish, now, out),
            Packet::PubAck(response) => self.handle_puback(response),
            Packet::PubRec(response) => self.handle_pubrec(response, out),
            Packet::PubRel(response) => self.handle_pubrel(response, out),
            Packet::PubComp(response) => self.handle_pubcomp(response),
            Packet::Subscribe(subscribe) => self.handle_subscribe(subscribe, &[], out),
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(unsubscribe, out),
            Packet::PingReq => out.push(Action::Send(Packet::PingResp)),
            Packet::Disconnect(disconnect) => self.handle_disconnect(disconnect, out),
            Packet::Auth(_) => self.close_with(
                ReasonCode::BadAuthenticationMethod,
                "no authentication method is configured",
                out,
            ),
            Packet::Connect(_) => self.close_with(ReasonCode::ProtocolError, "second CONNECT", out),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => self
                .close_with(
                    ReasonCode::ProtocolError,
                    "packet type a client must not send",
                    out,
                ),
        }
    }

    /// Whether reason strings may go in packets other than CONNACK/DISCONNECT.
    pub fn wants_problem_information(&self) -> bool {
        self.request_problem_information
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::auth::AllowAll;
    use crate::broker::config::BrokerConfig;
    use crate::broker::queue::tests::delivery;
    use crate::protocol::{
        Disconnect, Properties, Property, Publish, PublishResponse, RetainHandling, Subscribe,
        Subscription, Unsubscribe,
    };
    use std::time::Duration;

    fn connect(version: ProtocolVersion, keep_alive: u16) -> Connect {
        Connect {
            protocol_version: version,
            bridge: false,
            clean_start: true,
            keep_alive,
            client_id: "c1".into(),
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        }
    }

    fn session(version: ProtocolVersion, keep_alive: u16, now: Instant) -> Session {
        Session::new(
            1,
            Arc::from("c1"),
            &connect(version, keep_alive),
            None,
            SessionContext::new(&BrokerConfig::default(), Arc::new(AllowAll)),
            now,
        )
    }

    fn publish(topic: &str, qos: QoS, packet_id: u16) -> Packet {
        Packet::Publish(
            Publish::new(TopicName::new(topic).unwrap(), qos, "hi").with_packet_id(packet_id),
        )
    }

    fn run(session: &mut Session, packet: Packet, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        session.handle_incoming(packet, now, &mut out);
        out
    }

    #[test]
    fn silent_client_times_out_after_one_and_a_half_keep_alives() {
        let start = Instant::now();
        let mut s = session(ProtocolVersion::V5, 10, start);
        let mut out = Vec::new();
        s.handle_timeout(start + Duration::from_millis(14_900), &mut out);
        assert!(out.is_empty());
        run(&mut s, Packet::PingReq, start + Duration::from_secs(10));
        assert_eq!(s.next_deadline(), Some(start + Duration::from_secs(25)));
        s.handle_timeout(start + Duration::from_secs(25), &mut out);
        assert!(
            matches!(&out[0], Action::Send(Packet::Disconnect(d)) if d.reason_code == ReasonCode::KeepAliveTimeout)
        );
        assert!(matches!(
            &out[1],
            Action::Close(CloseReason::KeepAliveTimeout)
        ));
        assert!(CloseReason::KeepAliveTimeout.publishes_will());
    }

    #[test]
    fn resent_qos2_publish_is_not_routed_twice() {
        let now = Instant::now();
        let mut s = session(ProtocolVersion::V311, 0, now);
        let first = run(&mut s, publish("a", QoS::ExactlyOnce, 7), now);
        assert!(matches!(
            &first[0],
            Action::Route {
                ack: Some((7, QoS::ExactlyOnce)),
                ..
            }
        ));
        let again = run(&mut s, publish("a", QoS::ExactlyOnce, 7), now);
        assert!(matches!(&again[0], Action::Ack { packet_id: 7, .. }));
        let rel = run(&mut s, Packet::PubRel(PublishResponse::new(7)), now);
        assert!(matches!(&rel[0], Action::Send(Packet::PubComp(r)) if r.packet_id == 7));
        let third = run(&mut s, publish("a", QoS::ExactlyOnce, 7), now);
        assert!(matches!(&third[0], Action::Route { .. }));
    }

    #[test]
    fn v5_receive_maximum_excess_is_refused_with_0x93() {
        let now = Instant::now();
        let mut s = session(ProtocolVersion::V5, 0, now);
        for packet_id in 1..=20 {
            let out = run(&mut s, publish("a", QoS::AtLeastOnce, packet_id), now);
            assert!(matches!(&out[0], Action::Route { .. }));
        }
        let out = run(&mut s, publish("a", QoS::AtLeastOnce, 21), now);
        assert!(
            matches!(&out[0], Action::Send(Packet::Disconnect(d)) if d.reason_code == ReasonCode::ReceiveMaximumExceeded)
        );
        // Acknowledging one frees a slot.
        let mut s = session(ProtocolVersion::V5, 0, now);
        for packet_id in 1..=20 {
            run(&mut s, publish("a", QoS::AtLeastOnce, packet_id), now);
        }
        s.acknowledgement(1, QoS::AtLeastOnce, ReasonCode::Success);
        let out = run(&mut s, publish("a", QoS::AtLeastOnce, 21), now);
        assert!(matches!(&out[0], Action::Route { .. }));
    }

    #[test]
    fn topic_alias_is_resolved_and_range_checked() {
        let now = Instant::now();
        let mut s = session(ProtocolVersion::V5, 0, now);
        let mut with_alias = Publish::new(TopicName::new("a/b").unwrap(), QoS::AtMostOnce, "1");
        with_alias.properties.push(Property::TopicAlias(3));
        run(&mut s, Packet::Publish(with_alias), now);
        let mut by_alias = Publish::new(TopicName::empty(), QoS::AtMostOnce, "2");
        by_alias.properties.push(Property::TopicAlias(3));
        let out = run(&mut s, Packet::Publish(by_alias), now);
        match &out[0] {
            Action::Route { message, .. } => {
                assert_eq!(message.topic.as_str(), "a/b");
                assert!(message.properties.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut bad = Publish::new(TopicName::new("x").unwrap(), QoS::AtMostOnce, "3");
        bad.properties.push(Property::TopicAlias(11));
        let out = run(&mut s, Packet::Publish(bad), now);
        assert!(
            matches!(&out[0], Action::Send(Packet::Disconnect(d)) if d.reason_code == ReasonCode::TopicAliasInvalid)
        );
    }

    #[test]
    fn outbound_window_and_resend_with_dup() {
        let now = Instant::now();
        let mut s = session(ProtocolVersion::V311, 0, now);
        assert_eq!(s.send_budget(), 20);
        let Some(Packet::Publish(first)) = s.deliver(delivery(QoS::AtLeastOnce), now) else {
            panic!("no publish");
        };
        let Some(Packet::Publish(second)) = s.deliver(delivery(QoS::ExactlyOnce), now) else {
            panic!("no publish");
        };
        assert_eq!((first.packet_id, second.packet_id), (1, 2));
        assert_eq!(s.send_budget(), 18);
        run(&mut s, Packet::PubRec(PublishResponse::new(2)), now);
        let resent = s.resend_unacknowledged(now);
        assert!(matches!(&resent[0], Packet::Publish(p) if p.dup && p.packet_id == 1));
        assert!(matches!(&resent[1], Packet::PubRel(r) if r.packet_id == 2));
        run(&mut s, Packet::PubAck(PublishResponse::new(1)), now);
        run(&mut s, Packet::PubComp(PublishResponse::new(2)), now);
        assert_eq!(s.state.inflight(), 0);
    }

    #[test]
    fn subscribe_grants_and_reports_retain_handling() {
        let now = Instant::now();
        let mut s = session(ProtocolVersion::V5, 0, now);
        let subscription = |qos, retain_handling| Subscription {
            filter: TopicFilter::new("a/+").unwrap(),
            options: SubscriptionOptions {
                qos,
                retain_handling,
                ..SubscriptionOptions::default()
            },
        };
        let subscribe = |sub| {
            Packet::Subscribe(Subscribe {
                packet_id: 5,
                subscriptions: vec![sub],
                properties: Properties::new(),
            })
        };
        let out = run(
            &mut s,
            subscribe(subscription(
                QoS::ExactlyOnce,
                RetainHandling::SendIfNewSubscription,
            )),
            now,
        );
        assert!(matches!(&out[0], Action::Subscribe(r) if r[0].send_retained));
        assert!(
            matches!(&out[1], Action::Send(Packet::SubAck(a)) if a.reason_codes == [ReasonCode::GrantedQoS2])
        );
        let out = run(
            &mut s,
            subscribe(subscription(
                QoS::AtMostOnce,
                RetainHandling::SendIfNewSubscription,
            )),
            now,
        );
        assert!(matches!(&out[0], Action::Subscribe(r) if !r[0].send_retained));
        let out = run(
            &mut s,
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 6,
                filters: vec![
                    TopicFilter::new("a/+").unwrap(),
                    TopicFilter::new("b").unwrap(),
                ],
                properties: Properties::new(),
            }),
            now,
        );
        assert!(
            matches!(&out[1], Action::Send(Packet::UnsubAck(a)) if a.reason_codes == [ReasonCode::Success, ReasonCode::NoSubscriptionExisted])
        );
    }

    #[test]
    fn empty_client_id_rules() {
        let mut c = connect(ProtocolVersion::V311, 0);
        c.client_id.clear();
        assert!(decide_client_id(&c, true, || "x".into()).unwrap().assigned);
        c.clean_start = false;
        assert_eq!(
            decide_client_id(&c, true, || "x".into()),
            Err(ReasonCode::ClientIdentifierNotValid)
        );
        c.protocol_version = ProtocolVersion::V5;
        assert!(decide_client_id(&c, true, || "x".into()).is_ok());
        assert!(decide_client_id(&c, false, || "x".into()).is_err());
    }

    #[test]
    fn disconnect_0x04_publishes_the_will_and_normal_does_not() {
        let now = Instant::now();
        let mut s = session(ProtocolVersion::V5, 0, now);
        let out = run(
            &mut s,
            Packet::Disconnect(Disconnect::new(ReasonCode::DisconnectWithWillMessage)),
            now,
        );
        assert!(matches!(&out[0], Action::Close(r) if r.publishes_will()));
        let out = run(
            &mut s,
            Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
            now,
        );
        assert!(matches!(&out[0], Action::Close(r) if !r.publishes_will()));
        let out = run(
            &mut s,
            Packet::Auth(crate::protocol::Auth {
                reason_code: ReasonCode::ReAuthenticate,
                properties: Properties::new(),
            }),
            now,
        );
        assert!(
            matches!(&out[0], Action::Send(Packet::Disconnect(d)) if d.reason_code == ReasonCode::BadAuthenticationMethod)
        );
    }
    #[test]
    fn state_is_allocated_by_the_first_subscription_only() {
        let now = Instant::now();
        let mut s = session(ProtocolVersion::V311, 60, now);
        // Nothing to keep yet: reads see an empty state, nothing is allocated.
        assert!(s.state.existing_mut().is_none());
        assert_eq!(s.state.inflight(), 0);
        let filter = TopicFilter::new("a/#").unwrap();
        let unsubscribe = Packet::Unsubscribe(Unsubscribe {
            packet_id: 1,
            filters: vec![filter.clone()],
            properties: Properties::new(),
        });
        run(&mut s, unsubscribe, now);
        assert!(
            s.state.existing_mut().is_none(),
            "a removal allocates nothing"
        );
        let subscribe = Packet::Subscribe(Subscribe {
            packet_id: 2,
            subscriptions: vec![Subscription {
                filter,
                options: SubscriptionOptions::default(),
            }],
            properties: Properties::new(),
        });
        run(&mut s, subscribe, now);
        assert_eq!(s.state.subscriptions.len(), 1);
        assert!(s.state.existing_mut().is_some());
        let kept = s.state.into_inner().map(|state| state.subscriptions.len());
        assert_eq!(kept, Some(1));
    }
}
