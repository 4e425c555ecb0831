//! MQTT 5 properties ([MQTT 5.0 §2.2.2]): the identifiers, their wire types, which
//! packets may carry each, and the ordered list a packet holds.
//!
//! Properties are kept as an ordered `Vec<Property>`: empty (and allocation-free) for
//! MQTT 3.x, forwarded unchanged by the broker, and re-encoded in the order received.

use bytes::Bytes;

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
