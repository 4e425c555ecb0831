//! The inbound half of a session: a client's PUBLISH checked (receive window, topic alias,
//! topic levels, retain, size, authorization) and turned into a message for the router,
//! the PUBACK/PUBREC it is due, and the QoS 2 exchange up to PUBREL/PUBCOMP
//! ([MQTT 5.0 §4.3.3]).

use super::{Action, Session};
use crate::broker::auth::Access;
use crate::broker::queue::Message;
use crate::protocol::properties::id as property_id;
use crate::protocol::{
    Packet, Properties, Property, Publish, PublishResponse, QoS, ReasonCode, TopicName,
};
use std::time::Duration;
use tokio::time::Instant;

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

impl Session {
    pub(super) fn handle_publish(
        &mut self,
        mut publish: Publish,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
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
                self.state.make_mut().inbound_qos2.insert(packet_id);
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
                    let released = self.state.existing_mut();
                    if released.is_some_and(|state| state.inbound_qos2.remove(&packet_id)) {
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

    pub(super) fn handle_pubrel(&mut self, response: PublishResponse, out: &mut Vec<Action>) {
        let mut complete = PublishResponse::new(response.packet_id);
        let released = self.state.existing_mut();
        if released.is_some_and(|state| state.inbound_qos2.remove(&response.packet_id)) {
            self.inbound_unacked = self.inbound_unacked.saturating_sub(1);
        } else if self.version.is_v5() {
            complete.reason_code = ReasonCode::PacketIdentifierNotFound;
        }
        out.push(Action::Send(Packet::PubComp(complete)));
    }
}
