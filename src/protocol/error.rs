//! Codec errors. Each carries the MQTT 5 reason code a peer should receive
//! (`reason_code()`); for 3.x the connection is simply closed.

use super::properties::id;
use super::reason_code::ReasonCode;
use super::topic::TopicError;

/// Why bytes from a peer are not a valid packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("packet of {size} bytes exceeds the maximum packet size {max}")]
    PacketTooLarge { size: usize, max: u32 },
    #[error("malformed remaining length (more than 4 bytes)")]
    MalformedRemainingLength,
    #[error("reserved packet type 0")]
    ReservedPacketType,
    #[error("invalid fixed header flags {flags:#06b} for {packet}")]
    InvalidFlags { packet: &'static str, flags: u8 },
    #[error("invalid QoS 3")]
    InvalidQoS,
    #[error("{packet} needs a non-zero packet identifier")]
    ZeroPacketId { packet: &'static str },
    #[error("packet ends early: {0}")]
    Truncated(&'static str),
    #[error("{0} trailing bytes after the packet body")]
    TrailingBytes(usize),
    #[error("string is not well-formed UTF-8 or contains U+0000")]
    InvalidUtf8,
    #[error("unknown protocol name {0:?}")]
    InvalidProtocolName(String),
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolLevel(u8),
    #[error("reserved CONNECT flag bit set")]
    ReservedConnectFlag,
    #[error("invalid CONNECT flags: {0}")]
    InvalidConnectFlags(&'static str),
    #[error("invalid topic name: {0}")]
    InvalidTopicName(TopicError),
    #[error("invalid topic filter: {0}")]
    InvalidTopicFilter(TopicError),
    #[error("{0} without any topic filter")]
    EmptySubscription(&'static str),
    #[error("invalid subscription options byte {0:#04x}")]
    InvalidSubscriptionOptions(u8),
    #[error("unknown property identifier {0:#04x}")]
    UnknownProperty(u8),
    #[error("property {property:#04x} is not allowed in {packet}")]
    PropertyNotAllowed { property: u8, packet: &'static str },
    #[error("property {0:#04x} appears more than once")]
    DuplicateProperty(u8),
    #[error("invalid value for property {0:#04x}")]
    InvalidPropertyValue(u8),
    #[error("invalid reason code {code:#04x} for {packet}")]
    InvalidReasonCode { packet: &'static str, code: u8 },
    #[error("variable byte integer is not minimally encoded")]
    NonMinimalVariableInteger,
    #[error("{0} is not defined in MQTT 3.x")]
    NotInVersion(&'static str),
    #[error("reserved CONNACK flag bits set in {0:#04x}")]
    InvalidConnAckFlags(u8),
    #[error("No Local set on the shared subscription {0:?}")]
    NoLocalOnSharedSubscription(String),
}

impl DecodeError {
    /// The reason code a peer should receive in DISCONNECT (or CONNACK) for this error.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            DecodeError::UnsupportedProtocolLevel(_) | DecodeError::InvalidProtocolName(_) => {
                ReasonCode::UnsupportedProtocolVersion
            }
            DecodeError::InvalidTopicName(_) => ReasonCode::TopicNameInvalid,
            DecodeError::InvalidTopicFilter(_) => ReasonCode::TopicFilterInvalid,
            DecodeError::DuplicateProperty(_)
            | DecodeError::PropertyNotAllowed { .. }
            | DecodeError::ZeroPacketId { .. }
            | DecodeError::EmptySubscription(_)
            | DecodeError::NoLocalOnSharedSubscription(_)
            | DecodeError::NotInVersion(_) => ReasonCode::ProtocolError,
            // Most property value rules are "It is a Protocol Error to ..." (§3.1.2.11 ff.);
            // a Topic Alias of 0 has its own code ([MQTT-3.3.2-8]).
            DecodeError::InvalidPropertyValue(id::TOPIC_ALIAS) => ReasonCode::TopicAliasInvalid,
            DecodeError::InvalidPropertyValue(_) => ReasonCode::ProtocolError,
            _ => ReasonCode::MalformedPacket,
        }
    }
}

/// Why a packet cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("packet body of {0} bytes exceeds the MQTT limit of 268435455")]
    PacketTooLarge(usize),
    #[error("string or binary field of {0} bytes exceeds 65535")]
    FieldTooLong(usize),
    #[error("{0} is not defined in MQTT 3.x")]
    NotInVersion(&'static str),
    #[error("QoS {0:?} PUBLISH needs a non-zero packet identifier")]
    ZeroPacketId(super::QoS),
    #[error("variable byte integer {0} exceeds 268435455")]
    VariableIntegerTooLarge(u32),
    #[error("{0} needs a non-zero packet identifier")]
    ZeroPacketIdIn(&'static str),
    #[error("{0} needs at least one topic filter or reason code")]
    EmptySubscription(&'static str),
    #[error("PUBLISH with an empty topic needs MQTT 5 and a Topic Alias")]
    EmptyTopic,
}
