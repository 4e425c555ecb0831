//! SUBSCRIBE ([MQTT 5.0 §3.8], [MQTT 3.1.1 §3.8]) and its subscription options byte.
//!
//! 3.x uses only bits 0-1 of the options byte (the maximum QoS); MQTT 5 adds No Local,
//! Retain As Published and Retain Handling, and keeps bits 6-7 reserved.

use super::read_packet_id;
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::wire;
use crate::protocol::{
    PacketType, Properties, ProtocolVersion, QoS, RetainHandling, Subscribe, Subscription,
    SubscriptionOptions, TopicFilter,
};
use bytes::{BufMut, Bytes, BytesMut};

const NO_LOCAL: u8 = 0x04;
const RETAIN_AS_PUBLISHED: u8 = 0x08;

pub(crate) fn decode(mut body: Bytes, version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let packet_id = read_packet_id(&mut body, PacketType::Subscribe)?;
    let properties = if version.is_v5() {
        decode_properties(&mut body, PropertyContext::Packet(PacketType::Subscribe))?
    } else {
        Properties::new()
    };
    let mut subscriptions = Vec::new();
    while !body.is_empty() {
        let filter = wire::read_byte_string(&mut body, "topic filter")?;
        let filter = TopicFilter::new(filter).map_err(DecodeError::InvalidTopicFilter)?;
        let options = decode_options(wire::read_u8(&mut body, "subscription options")?, version)?;
        if options.no_local && filter.shared().is_some() {
            // [MQTT-3.8.3-4]
            return Err(DecodeError::NoLocalOnSharedSubscription(
                filter.as_str().to_owned(),
            ));
        }
        subscriptions.push(Subscription { filter, options });
    }
    if subscriptions.is_empty() {
        // [MQTT-3.8.3-3]
        return Err(DecodeError::EmptySubscription("SUBSCRIBE"));
    }
    Ok(Subscribe {
        packet_id,
        subscriptions,
        properties,
    })
}

fn decode_options(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    let invalid = DecodeError::InvalidSubscriptionOptions(byte);
    // [MQTT-3.8.3-4] (3.1.1: bits 2-7 reserved), [MQTT-3.8.3-5] (5.0: bits 6-7 reserved)
    let reserved = if version.is_v5() { 0xC0 } else { 0xFC };
    if byte & reserved != 0 {
        return Err(invalid);
    }
    let qos = QoS::from_u8(byte & 0b11).ok_or(invalid.clone())?;
    let retain_handling = match (byte >> 4) & 0b11 {
        0 => RetainHandling::SendOnSubscribe,
        1 => RetainHandling::SendIfNewSubscription,
        2 => RetainHandling::DoNotSend,
        _ => return Err(invalid),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & NO_LOCAL != 0,
        retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
        retain_handling,
    })
}

fn encode_options(options: &SubscriptionOptions, version: ProtocolVersion) -> u8 {
    let mut byte = options.qos.as_u8();
    if version.is_v5() {
        if options.no_local {
            byte |= NO_LOCAL;
        }
        if options.retain_as_published {
            byte |= RETAIN_AS_PUBLISHED;
        }
        byte |= (options.retain_handling as u8) << 4;
    }
    byte
}

pub(crate) fn body_len(
    subscribe: &Subscribe,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if subscribe.packet_id == 0 {
        return Err(EncodeError::ZeroPacketIdIn("SUBSCRIBE"));
    }
    if subscribe.subscriptions.is_empty() {
        return Err(EncodeError::EmptySubscription("SUBSCRIBE"));
    }
    let mut len = 2;
    if version.is_v5() {
        len += properties_wire_len(&subscribe.properties)?;
    }
    for subscription in &subscribe.subscriptions {
        len += wire::field_len(subscription.filter.as_str().len())? + 1;
    }
    Ok(len)
}

pub(crate) fn write(subscribe: &Subscribe, version: ProtocolVersion, out: &mut BytesMut) {
    out.put_u16(subscribe.packet_id);
    if version.is_v5() {
        write_properties(
            &subscribe.properties,
            properties_len(&subscribe.properties),
            out,
        );
    }
    for subscription in &subscribe.subscriptions {
        wire::write_binary(subscription.filter.as_str().as_bytes(), out);
        out.put_u8(encode_options(&subscription.options, version));
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{
        DecodeError, Packet, Properties, Property, QoS, ReasonCode, RetainHandling, Subscribe,
        Subscription, SubscriptionOptions, TopicFilter,
    };

    fn subscription(filter: &str, qos: QoS) -> Subscription {
        Subscription {
            filter: TopicFilter::new(filter).unwrap(),
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        }
    }

    #[test]
    fn v3_subscribe_round_trips() {
        // packet id 1; "a/b" QoS 1, "#" QoS 2
        let wire = [
            0x82, 0x0C, 0x00, 0x01, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x01, b'#', 0x02,
        ];
        let packet = Packet::Subscribe(Subscribe {
            packet_id: 1,
            subscriptions: vec![
                subscription("a/b", QoS::AtLeastOnce),
                subscription("#", QoS::ExactlyOnce),
            ],
            properties: Properties::new(),
        });
        round_trip(&wire, V31, &packet);
        round_trip(&wire, V311, &packet);
    }

    #[test]
    fn v5_subscribe_with_all_options_round_trips() {
        // Subscription Identifier 5; "t" with options 0x2E: retain handling 2,
        // retain as published, no local, QoS 2
        let wire = [
            0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x05, 0x00, 0x01, b't', 0x2E,
        ];
        let packet = Packet::Subscribe(Subscribe {
            packet_id: 1,
            subscriptions: vec![Subscription {
                filter: TopicFilter::new("t").unwrap(),
                options: SubscriptionOptions {
                    qos: QoS::ExactlyOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            }],
            properties: Properties(vec![Property::SubscriptionIdentifier(5)]),
        });
        round_trip(&wire, V5, &packet);
        // 3.x has only the QoS bits.
        assert_eq!(
            encode_to_vec(&packet, V311),
            [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x02]
        );
    }

    #[test]
    fn subscribe_needs_flags_0010() {
        let wire = [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x00];
        assert!(matches!(
            decode_err(&wire, V311),
            DecodeError::InvalidFlags { .. }
        ));
    }

    #[test]
    fn empty_subscribe_is_refused() {
        assert_eq!(
            decode_err(&[0x82, 0x02, 0x00, 0x01], V311),
            DecodeError::EmptySubscription("SUBSCRIBE")
        );
        assert_eq!(
            decode_err(&[0x82, 0x03, 0x00, 0x01, 0x00], V5),
            DecodeError::EmptySubscription("SUBSCRIBE")
        );
    }

    #[test]
    fn v3_options_allow_only_the_qos_bits() {
        for options in [0x03, 0x04, 0x08, 0x10, 0x80] {
            let wire = [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b't', options];
            assert_eq!(
                decode_err(&wire, V311),
                DecodeError::InvalidSubscriptionOptions(options)
            );
        }
    }

    #[test]
    fn v5_options_refuse_reserved_bits_retain_handling_3_and_qos_3() {
        for options in [0x40, 0x80, 0x30, 0x03] {
            let wire = [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', options];
            assert_eq!(
                decode_err(&wire, V5),
                DecodeError::InvalidSubscriptionOptions(options)
            );
        }
    }

    #[test]
    fn invalid_filters_and_missing_options_are_refused() {
        let wire = [0x82, 0x08, 0x00, 0x01, 0x00, 0x03, b'a', b'#', b'b', 0x00];
        assert!(matches!(
            decode_err(&wire, V311),
            DecodeError::InvalidTopicFilter(_)
        ));
        let wire = [0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b't'];
        assert!(matches!(decode_err(&wire, V311), DecodeError::Truncated(_)));
    }

    #[test]
    fn no_local_on_a_shared_subscription_is_refused() {
        let wire = [
            0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/',
            b'g', b'/', b't', 0x04,
        ];
        let error = decode_err(&wire, V5);
        assert!(matches!(error, DecodeError::NoLocalOnSharedSubscription(_)));
        assert_eq!(error.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn packet_id_zero_is_refused() {
        let wire = [0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b't', 0x00];
        assert!(matches!(
            decode_err(&wire, V311),
            DecodeError::ZeroPacketId { .. }
        ));
    }

    #[test]
    fn subscription_identifier_may_appear_once_and_not_be_zero() {
        let twice = [
            0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b't', 0x00,
        ];
        assert_eq!(decode_err(&twice, V5), DecodeError::DuplicateProperty(0x0B));
        let zero = [
            0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b't', 0x00,
        ];
        assert_eq!(
            decode_err(&zero, V5),
            DecodeError::InvalidPropertyValue(0x0B)
        );
    }
}
