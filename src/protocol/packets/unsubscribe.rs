//! UNSUBSCRIBE ([MQTT 5.0 §3.10], [MQTT 3.1.1 §3.10]): a list of topic filters.

use super::read_packet_id;
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::wire;
use crate::protocol::{PacketType, Properties, ProtocolVersion, TopicFilter, Unsubscribe};
use bytes::{BufMut, Bytes, BytesMut};

pub(crate) fn decode(
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<Unsubscribe, DecodeError> {
    let packet_id = read_packet_id(&mut body, PacketType::Unsubscribe)?;
    let properties = if version.is_v5() {
        decode_properties(&mut body, PropertyContext::Packet(PacketType::Unsubscribe))?
    } else {
        Properties::new()
    };
    let mut filters = Vec::new();
    while !body.is_empty() {
        let filter = wire::read_byte_string(&mut body, "topic filter")?;
        filters.push(TopicFilter::new(filter).map_err(DecodeError::InvalidTopicFilter)?);
    }
    if filters.is_empty() {
        // [MQTT-3.10.3-2]
        return Err(DecodeError::EmptySubscription("UNSUBSCRIBE"));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

pub(crate) fn body_len(
    unsubscribe: &Unsubscribe,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if unsubscribe.packet_id == 0 {
        return Err(EncodeError::ZeroPacketIdIn("UNSUBSCRIBE"));
    }
    if unsubscribe.filters.is_empty() {
        return Err(EncodeError::EmptySubscription("UNSUBSCRIBE"));
    }
    let mut len = 2;
    if version.is_v5() {
        len += properties_wire_len(&unsubscribe.properties)?;
    }
    for filter in &unsubscribe.filters {
        len += wire::field_len(filter.as_str().len())?;
    }
    Ok(len)
}

pub(crate) fn write(unsubscribe: &Unsubscribe, version: ProtocolVersion, out: &mut BytesMut) {
    out.put_u16(unsubscribe.packet_id);
    if version.is_v5() {
        write_properties(
            &unsubscribe.properties,
            properties_len(&unsubscribe.properties),
            out,
        );
    }
    for filter in &unsubscribe.filters {
        wire::write_binary(filter.as_str().as_bytes(), out);
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{DecodeError, Packet, Properties, Property, TopicFilter, Unsubscribe};

    #[test]
    fn v3_unsubscribe_round_trips() {
        let wire = [
            0xA2, 0x0A, 0x00, 0x02, 0x00, 0x01, b'a', 0x00, 0x03, b'b', b'/', b'+',
        ];
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id: 2,
            filters: vec![
                TopicFilter::new("a").unwrap(),
                TopicFilter::new("b/+").unwrap(),
            ],
            properties: Properties::new(),
        });
        round_trip(&wire, V31, &packet);
        round_trip(&wire, V311, &packet);
    }

    #[test]
    fn v5_unsubscribe_with_user_property_round_trips() {
        let wire = [
            0xA2, 0x0D, 0x00, 0x02, 0x07, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', 0x00, 0x01,
            b'a',
        ];
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id: 2,
            filters: vec![TopicFilter::new("a").unwrap()],
            properties: Properties(vec![Property::UserProperty("k".into(), "v".into())]),
        });
        round_trip(&wire, V5, &packet);
    }

    #[test]
    fn empty_unsubscribe_is_refused() {
        assert_eq!(
            decode_err(&[0xA2, 0x02, 0x00, 0x02], V311),
            DecodeError::EmptySubscription("UNSUBSCRIBE")
        );
    }

    #[test]
    fn unsubscribe_needs_flags_0010_and_valid_filters() {
        assert!(matches!(
            decode_err(&[0xA0, 0x05, 0x00, 0x02, 0x00, 0x01, b'a'], V311),
            DecodeError::InvalidFlags { .. }
        ));
        assert!(matches!(
            decode_err(&[0xA2, 0x06, 0x00, 0x02, 0x00, 0x02, b'a', b'+'], V311),
            DecodeError::InvalidTopicFilter(_)
        ));
    }
}
