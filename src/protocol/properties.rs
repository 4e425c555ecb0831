//! MQTT 5 properties ([MQTT 5.0 §2.2.2]): the identifiers, their wire types, which
//! packets may carry each, and the ordered list a packet holds.
//!
//! Properties are kept as an ordered `Vec<Property>`: empty (and allocation-free) for
//! MQTT 3.x, forwarded unchanged by the broker, and re-encoded in the order received.
//! The packet decoders call `decode_properties` with the packet (or will) they read, which
//! decides the properties allowed ([MQTT 5.0 §2.2.2.2], table 2-4).

use super::error::{DecodeError, EncodeError};
use super::wire;
use super::PacketType;
use bytes::{BufMut, Bytes, BytesMut};

/// One MQTT 5 property. User properties and subscription identifiers may repeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Property {
    PayloadFormatIndicator(u8),
    MessageExpiryInterval(u32),
    ContentType(String),
    ResponseTopic(String),
    CorrelationData(Bytes),
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(String),
    ServerKeepAlive(u16),
    AuthenticationMethod(String),
    AuthenticationData(Bytes),
    RequestProblemInformation(u8),
    WillDelayInterval(u32),
    RequestResponseInformation(u8),
    ResponseInformation(String),
    ServerReference(String),
    ReasonString(String),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQoS(u8),
    RetainAvailable(u8),
    UserProperty(String, String),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(u8),
    SubscriptionIdentifierAvailable(u8),
    SharedSubscriptionAvailable(u8),
}

/// The identifier byte of each property ([MQTT 5.0 §2.2.2.2], table 2-4).
pub mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// The ordered properties of one packet (or of a will). Empty for MQTT 3.x.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties(pub Vec<Property>);

macro_rules! single_getters {
    ($($name:ident: $variant:ident -> $ty:ty;)*) => {
        impl Properties {
            $(
                #[doc = concat!("The `", stringify!($variant), "` property, if present.")]
                pub fn $name(&self) -> Option<$ty> {
                    self.0.iter().find_map(|p| match p {
                        Property::$variant(v) => Some(v.clone()),
                        _ => None,
                    })
                }
            )*
        }
    };
}

single_getters! {
    payload_format_indicator: PayloadFormatIndicator -> u8;
    message_expiry_interval: MessageExpiryInterval -> u32;
    content_type: ContentType -> String;
    response_topic: ResponseTopic -> String;
    correlation_data: CorrelationData -> Bytes;
    session_expiry_interval: SessionExpiryInterval -> u32;
    assigned_client_identifier: AssignedClientIdentifier -> String;
    server_keep_alive: ServerKeepAlive -> u16;
    authentication_method: AuthenticationMethod -> String;
    authentication_data: AuthenticationData -> Bytes;
    request_problem_information: RequestProblemInformation -> u8;
    will_delay_interval: WillDelayInterval -> u32;
    request_response_information: RequestResponseInformation -> u8;
    response_information: ResponseInformation -> String;
    server_reference: ServerReference -> String;
    reason_string: ReasonString -> String;
    receive_maximum: ReceiveMaximum -> u16;
    topic_alias_maximum: TopicAliasMaximum -> u16;
    topic_alias: TopicAlias -> u16;
    maximum_qos: MaximumQoS -> u8;
    retain_available: RetainAvailable -> u8;
    maximum_packet_size: MaximumPacketSize -> u32;
    wildcard_subscription_available: WildcardSubscriptionAvailable -> u8;
    subscription_identifier_available: SubscriptionIdentifierAvailable -> u8;
    shared_subscription_available: SharedSubscriptionAvailable -> u8;
}

impl Properties {
    pub fn new() -> Self {
        Properties(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, property: Property) {
        self.0.push(property);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Property> {
        self.0.iter()
    }

    /// Every user property, in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// Every subscription identifier, in order.
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
    }

    /// Removes every property with this identifier byte.
    pub fn remove(&mut self, identifier: u8) {
        self.0.retain(|p| p.identifier() != identifier);
    }

    /// Replaces the properties with this identifier by `property` (or appends it).
    pub fn set(&mut self, property: Property) {
        self.remove(property.identifier());
        self.0.push(property);
    }
}

impl Property {
    /// The identifier byte on the wire.
    pub fn identifier(&self) -> u8 {
        use Property::*;
        match self {
            PayloadFormatIndicator(_) => id::PAYLOAD_FORMAT_INDICATOR,
            MessageExpiryInterval(_) => id::MESSAGE_EXPIRY_INTERVAL,
            ContentType(_) => id::CONTENT_TYPE,
            ResponseTopic(_) => id::RESPONSE_TOPIC,
            CorrelationData(_) => id::CORRELATION_DATA,
            SubscriptionIdentifier(_) => id::SUBSCRIPTION_IDENTIFIER,
            SessionExpiryInterval(_) => id::SESSION_EXPIRY_INTERVAL,
            AssignedClientIdentifier(_) => id::ASSIGNED_CLIENT_IDENTIFIER,
            ServerKeepAlive(_) => id::SERVER_KEEP_ALIVE,
            AuthenticationMethod(_) => id::AUTHENTICATION_METHOD,
            AuthenticationData(_) => id::AUTHENTICATION_DATA,
            RequestProblemInformation(_) => id::REQUEST_PROBLEM_INFORMATION,
            WillDelayInterval(_) => id::WILL_DELAY_INTERVAL,
            RequestResponseInformation(_) => id::REQUEST_RESPONSE_INFORMATION,
            ResponseInformation(_) => id::RESPONSE_INFORMATION,
            ServerReference(_) => id::SERVER_REFERENCE,
            ReasonString(_) => id::REASON_STRING,
            ReceiveMaximum(_) => id::RECEIVE_MAXIMUM,
            TopicAliasMaximum(_) => id::TOPIC_ALIAS_MAXIMUM,
            TopicAlias(_) => id::TOPIC_ALIAS,
            MaximumQoS(_) => id::MAXIMUM_QOS,
            RetainAvailable(_) => id::RETAIN_AVAILABLE,
            UserProperty(_, _) => id::USER_PROPERTY,
            MaximumPacketSize(_) => id::MAXIMUM_PACKET_SIZE,
            WildcardSubscriptionAvailable(_) => id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            SubscriptionIdentifierAvailable(_) => id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            SharedSubscriptionAvailable(_) => id::SHARED_SUBSCRIPTION_AVAILABLE,
        }
    }
}

/// Where a property list sits: in a packet's variable header or in a CONNECT's will.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyContext {
    Packet(PacketType),
    Will,
}

impl PropertyContext {
    /// Bit of this context in the `allowed_in` masks: the packet type number, 0 for a will.
    fn bit(self) -> u16 {
        match self {
            PropertyContext::Packet(packet_type) => 1 << (packet_type as u16),
            PropertyContext::Will => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            PropertyContext::Packet(packet_type) => packet_type.name(),
            PropertyContext::Will => "will properties",
        }
    }
}

/// Which contexts may carry the property `identifier` (table 2-4); 0 for unknown ones.
fn allowed_in(identifier: u8) -> u16 {
    const WILL: u16 = 1;
    const CONNECT: u16 = 1 << 1;
    const CONNACK: u16 = 1 << 2;
    const PUBLISH: u16 = 1 << 3;
    const ACKS: u16 = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7);
    const SUBSCRIBE: u16 = 1 << 8;
    const SUBACK: u16 = 1 << 9;
    const UNSUBSCRIBE: u16 = 1 << 10;
    const UNSUBACK: u16 = 1 << 11;
    const DISCONNECT: u16 = 1 << 14;
    const AUTH: u16 = 1 << 15;
    match identifier {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::MESSAGE_EXPIRY_INTERVAL
        | id::CONTENT_TYPE
        | id::RESPONSE_TOPIC
        | id::CORRELATION_DATA => PUBLISH | WILL,
        id::SUBSCRIPTION_IDENTIFIER => PUBLISH | SUBSCRIBE,
        id::SESSION_EXPIRY_INTERVAL => CONNECT | CONNACK | DISCONNECT,
        id::ASSIGNED_CLIENT_IDENTIFIER
        | id::SERVER_KEEP_ALIVE
        | id::RESPONSE_INFORMATION
        | id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => CONNACK,
        id::AUTHENTICATION_METHOD | id::AUTHENTICATION_DATA => CONNECT | CONNACK | AUTH,
        id::REQUEST_PROBLEM_INFORMATION | id::REQUEST_RESPONSE_INFORMATION => CONNECT,
        id::WILL_DELAY_INTERVAL => WILL,
        id::SERVER_REFERENCE => CONNACK | DISCONNECT,
        id::REASON_STRING => CONNACK | ACKS | SUBACK | UNSUBACK | DISCONNECT | AUTH,
        id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM | id::MAXIMUM_PACKET_SIZE => {
            CONNECT | CONNACK
        }
        id::TOPIC_ALIAS => PUBLISH,
        id::USER_PROPERTY => {
            WILL | CONNECT
                | CONNACK
                | PUBLISH
                | ACKS
                | SUBSCRIBE
                | SUBACK
                | UNSUBSCRIBE
                | UNSUBACK
                | DISCONNECT
                | AUTH
        }
        _ => 0,
    }
}

/// Reads the variable byte integer length prefix and the properties after it, checking
/// that each is allowed in `context`, appears at most once (only User Property, and
/// Subscription Identifier in PUBLISH, may repeat) and has a value the specification allows.
pub fn decode_properties(
    buf: &mut Bytes,
    context: PropertyContext,
) -> Result<Properties, DecodeError> {
    let len = wire::read_variable_integer(buf, "property length")? as usize;
    if len == 0 {
        return Ok(Properties::new());
    }
    if buf.len() < len {
        return Err(DecodeError::Truncated("properties"));
    }
    let mut body = buf.split_to(len);
    let mut seen: u64 = 0;
    let mut properties = Vec::new();
    while !body.is_empty() {
        let identifier = wire::read_u8(&mut body, "property identifier")?;
        let allowed = allowed_in(identifier);
        if allowed == 0 {
            return Err(DecodeError::UnknownProperty(identifier));
        }
        if allowed & context.bit() == 0 {
            return Err(DecodeError::PropertyNotAllowed {
                property: identifier,
                packet: context.name(),
            });
        }
        // Every known identifier is below 64.
        let bit = 1u64 << identifier;
        let may_repeat = identifier == id::USER_PROPERTY
            || (identifier == id::SUBSCRIPTION_IDENTIFIER
                && context == PropertyContext::Packet(PacketType::Publish));
        if seen & bit != 0 && !may_repeat {
            return Err(DecodeError::DuplicateProperty(identifier));
        }
        seen |= bit;
        properties.push(read_property_value(identifier, &mut body)?);
    }
    Ok(Properties(properties))
}

fn read_property_value(identifier: u8, buf: &mut Bytes) -> Result<Property, DecodeError> {
    use Property::*;
    const WHAT: &str = "property value";
    let invalid = || DecodeError::InvalidPropertyValue(identifier);
    let boolean = |buf: &mut Bytes| match wire::read_u8(buf, WHAT)? {
        value @ (0 | 1) => Ok(value),
        _ => Err(invalid()),
    };
    let non_zero_u16 = |buf: &mut Bytes| match wire::read_u16(buf, WHAT)? {
        0 => Err(invalid()),
        value => Ok(value),
    };
    Ok(match identifier {
        id::PAYLOAD_FORMAT_INDICATOR => PayloadFormatIndicator(boolean(buf)?),
        id::MESSAGE_EXPIRY_INTERVAL => MessageExpiryInterval(wire::read_u32(buf, WHAT)?),
        id::CONTENT_TYPE => ContentType(wire::read_string(buf, WHAT)?),
        id::RESPONSE_TOPIC => ResponseTopic(wire::read_string(buf, WHAT)?),
        id::CORRELATION_DATA => CorrelationData(wire::read_binary(buf, WHAT)?),
        id::SUBSCRIPTION_IDENTIFIER => match wire::read_variable_integer(buf, WHAT)? {
            0 => return Err(invalid()),
            value => SubscriptionIdentifier(value),
        },
        id::SESSION_EXPIRY_INTERVAL => SessionExpiryInterval(wire::read_u32(buf, WHAT)?),
        id::ASSIGNED_CLIENT_IDENTIFIER => AssignedClientIdentifier(wire::read_string(buf, WHAT)?),
        id::SERVER_KEEP_ALIVE => ServerKeepAlive(wire::read_u16(buf, WHAT)?),
        id::AUTHENTICATION_METHOD => AuthenticationMethod(wire::read_string(buf, WHAT)?),
        id::AUTHENTICATION_DATA => AuthenticationData(wire::read_binary(buf, WHAT)?),
        id::REQUEST_PROBLEM_INFORMATION => RequestProblemInformation(boolean(buf)?),
        id::WILL_DELAY_INTERVAL => WillDelayInterval(wire::read_u32(buf, WHAT)?),
        id::REQUEST_RESPONSE_INFORMATION => RequestResponseInformation(boolean(buf)?),
        id::RESPONSE_INFORMATION => ResponseInformation(wire::read_string(buf, WHAT)?),
        id::SERVER_REFERENCE => ServerReference(wire::read_string(buf, WHAT)?),
        id::REASON_STRING => ReasonString(wire::read_string(buf, WHAT)?),
        id::RECEIVE_MAXIMUM => ReceiveMaximum(non_zero_u16(buf)?),
        id::TOPIC_ALIAS_MAXIMUM => TopicAliasMaximum(wire::read_u16(buf, WHAT)?),
        id::TOPIC_ALIAS => TopicAlias(non_zero_u16(buf)?),
        id::MAXIMUM_QOS => MaximumQoS(boolean(buf)?),
        id::RETAIN_AVAILABLE => RetainAvailable(boolean(buf)?),
        id::USER_PROPERTY => {
            let key = wire::read_string(buf, WHAT)?;
            UserProperty(key, wire::read_string(buf, WHAT)?)
        }
        id::MAXIMUM_PACKET_SIZE => match wire::read_u32(buf, WHAT)? {
            0 => return Err(invalid()),
            value => MaximumPacketSize(value),
        },
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => WildcardSubscriptionAvailable(boolean(buf)?),
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => SubscriptionIdentifierAvailable(boolean(buf)?),
        id::SHARED_SUBSCRIPTION_AVAILABLE => SharedSubscriptionAvailable(boolean(buf)?),
        _ => return Err(DecodeError::UnknownProperty(identifier)),
    })
}

impl Property {
    /// Bytes on the wire: identifier and value.
    fn wire_len(&self) -> usize {
        use Property::*;
        1 + match self {
            PayloadFormatIndicator(_)
            | RequestProblemInformation(_)
            | RequestResponseInformation(_)
            | MaximumQoS(_)
            | RetainAvailable(_)
            | WildcardSubscriptionAvailable(_)
            | SubscriptionIdentifierAvailable(_)
            | SharedSubscriptionAvailable(_) => 1,
            ServerKeepAlive(_) | ReceiveMaximum(_) | TopicAliasMaximum(_) | TopicAlias(_) => 2,
            MessageExpiryInterval(_)
            | SessionExpiryInterval(_)
            | WillDelayInterval(_)
            | MaximumPacketSize(_) => 4,
            SubscriptionIdentifier(v) => wire::variable_integer_len(*v as usize),
            ContentType(s)
            | ResponseTopic(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => 2 + s.len(),
            CorrelationData(b) | AuthenticationData(b) => 2 + b.len(),
            UserProperty(k, v) => 4 + k.len() + v.len(),
        }
    }

    /// Checks what `write` would otherwise truncate: 16-bit field lengths and the
    /// variable byte integer range.
    fn check_encodable(&self) -> Result<(), EncodeError> {
        use Property::*;
        match self {
            SubscriptionIdentifier(v) => wire::check_variable_integer(*v as usize),
            ContentType(s)
            | ResponseTopic(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => wire::field_len(s.len()).map(drop),
            CorrelationData(b) | AuthenticationData(b) => wire::field_len(b.len()).map(drop),
            UserProperty(k, v) => {
                wire::field_len(k.len())?;
                wire::field_len(v.len()).map(drop)
            }
            _ => Ok(()),
        }
    }

    fn write(&self, out: &mut BytesMut) {
        use Property::*;
        out.put_u8(self.identifier());
        match self {
            PayloadFormatIndicator(v)
            | RequestProblemInformation(v)
            | RequestResponseInformation(v)
            | MaximumQoS(v)
            | RetainAvailable(v)
            | WildcardSubscriptionAvailable(v)
            | SubscriptionIdentifierAvailable(v)
            | SharedSubscriptionAvailable(v) => out.put_u8(*v),
            ServerKeepAlive(v) | ReceiveMaximum(v) | TopicAliasMaximum(v) | TopicAlias(v) => {
                out.put_u16(*v)
            }
            MessageExpiryInterval(v)
            | SessionExpiryInterval(v)
            | WillDelayInterval(v)
            | MaximumPacketSize(v) => out.put_u32(*v),
            SubscriptionIdentifier(v) => wire::write_variable_integer(*v as usize, out),
            ContentType(s)
            | ResponseTopic(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => wire::write_binary(s.as_bytes(), out),
            CorrelationData(b) | AuthenticationData(b) => wire::write_binary(b, out),
            UserProperty(k, v) => {
                wire::write_binary(k.as_bytes(), out);
                wire::write_binary(v.as_bytes(), out);
            }
        }
    }
}

/// Length of the properties without the variable byte integer prefix.
pub fn properties_len(props: &Properties) -> usize {
    props.0.iter().map(Property::wire_len).sum()
}

/// `properties_len` after checking that every property can be written.
pub(crate) fn checked_properties_len(props: &Properties) -> Result<usize, EncodeError> {
    let mut len = 0;
    for property in &props.0 {
        property.check_encodable()?;
        len += property.wire_len();
    }
    wire::check_variable_integer(len)?;
    Ok(len)
}

/// Bytes of a property list on the wire, prefix included (checked).
pub(crate) fn properties_wire_len(props: &Properties) -> Result<usize, EncodeError> {
    let len = checked_properties_len(props)?;
    Ok(wire::variable_integer_len(len) + len)
}

/// Writes the prefix and properties; `len` is what `checked_properties_len` returned.
pub(crate) fn write_properties(props: &Properties, len: usize, out: &mut BytesMut) {
    wire::write_variable_integer(len, out);
    for property in &props.0 {
        property.write(out);
    }
}

/// Writes the variable byte integer length prefix, then the properties in order.
pub fn encode_properties(props: &Properties, out: &mut BytesMut) -> Result<(), EncodeError> {
    let len = checked_properties_len(props)?;
    out.reserve(wire::variable_integer_len(len) + len);
    write_properties(props, len, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], context: PropertyContext) -> Result<Properties, DecodeError> {
        let mut buf = Bytes::copy_from_slice(bytes);
        let properties = decode_properties(&mut buf, context)?;
        assert!(buf.is_empty(), "bytes left after the properties");
        Ok(properties)
    }

    fn encode(properties: &Properties) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_properties(properties, &mut out).unwrap();
        out.to_vec()
    }

    const CONNACK: PropertyContext = PropertyContext::Packet(PacketType::ConnAck);
    const PUBLISH: PropertyContext = PropertyContext::Packet(PacketType::Publish);

    #[test]
    fn every_connack_property_round_trips() {
        use Property::*;
        let properties = Properties(vec![
            SessionExpiryInterval(0x0102_0304),
            ReceiveMaximum(20),
            MaximumQoS(1),
            RetainAvailable(0),
            MaximumPacketSize(1024),
            AssignedClientIdentifier("id".into()),
            TopicAliasMaximum(0),
            ReasonString("r".into()),
            UserProperty("k".into(), "v".into()),
            UserProperty("k".into(), "w".into()),
            WildcardSubscriptionAvailable(1),
            SubscriptionIdentifierAvailable(1),
            SharedSubscriptionAvailable(0),
            ServerKeepAlive(30),
            ResponseInformation("ri".into()),
            ServerReference("sr".into()),
            AuthenticationMethod("m".into()),
            AuthenticationData(Bytes::from_static(b"\x00\x01")),
        ]);
        let wire = encode(&properties);
        assert_eq!(wire.len(), 1 + properties_len(&properties));
        assert_eq!(usize::from(wire[0]), properties_len(&properties));
        assert_eq!(decode(&wire, CONNACK), Ok(properties));
    }

    #[test]
    fn every_publish_property_round_trips_with_exact_bytes() {
        use Property::*;
        let properties = Properties(vec![
            PayloadFormatIndicator(1),
            MessageExpiryInterval(60),
            ContentType("c".into()),
            ResponseTopic("r".into()),
            CorrelationData(Bytes::from_static(b"x")),
            SubscriptionIdentifier(268_435_455),
            TopicAlias(3),
        ]);
        let wire = [
            0x1B, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x3C, 0x03, 0x00, 0x01, b'c', 0x08, 0x00,
            0x01, b'r', 0x09, 0x00, 0x01, b'x', 0x0B, 0xFF, 0xFF, 0xFF, 0x7F, 0x23, 0x00, 0x03,
        ];
        assert_eq!(encode(&properties), wire);
        assert_eq!(decode(&wire, PUBLISH), Ok(properties));
    }

    #[test]
    fn will_properties_are_their_own_context() {
        let wire = [0x07, 0x18, 0x00, 0x00, 0x00, 0x0A, 0x01, 0x00];
        let properties = decode(&wire, PropertyContext::Will).unwrap();
        assert_eq!(properties.will_delay_interval(), Some(10));
        assert!(matches!(
            decode(&wire, PUBLISH),
            Err(DecodeError::PropertyNotAllowed { property: 0x18, .. })
        ));
    }

    #[test]
    fn empty_properties_do_not_allocate() {
        let properties = decode(&[0x00], PUBLISH).unwrap();
        assert_eq!(properties.0.capacity(), 0);
        assert_eq!(encode(&properties), [0x00]);
    }

    #[test]
    fn unknown_identifiers_are_refused() {
        for identifier in [0x00, 0x04, 0x2B, 0x7F, 0x80] {
            assert_eq!(
                decode(&[0x02, identifier, 0x00], PUBLISH),
                Err(DecodeError::UnknownProperty(identifier))
            );
        }
    }

    #[test]
    fn a_property_running_past_its_length_is_truncated() {
        // Length 2, but Message Expiry Interval needs 5 bytes.
        assert!(matches!(
            decode(&[0x02, 0x02, 0x00, 0x00, 0x00, 0x00], PUBLISH),
            Err(DecodeError::Truncated(_))
        ));
        // Length larger than what is left.
        assert!(matches!(
            decode(&[0x05, 0x01, 0x00], PUBLISH),
            Err(DecodeError::Truncated(_))
        ));
    }

    #[test]
    fn non_minimal_property_length_is_refused() {
        assert_eq!(
            decode(&[0x80, 0x00], PUBLISH),
            Err(DecodeError::NonMinimalVariableInteger)
        );
    }

    #[test]
    fn duplicates_are_refused_except_user_property_and_publish_subscription_identifier() {
        assert_eq!(
            decode(&[0x04, 0x01, 0x00, 0x01, 0x01], PUBLISH),
            Err(DecodeError::DuplicateProperty(0x01))
        );
        assert!(decode(&[0x04, 0x0B, 0x01, 0x0B, 0x02], PUBLISH).is_ok());
        assert_eq!(
            decode(
                &[0x04, 0x0B, 0x01, 0x0B, 0x02],
                PropertyContext::Packet(PacketType::Subscribe)
            ),
            Err(DecodeError::DuplicateProperty(0x0B))
        );
        let user = [
            0x0D, 0x26, 0x00, 0x01, b'a', 0x00, 0x00, 0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b',
        ];
        assert_eq!(decode(&user, CONNACK).map(|p| p.0.len()), Ok(2));
    }

    #[test]
    fn boolean_properties_take_only_0_or_1() {
        for identifier in [0x24, 0x25, 0x28, 0x29, 0x2A] {
            assert_eq!(
                decode(&[0x02, identifier, 0x02], CONNACK),
                Err(DecodeError::InvalidPropertyValue(identifier))
            );
        }
        for identifier in [0x17, 0x19] {
            assert_eq!(
                decode(
                    &[0x02, identifier, 0x02],
                    PropertyContext::Packet(PacketType::Connect)
                ),
                Err(DecodeError::InvalidPropertyValue(identifier))
            );
        }
    }

    #[test]
    fn zero_is_refused_where_the_specification_forbids_it() {
        assert_eq!(
            decode(&[0x03, 0x21, 0x00, 0x00], CONNACK),
            Err(DecodeError::InvalidPropertyValue(0x21))
        );
        assert_eq!(
            decode(&[0x05, 0x27, 0x00, 0x00, 0x00, 0x00], CONNACK),
            Err(DecodeError::InvalidPropertyValue(0x27))
        );
        assert_eq!(
            decode(&[0x03, 0x23, 0x00, 0x00], PUBLISH),
            Err(DecodeError::InvalidPropertyValue(0x23))
        );
        assert_eq!(
            decode(&[0x02, 0x0B, 0x00], PUBLISH),
            Err(DecodeError::InvalidPropertyValue(0x0B))
        );
    }

    #[test]
    fn string_properties_must_be_utf8_without_nul() {
        assert_eq!(
            decode(&[0x05, 0x03, 0x00, 0x02, b'a', 0x00], PUBLISH),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            decode(&[0x05, 0x03, 0x00, 0x02, 0xC0, 0x80], PUBLISH),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn oversized_values_are_refused_before_writing() {
        let mut out = BytesMut::new();
        let long = Properties(vec![Property::ContentType("x".repeat(70_000))]);
        assert_eq!(
            encode_properties(&long, &mut out),
            Err(EncodeError::FieldTooLong(70_000))
        );
        let id = Properties(vec![Property::SubscriptionIdentifier(268_435_456)]);
        assert!(matches!(
            encode_properties(&id, &mut out),
            Err(EncodeError::VariableIntegerTooLarge(_))
        ));
        assert!(out.is_empty());
    }
}
