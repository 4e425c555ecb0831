//! PUBLISH ([MQTT 5.0 §3.3], [MQTT 3.1.1 §3.3]).
//!
//! The hot path of both sides. The topic and the payload are slices of the frame (no copy),
//! properties stay an empty `Vec` (no allocation) unless present, and encoding writes the
//! caller's buffer after one size computation.

use super::read_packet_id;
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::topic::TopicError;
use crate::protocol::wire;
use crate::protocol::{PacketType, Properties, ProtocolVersion, Publish, QoS, TopicName};
use bytes::{BufMut, Bytes, BytesMut};

const DUP: u8 = 0x08;
const RETAIN: u8 = 0x01;

pub(crate) fn decode(
    flags: u8,
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<Publish, DecodeError> {
    let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS)?; // [MQTT-3.3.1-4]
    let dup = flags & DUP != 0;
    if dup && qos == QoS::AtMostOnce {
        // [MQTT-3.3.1-2]
        return Err(DecodeError::InvalidFlags {
            packet: "PUBLISH",
            flags,
        });
    }
    let topic = wire::read_topic_name(&mut body, "topic name")?;
    let packet_id = if qos == QoS::AtMostOnce {
        0
    } else {
        read_packet_id(&mut body, PacketType::Publish)? // [MQTT-2.2.1-2]
    };
    let properties = if version.is_v5() {
        decode_properties(&mut body, PropertyContext::Packet(PacketType::Publish))?
    } else {
        Properties::new()
    };
    let topic = match topic {
        Some(topic) => topic,
        // [MQTT-3.3.2-1]; v5 names the topic by its alias alone ([MQTT 5.0 §3.3.2.3.4]).
        None if version.is_v5() && properties.topic_alias().is_some() => TopicName::empty(),
        None => return Err(DecodeError::InvalidTopicName(TopicError::Empty)),
    };
    Ok(Publish {
        dup,
        qos,
        retain: flags & RETAIN != 0,
        topic,
        packet_id,
        properties,
        payload: body,
    })
}

/// The first byte: type, DUP (only for QoS>0, [MQTT-3.3.1-2]), QoS and RETAIN.
pub(crate) fn first_byte(publish: &Publish) -> u8 {
    let mut byte = (PacketType::Publish as u8) << 4 | publish.qos.as_u8() << 1;
    if publish.dup && publish.qos != QoS::AtMostOnce {
        byte |= DUP;
    }
    if publish.retain {
        byte |= RETAIN;
    }
    byte
}

pub(crate) fn body_len(publish: &Publish, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let mut len = wire::field_len(publish.topic.as_str().len())? + publish.payload.len();
    if publish.qos != QoS::AtMostOnce {
        if publish.packet_id == 0 {
            return Err(EncodeError::ZeroPacketId(publish.qos));
        }
        len += 2;
    }
    if version.is_v5() {
        len += properties_wire_len(&publish.properties)?;
    }
    if publish.topic.is_empty() && !(version.is_v5() && publish.properties.topic_alias().is_some())
    {
        return Err(EncodeError::EmptyTopic);
    }
    Ok(len)
}

pub(crate) fn write(publish: &Publish, version: ProtocolVersion, out: &mut BytesMut) {
    wire::write_binary(publish.topic.as_str().as_bytes(), out);
    if publish.qos != QoS::AtMostOnce {
        out.put_u16(publish.packet_id);
    }
    if version.is_v5() {
        write_properties(
            &publish.properties,
            properties_len(&publish.properties),
            out,
        );
    }
    out.put_slice(&publish.payload);
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::topic::TopicError;
    use crate::protocol::{
        encode, DecodeError, EncodeError, Packet, Properties, Property, Publish, QoS, TopicName,
    };
    use bytes::BytesMut;

    fn publish(topic: &str, qos: QoS, payload: &'static [u8]) -> Publish {
        Publish::new(TopicName::new(topic).unwrap(), qos, payload)
    }

    #[test]
    fn qos1_publish_v311_round_trips() {
        // PUBLISH QoS 1 (0x32), remaining length 9, topic "a/b", packet id 10, payload "hi"
        let wire = [
            0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0a, b'h', b'i',
        ];
        let packet = publish("a/b", QoS::AtLeastOnce, b"hi")
            .with_packet_id(10)
            .into();
        round_trip(&wire, V311, &packet);
        round_trip(&wire, V31, &packet);
    }

    #[test]
    fn qos0_retained_publish_round_trips_in_every_version() {
        // 0x31: QoS 0, RETAIN; topic "t"; no packet id; payload "x"
        let v3 = [0x31, 0x04, 0x00, 0x01, b't', b'x'];
        let v5 = [0x31, 0x05, 0x00, 0x01, b't', 0x00, b'x'];
        let mut p = publish("t", QoS::AtMostOnce, b"x");
        p.retain = true;
        let packet = Packet::Publish(p);
        round_trip(&v3, V31, &packet);
        round_trip(&v3, V311, &packet);
        round_trip(&v5, V5, &packet);
    }

    #[test]
    fn qos2_dup_publish_v5_with_properties_round_trips() {
        // 0x3C: DUP, QoS 2; topic "a"; packet id 0x0102; properties (length 15):
        // Topic Alias 7, Subscription Identifier 1 and 200 (two bytes),, User Property "k"="v"
        let wire = [
            0x3C, 0x16, 0x00, 0x01, b'a', 0x01, 0x02, 0x0F, 0x23, 0x00, 0x07, 0x0B, 0x01, 0x0B,
            0xC8, 0x01, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', b'!',
        ];
        let mut p = publish("a", QoS::ExactlyOnce, b"!").with_packet_id(0x0102);
        p.dup = true;
        p.properties = Properties(vec![
            Property::TopicAlias(7),
            Property::SubscriptionIdentifier(1),
            Property::SubscriptionIdentifier(200),
            Property::UserProperty("k".into(), "v".into()),
        ]);
        round_trip(&wire, V5, &Packet::Publish(p));
    }

    #[test]
    fn empty_topic_is_accepted_only_in_v5_with_a_topic_alias() {
        let wire = [0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, b'x'];
        let mut p = Publish::new(TopicName::empty(), QoS::AtMostOnce, &b"x"[..]);
        p.properties.push(Property::TopicAlias(1));
        round_trip(&wire, V5, &Packet::Publish(p.clone()));

        let no_alias = [0x30, 0x04, 0x00, 0x00, 0x00, b'x'];
        assert_eq!(
            decode_err(&no_alias, V5),
            DecodeError::InvalidTopicName(TopicError::Empty)
        );
        let v311 = [0x30, 0x03, 0x00, 0x00, b'x'];
        assert_eq!(
            decode_err(&v311, V311),
            DecodeError::InvalidTopicName(TopicError::Empty)
        );
        let mut out = BytesMut::new();
        assert_eq!(
            encode(&Packet::Publish(p), V311, &mut out),
            Err(EncodeError::EmptyTopic)
        );
        assert!(out.is_empty(), "a failed encode wrote bytes");
    }

    #[test]
    fn qos3_is_refused() {
        let wire = [0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01];
        for version in ALL {
            assert_eq!(decode_err(&wire, version), DecodeError::InvalidQoS);
        }
    }

    #[test]
    fn qos1_with_packet_id_zero_is_refused() {
        let wire = [0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00];
        assert!(matches!(
            decode_err(&wire, V311),
            DecodeError::ZeroPacketId { .. }
        ));
        let mut out = BytesMut::new();
        let p = Packet::Publish(publish("t", QoS::AtLeastOnce, b""));
        assert_eq!(
            encode(&p, V311, &mut out),
            Err(EncodeError::ZeroPacketId(QoS::AtLeastOnce))
        );
    }

    #[test]
    fn dup_with_qos0_is_refused() {
        // [MQTT-3.3.1-2]
        let wire = [0x38, 0x03, 0x00, 0x01, b't'];
        assert!(matches!(
            decode_err(&wire, V311),
            DecodeError::InvalidFlags { .. }
        ));
    }

    #[test]
    fn dup_is_not_written_for_qos0() {
        let mut p = publish("t", QoS::AtMostOnce, b"");
        p.dup = true;
        assert_eq!(
            encode_to_vec(&Packet::Publish(p), V311),
            [0x30, 0x03, 0x00, 0x01, b't']
        );
    }

    #[test]
    fn wildcards_in_a_topic_name_are_refused() {
        let wire = [0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'];
        assert_eq!(
            decode_err(&wire, V311),
            DecodeError::InvalidTopicName(TopicError::WildcardInName)
        );
    }

    #[test]
    fn malformed_utf8_and_nul_in_a_topic_are_refused() {
        for topic in [[b'a', 0xFF], [b'a', 0x00], [0xED, 0xA0]] {
            let wire = [0x30, 0x04, 0x00, 0x02, topic[0], topic[1]];
            assert_eq!(decode_err(&wire, V311), DecodeError::InvalidUtf8);
        }
    }

    #[test]
    fn a_topic_longer_than_the_packet_is_truncated() {
        let wire = [0x30, 0x03, 0x00, 0x05, b't'];
        assert!(matches!(decode_err(&wire, V311), DecodeError::Truncated(_)));
    }

    #[test]
    fn properties_of_other_packets_are_refused_in_publish() {
        // Session Expiry Interval (0x11) belongs to CONNECT/CONNACK/DISCONNECT
        let wire = [0x30, 0x09, 0x00, 0x01, b't', 0x05, 0x11, 0, 0, 0, 1];
        assert!(matches!(
            decode_err(&wire, V5),
            DecodeError::PropertyNotAllowed { property: 0x11, .. }
        ));
    }

    #[test]
    fn a_repeated_topic_alias_is_refused() {
        let wire = [0x30, 0x0A, 0x00, 0x01, b't', 0x06, 0x23, 0, 1, 0x23, 0, 2];
        assert_eq!(decode_err(&wire, V5), DecodeError::DuplicateProperty(0x23));
    }

    #[test]
    fn topic_alias_zero_and_subscription_identifier_zero_are_refused() {
        let alias = [0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0, 0];
        assert_eq!(
            decode_err(&alias, V5),
            DecodeError::InvalidPropertyValue(0x23)
        );
        let id = [0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x0B, 0x00];
        assert_eq!(decode_err(&id, V5), DecodeError::InvalidPropertyValue(0x0B));
    }

    #[test]
    fn payload_format_indicator_other_than_0_or_1_is_refused() {
        let wire = [0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x01, 0x02];
        assert_eq!(
            decode_err(&wire, V5),
            DecodeError::InvalidPropertyValue(0x01)
        );
    }
}
