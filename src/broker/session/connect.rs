//! Accepting or refusing a CONNECT: the client id rules, the CONNACK that accepts a
//! session (with the MQTT 5 properties announcing this broker's limits) and the one that
//! refuses it. The connection task asks these before and after it builds the `Session`.

use super::Session;
use crate::protocol::{ConnAck, Connect, Packet, Properties, Property, ReasonCode};

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

/// A CONNACK refusing a connection; 3.x encodes the reason as its return code.
pub fn refusal(reason: ReasonCode) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        reason_code: reason,
        properties: Properties::new(),
    })
}

impl Session {
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
}
