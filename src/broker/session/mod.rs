//! The sans-IO `Session`: one client's protocol state (packet ids, in-flight windows both
//! ways, QoS 2 flows, topic aliases, keep-alive, will). It never touches a socket or reads
//! the clock: the connection task feeds it packets and `now`, and applies the `Action`s
//! it returns. `SessionState` is the part that outlives a connection of a persistent
//! session; the router keeps it while the client is offline.

mod outbound;

use super::auth::{Access, Authenticator};
use super::config::BrokerConfig;
use super::queue::{Delivery, Message, SessionId};
use crate::protocol::properties::id as property_id;
use crate::protocol::{
    encoded_len, ConnAck, Connect, Disconnect, Packet, Properties, Property, ProtocolVersion,
    Publish, PublishResponse, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    SubscriptionOptions, TopicFilter, TopicName, UnsubAck, Unsubscribe, Will,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
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

/// Why a connection ended; decides whether the will is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// DISCONNECT from the client; `with_will` for MQTT 5 reason 0x04.
    ClientDisconnect {
        with_will: bool,
    },
    /// The client broke the protocol; the reason is what an MQTT 5 client was told.
    ProtocolError(ReasonCode),
    KeepAliveTimeout,
    /// The socket closed or failed without a DISCONNECT.
    ConnectionLost,
    /// Another connection took the session over.
    TakenOver,
    /// The broker is stopping.
    ServerShutdown,
}

impl CloseReason {
    /// Whether the will is published ([MQTT-3.1.2-8], [MQTT 5.0 §3.14.2.1] 0x04).
    pub fn publishes_will(&self) -> bool {
        !matches!(self, CloseReason::ClientDisconnect { with_will: false })
    }
}

/// The subscription a session holds, as granted.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRecord {
    pub options: SubscriptionOptions,
    pub identifier: Option<u32>,
}

#[derive(Debug)]
enum Stage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    Ack,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    Rec,
    /// PUBREL sent, waiting for PUBCOMP.
    Comp,
}

#[derive(Debug)]
struct Outbound {
    /// Send order, for resending in order after a reconnect.
    seq: u64,
    stage: Stage,
    delivery: Option<Delivery>,
}

/// The state a persistent session keeps between connections ([MQTT 5.0 §4.1]).
#[derive(Debug, Default)]
pub struct SessionState {
    next_packet_id: u16,
    next_seq: u64,
    outbound: BTreeMap<u16, Outbound>,
    /// QoS 2 packet ids received (PUBREC due or sent) and not yet released by PUBREL.
    inbound_qos2: BTreeSet<u16>,
    /// A B-tree, not a hash map: 24 bytes against 48 in every session, and a session
    /// holds few subscriptions.
    pub subscriptions: BTreeMap<TopicFilter, SubscriptionRecord>,
}

impl SessionState {
    pub fn new() -> SessionState {
        SessionState::default()
    }

    /// QoS 1/2 messages sent and not fully acknowledged.
    pub fn inflight(&self) -> usize {
        self.outbound.len()
    }

    fn allocate_packet_id(&mut self) -> Option<u16> {
        for _ in 0..=u16::MAX {
            self.next_packet_id = self.next_packet_id.wrapping_add(1);
            if self.next_packet_id == 0 {
                self.next_packet_id = 1;
            }
            if !self.outbound.contains_key(&self.next_packet_id) {
                return Some(self.next_packet_id);
            }
        }
        None
    }
}

/// The broker limits a session applies, taken from the configuration once.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    pub max_topic_alias: u16,
    /// Our Receive Maximum (MQTT 5 inbound window) and the 3.x outbound window.
    pub max_inflight: u16,
    pub max_packet_size: u32,
    pub message_size_limit: u32,
    pub retain_available: bool,
    pub max_keepalive: u16,
    /// Subscriptions a session may hold; 0: no limit.
    pub max_subscriptions: usize,
    /// Levels in a topic name or filter; 0: no limit.
    pub max_topic_levels: usize,
}

impl SessionLimits {
    pub fn from_config(config: &BrokerConfig) -> SessionLimits {
        SessionLimits {
            max_topic_alias: config.max_topic_alias,
            max_inflight: config.effective_max_inflight(),
            max_packet_size: config.effective_max_packet_size(),
            message_size_limit: config.message_size_limit,
            retain_available: config.retain_available,
            max_keepalive: config.max_keepalive,
            max_subscriptions: config.max_subscriptions_per_client as usize,
            max_topic_levels: config.max_topic_levels as usize,
        }
    }

    /// Whether `topic` (a name, or a filter without its `$share/{group}/`) has more levels
    /// than allowed.
    pub fn has_too_many_levels(&self, topic: &str) -> bool {
        // Counting separators stops early and allocates nothing, however long the topic.
        self.max_topic_levels != 0
            && topic
                .bytes()
                .filter(|&b| b == b'/')
                .take(self.max_topic_levels)
                .count()
                >= self.max_topic_levels
    }
}

/// What every session of a broker shares: held once, not copied into each session.
pub struct SessionContext {
    pub limits: SessionLimits,
    pub auth: Arc<dyn Authenticator>,
}

impl SessionContext {
    pub fn new(config: &BrokerConfig, auth: Arc<dyn Authenticator>) -> Arc<SessionContext> {
        Arc::new(SessionContext {
            limits: SessionLimits::from_config(config),
            auth,
        })
    }
}

/// How a CONNECT's client id is to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdDecision {
    pub client_id: String,
    /// True when the broker made the id up (MQTT 5 tells the client).
    pub assigned: bool,
}

/// Checks a CONNECT's client id against the rules ([MQTT-3.1.3-7], [MQTT-3.1.3-8]);
/// `make_id` supplies a unique id for an empty one.
pub fn decide_client_id(
    connect: &Connect,
    allow_zero_length: bool,
    make_id: impl FnOnce() -> String,
) -> Result<ClientIdDecision, ReasonCode> {
    if !connect.client_id.is_empty() {
        return Ok(ClientIdDecision {
            client_id: connect.client_id.clone(),
            assigned: false,
        });
    }
    let persistent_3x = !connect.protocol_version.is_v5() && !connect.clean_start;
    if !allow_zero_length || persistent_3x {
        return Err(ReasonCode::ClientIdentifierNotValid);
    }
    Ok(ClientIdDecision {
        client_id: make_id(),
        assigned: true,
    })
}

/// A copy of `topic` in its own allocation.
pub fn owned_topic(topic: &TopicName) -> TopicName {
    TopicName::new(bytestring::ByteString::from(topic.as_str())).unwrap_or_else(|_| topic.clone())
}

/// Keeps only the PUBLISH properties forwarded to subscribers unchanged: the Topic Alias
/// and Subscription Identifier are per connection, the Message Expiry Interval is
/// recomputed at delivery.
pub fn forwardable_properties(properties: &mut Properties) {
    if !properties.is_empty() {
        properties.0.retain(|p| {
            !matches!(
                p.identifier(),
                property_id::TOPIC_ALIAS
                    | property_id::SUBSCRIPTION_IDENTIFIER
                    | property_id::MESSAGE_EXPIRY_INTERVAL
            )
        });
    }
}

/// A CONNACK refusing a connection; 3.x encodes the reason as its return code.
pub fn refusal(reason: ReasonCode) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: reason,
        properties: Properties::new(),
    })
}

/// One client's protocol state while connected.
pub struct Session {
    pub id: SessionId,
    pub client_id: Arc<str>,
    pub username: Option<Arc<str>>,
    pub version: ProtocolVersion,
    /// Inline, not boxed: one allocation fewer per connection; it is boxed when handed
    /// back to the router.
    pub state: SessionState,
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
        state: SessionState,
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
            state,
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

    /// The CONNACK accepting this session.
    pub fn connack(&self, session_present: bool, assigned_client_id: bool) -> Packet {
        let mut properties = Properties::new();
        if self.version.is_v5() {
            if assigned_client_id {
                properties.push(Property::AssignedClientIdentifier(
                    self.client_id.to_string(),
                ));
            }
            if self.keep_alive != self.requested_keep_alive {
                properties.push(Property::ServerKeepAlive(self.keep_alive));
            }
            if self.context.limits.max_inflight < u16::MAX {
                properties.push(Property::ReceiveMaximum(self.context.limits.max_inflight));
            }
            if self.context.limits.max_packet_size < crate::protocol::MAX_PACKET_SIZE {
                properties.push(Property::MaximumPacketSize(
                    self.context.limits.max_packet_size,
                ));
            }
            if self.context.limits.max_topic_alias > 0 {
                properties.push(Property::TopicAliasMaximum(
                    self.context.limits.max_topic_alias,
                ));
            }
            if !self.context.limits.retain_available {
                properties.push(Property::RetainAvailable(0));
            }
        }
        Packet::ConnAck(ConnAck {
            session_present,
            reason_code: ReasonCode::Success,
            properties,
        })
    }

    /// Asks the authenticator whether this client may do `access` on `topic`.
    pub fn is_authorized(&self, topic: &str, access: Access) -> bool {
        self.context
            .auth
            .authorize(&self.client_id, self.username.as_deref(), topic, access)
    }

    /// When the keep-alive expires: 1.5 times the keep-alive after the last packet
    /// ([MQTT-3.1.2-24]); `None` without keep-alive.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.keep_alive == 0 {
            return None;
        }
        Some(self.last_received + Duration::from_millis(u64::from(self.keep_alive) * 1500))
    }

    /// Counts as having heard from the client at `now` (used after the broker itself
    /// paused reading).
    pub fn touch(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// Checks the keep-alive at `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.next_deadline().is_some_and(|deadline| now >= deadline) {
            self.close_with(ReasonCode::KeepAliveTimeout, "keep alive timeout", out);
            if let Some(Action::Close(reason)) = out.last_mut() {
                *reason = CloseReason::KeepAliveTimeout;
            }
        }
    }

    /// Sends an MQTT 5 DISCONNECT with `reason` (3.x: nothing) and closes.
    pub fn close_with(&self, reason: ReasonCode, text: &str, out: &mut Vec<Action>) {
        if self.version.is_v5() {
            out.push(Action::Send(self.disconnect_packet(reason, text)));
        }
        out.push(Action::Close(CloseReason::ProtocolError(reason)));
    }

    /// A DISCONNECT for this client, with a reason string if it fits its maximum size.
    pub fn disconnect_packet(&self, reason: ReasonCode, text: &str) -> Packet {
        let mut properties = Properties::new();
        // A reason string is always allowed on DISCONNECT ([MQTT-3.1.2-29]) but must fit
        // the client's Maximum Packet Size ([MQTT-3.14.2-3]).
        if !text.is_empty() && text.len() + 16 <= self.client_max_packet_size as usize {
            properties.push(Property::ReasonString(text.to_owned()));
        }
        Packet::Disconnect(Disconnect {
            reason_code: reason,
            properties,
        })
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

    fn handle_publish(&mut self, mut publish: Publish, now: Instant, out: &mut Vec<Action>) {
        let qos = publish.qos;
        let packet_id = publish.packet_id;
        // [MQTT-4.3.3-10]: a resent QoS 2 PUBLISH before PUBREL is acknowledged again and
        // not forwarded again.
        if qos == QoS::ExactlyOnce && self.state.inbound_qos2.contains(&packet_id) {
            out.push(Action::Ack {
                packet_id,
                qos,
                reason: ReasonCode::Success,
            });
            return;
        }
        if qos != QoS::AtMostOnce {
            if self.version.is_v5() && self.inbound_unacked >= self.context.limits.max_inflight {
                return self.close_with(
                    ReasonCode::ReceiveMaximumExceeded,
                    "receive maximum exceeded",
                    out,
                );
            }
            self.inbound_unacked = self.inbound_unacked.saturating_add(1);
            if qos == QoS::ExactlyOnce {
                self.state.inbound_qos2.insert(packet_id);
            }
        }
        if self.version.is_v5() {
            if let Some(alias) = publish.properties.topic_alias() {
                if alias == 0 || alias > self.context.limits.max_topic_alias {
                    return self.close_with(
                        ReasonCode::TopicAliasInvalid,
                        "topic alias out of range",
                        out,
                    );
                }
                let slot = usize::from(alias - 1);
                let aliases = self.topic_aliases.get_or_insert_with(Box::default);
                if aliases.len() <= slot {
                    aliases.resize(slot + 1, None);
                }
                if publish.topic.is_empty() {
                    match &aliases[slot] {
                        Some(topic) => publish.topic = topic.clone(),
                        None => {
                            return self.close_with(
                                ReasonCode::ProtocolError,
                                "unknown topic alias",
                                out,
                            )
                        }
                    }
                } else {
                    // An own copy: a slice would pin the read buffer it came from.
                    aliases[slot] = Some(owned_topic(&publish.topic));
                }
            }
        }
        if publish.topic.is_empty() {
            return self.close_with(ReasonCode::ProtocolError, "empty topic name", out);
        }
        if self
            .context
            .limits
            .has_too_many_levels(publish.topic.as_str())
        {
            // Mosquitto closes the connection on a topic past its level limit; MQTT 5 names
            // the reason ([MQTT 5.0 §3.3.2.1], 0x90).
            return self.close_with(ReasonCode::TopicNameInvalid, "too many topic levels", out);
        }
        if publish.retain && !self.context.limits.retain_available {
            return self.close_with(
                ReasonCode::RetainNotSupported,
                "retained messages are not supported",
                out,
            );
        }
        let refusal = if self.context.limits.message_size_limit != 0
            && publish.payload.len() > self.context.limits.message_size_limit as usize
        {
            Some(ReasonCode::QuotaExceeded)
        } else if !self.is_authorized(publish.topic.as_str(), Access::Write) {
            Some(ReasonCode::NotAuthorized)
        } else {
            None
        };
        if let Some(reason) = refusal {
            if qos != QoS::AtMostOnce {
                let reason = if self.version.is_v5() {
                    reason
                } else {
                    ReasonCode::Success
                };
                out.push(Action::Ack {
                    packet_id,
                    qos,
                    reason,
                });
            }
            return;
        }
        let expires_at = publish
            .properties
            .message_expiry_interval()
            .map(|seconds| now + Duration::from_secs(u64::from(seconds)));
        let mut properties = std::mem::take(&mut publish.properties);
        forwardable_properties(&mut properties);
        let message = Message {
            topic: publish.topic,
            payload: publish.payload,
            qos,
            retain: publish.retain,
            properties,
            expires_at,
            publisher: Some(self.id),
        };
        let ack = (qos != QoS::AtMostOnce).then_some((packet_id, qos));
        out.push(Action::Route { message, ack });
    }

    /// The PUBACK/PUBREC for an inbound QoS 1/2 PUBLISH, when it is due.
    pub fn acknowledgement(&mut self, packet_id: u16, qos: QoS, reason: ReasonCode) -> Packet {
        let reason = if self.version.is_v5() {
            reason
        } else {
            ReasonCode::Success
        };
        let mut properties = Properties::new();
        if reason.is_failure() && self.request_problem_information {
            // [MQTT-3.1.2-29]: reason strings only when the client did not opt out.
            let text = match reason {
                ReasonCode::QuotaExceeded => "quota exceeded",
                ReasonCode::NotAuthorized => "not authorized",
                ReasonCode::TopicNameInvalid => "invalid topic name",
                _ => "",
            };
            if !text.is_empty() {
                properties.push(Property::ReasonString(text.to_owned()));
            }
        }
        let response = PublishResponse {
            packet_id,
            reason_code: reason,
            properties,
        };
        match qos {
            QoS::ExactlyOnce => {
                if reason.is_failure() {
                    // A failed PUBREC ends the exchange ([MQTT 5.0 §4.3.3]).
                    if self.state.inbound_qos2.remove(&packet_id) {
                        self.inbound_unacked = self.inbound_unacked.saturating_sub(1);
                    }
                }
                Packet::PubRec(response)
            }
            _ => {
                self.inbound_unacked = self.inbound_unacked.saturating_sub(1);
                Packet::PubAck(response)
            }
        }
    }

    fn handle_pubrel(&mut self, response: PublishResponse, out: &mut Vec<Action>) {
        let mut complete = PublishResponse::new(response.packet_id);
        if self.state.inbound_qos2.remove(&response.packet_id) {
            self.inbound_unacked = self.inbound_unacked.saturating_sub(1);
        } else if self.version.is_v5() {
            complete.reason_code = ReasonCode::PacketIdentifierNotFound;
        }
        out.push(Action::Send(Packet::PubComp(complete)));
    }

    /// Handles a SUBSCRIBE whose filters the broker's hooks were asked about first:
    /// `refused[i]` refuses the i-th filter as the files would (missing entries allow).
    pub fn handle_subscribe_checked(
        &mut self,
        subscribe: Subscribe,
        refused: &[bool],
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.last_received = now;
        self.handle_subscribe(subscribe, refused, out);
    }

    fn handle_subscribe(&mut self, subscribe: Subscribe, refused: &[bool], out: &mut Vec<Action>) {
        let identifier = subscribe.properties.subscription_identifiers().next();
        let mut reason_codes = Vec::with_capacity(subscribe.subscriptions.len());
        let mut routed = Vec::with_capacity(subscribe.subscriptions.len());
        for (index, subscription) in subscribe.subscriptions.into_iter().enumerate() {
            let shared = subscription.filter.shared().is_some();
            if shared && subscription.options.no_local && self.version.is_v5() {
                // [MQTT-3.8.3-4]
                return self.close_with(
                    ReasonCode::ProtocolError,
                    "no local on a shared subscription",
                    out,
                );
            }
            let refusal = if self
                .context
                .limits
                .has_too_many_levels(subscription.filter.match_filter())
            {
                Some(ReasonCode::TopicFilterInvalid)
            } else if !self.is_authorized(subscription.filter.as_str(), Access::Subscribe)
                || refused.get(index).copied().unwrap_or(false)
            {
                Some(ReasonCode::NotAuthorized)
            } else if self.context.limits.max_subscriptions != 0
                && self.state.subscriptions.len() >= self.context.limits.max_subscriptions
                && !self.state.subscriptions.contains_key(&subscription.filter)
            {
                Some(ReasonCode::QuotaExceeded)
            } else {
                None
            };
            if let Some(reason) = refusal {
                reason_codes.push(if self.version.is_v5() {
                    reason
                } else {
                    ReasonCode::UnspecifiedError
                });
                continue;
            }
            let options = subscription.options;
            let record = SubscriptionRecord {
                options,
                identifier,
            };
            let is_new = self
                .state
                .subscriptions
                .insert(subscription.filter.clone(), record)
                .is_none();
            let send_retained = !shared
                && match options.retain_handling {
                    RetainHandling::SendOnSubscribe => true,
                    RetainHandling::SendIfNewSubscription => is_new,
                    RetainHandling::DoNotSend => false,
                };
            reason_codes.push(match options.qos {
                QoS::AtMostOnce => ReasonCode::GRANTED_QOS0,
                QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
            });
            routed.push(RouteSubscription {
                filter: subscription.filter,
                options,
                identifier,
                send_retained,
            });
        }
        // The router gets the subscriptions before the SUBACK is written, so a message
        // published after the client saw its SUBACK is matched.
        if !routed.is_empty() {
            out.push(Action::Subscribe(routed));
        }
        out.push(Action::Send(Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            reason_codes,
            properties: Properties::new(),
        })));
    }

    fn handle_unsubscribe(&mut self, unsubscribe: Unsubscribe, out: &mut Vec<Action>) {
        let mut reason_codes = Vec::new();
        for filter in &unsubscribe.filters {
            let existed = self.state.subscriptions.remove(filter).is_some();
            if self.version.is_v5() {
                reason_codes.push(if existed {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                });
            }
        }
        out.push(Action::Unsubscribe(unsubscribe.filters));
        out.push(Action::Send(Packet::UnsubAck(UnsubAck {
            packet_id: unsubscribe.packet_id,
            reason_codes,
            properties: Properties::new(),
        })));
    }

    fn handle_disconnect(&mut self, disconnect: Disconnect, out: &mut Vec<Action>) {
        if let Some(expiry) = disconnect.properties.session_expiry_interval() {
            // [MQTT-3.14.2-2]: a session that expired at disconnect cannot be revived here.
            if self.session_expiry == 0 && expiry != 0 {
                return self.close_with(
                    ReasonCode::ProtocolError,
                    "session expiry set on DISCONNECT after 0 in CONNECT",
                    out,
                );
            }
            self.session_expiry = expiry;
        }
        let with_will = disconnect.reason_code == ReasonCode::DisconnectWithWillMessage;
        out.push(Action::Close(CloseReason::ClientDisconnect { with_will }));
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
    use crate::broker::queue::tests::delivery;
    use crate::protocol::Subscription;

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
            SessionState::default(),
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
}
