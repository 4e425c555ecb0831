//! PUBACK, PUBREC, PUBREL and PUBCOMP ([MQTT 5.0 §3.4-3.7]): one body, one code path.
//!
//! MQTT 3.x carries only the packet identifier. MQTT 5 adds a reason code and properties
//! and has two short forms: remaining length 2 means Success with no properties, length 3
//! a reason code with no properties. Encoding picks the shortest form that says it all.

use super::{read_packet_id, read_reason_code};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::wire;
use crate::protocol::{PacketType, ProtocolVersion, PublishResponse, ReasonCode};
use bytes::{BufMut, Bytes, BytesMut};

pub(crate) fn decode(
    packet_type: PacketType,
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<PublishResponse, DecodeError> {
    let packet_id = read_packet_id(&mut body, packet_type)?;
    let mut response = PublishResponse::new(packet_id);
    if version.is_v5() && !body.is_empty() {
        response.reason_code = read_reason_code(&mut body, packet_type)?;
        if !body.is_empty() {
            response.properties =
                decode_properties(&mut body, PropertyContext::Packet(packet_type))?;
        }
    }
    wire::expect_end(&body)?;
    Ok(response)
}

/// The MQTT 5 form to write: 0 = packet id only, 1 = with reason code, 2 = with properties.
fn v5_form(response: &PublishResponse) -> u8 {
    match (response.reason_code, response.properties.is_empty()) {
        (ReasonCode::Success, true) => 0,
        (_, true) => 1,
        (_, false) => 2,
    }
}

pub(crate) fn body_len(
    packet_type: PacketType,
    response: &PublishResponse,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if response.packet_id == 0 {
        return Err(EncodeError::ZeroPacketIdIn(packet_type.name()));
    }
    if !version.is_v5() {
        return Ok(2);
    }
    Ok(match v5_form(response) {
        0 => 2,
        1 => 3,
        _ => 3 + properties_wire_len(&response.properties)?,
    })
}

pub(crate) fn write(response: &PublishResponse, version: ProtocolVersion, out: &mut BytesMut) {
    out.put_u16(response.packet_id);
    if !version.is_v5() {
        return;
    }
    let form = v5_form(response);
    if form >= 1 {
        out.put_u8(response.reason_code.as_u8());
    }
    if form == 2 {
        write_properties(
            &response.properties,
            properties_len(&response.properties),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{
        DecodeError, Packet, PacketType, Properties, Property, PublishResponse, ReasonCode,
    };

    /// First byte, `Packet` constructor and type of one of the four packets.
    type Kind = (u8, fn(PublishResponse) -> Packet, PacketType);

    fn kinds() -> [Kind; 4] {
        [
            (0x40, Packet::PubAck, PacketType::PubAck),
            (0x50, Packet::PubRec, PacketType::PubRec),
            (0x62, Packet::PubRel, PacketType::PubRel),
            (0x70, Packet::PubComp, PacketType::PubComp),
        ]
    }

    #[test]
    fn packet_id_only_form_round_trips_in_every_version() {
        for (first, make, _) in kinds() {
            for version in ALL {
                round_trip(
                    &[first, 0x02, 0x00, 0x07],
                    version,
                    &make(PublishResponse::new(7)),
                );
            }
        }
    }

    #[test]
    fn v5_reason_code_without_properties_uses_length_3() {
        for (first, make, _) in kinds() {
            let code = if first & 0x0F == 0x02 || first == 0x70 {
                ReasonCode::PacketIdentifierNotFound
            } else {
                ReasonCode::NoMatchingSubscribers
            };
            let mut response = PublishResponse::new(7);
            response.reason_code = code;
            round_trip(
                &[first, 0x03, 0x00, 0x07, code.as_u8()],
                V5,
                &make(response),
            );
        }
    }

    #[test]
    fn v5_reason_string_round_trips() {
        // PUBACK id 7, Unspecified error, Reason String "x"
        let wire = [0x40, 0x08, 0x00, 0x07, 0x80, 0x04, 0x1F, 0x00, 0x01, b'x'];
        let mut response = PublishResponse::new(7);
        response.reason_code = ReasonCode::UnspecifiedError;
        response.properties = Properties(vec![Property::ReasonString("x".into())]);
        round_trip(&wire, V5, &Packet::PubAck(response));
    }

    #[test]
    fn v5_success_with_empty_property_length_decodes_to_the_short_form() {
        let packet = decode_one(&[0x40, 0x04, 0x00, 0x07, 0x00, 0x00], V5);
        assert_eq!(packet, Packet::PubAck(PublishResponse::new(7)));
        assert_eq!(encode_to_vec(&packet, V5), [0x40, 0x02, 0x00, 0x07]);
    }

    #[test]
    fn v3_writes_neither_reason_code_nor_properties() {
        let mut response = PublishResponse::new(7);
        response.reason_code = ReasonCode::QuotaExceeded;
        response.properties = Properties(vec![Property::ReasonString("x".into())]);
        assert_eq!(
            encode_to_vec(&Packet::PubRec(response), V311),
            [0x50, 0x02, 0x00, 0x07]
        );
    }

    #[test]
    fn reason_codes_of_other_packets_are_refused() {
        // PUBREL/PUBCOMP allow only 0x00 and 0x92; PUBACK/PUBREC not 0x92.
        for (first, code) in [(0x40, 0x92), (0x50, 0x92), (0x62, 0x10), (0x70, 0x80)] {
            assert!(
                matches!(
                    decode_err(&[first, 0x03, 0x00, 0x07, code], V5),
                    DecodeError::InvalidReasonCode { .. }
                ),
                "{first:#x} with {code:#x}"
            );
        }
    }

    #[test]
    fn packet_id_zero_is_refused() {
        for (first, _, _) in kinds() {
            assert!(matches!(
                decode_err(&[first, 0x02, 0x00, 0x00], V311),
                DecodeError::ZeroPacketId { .. }
            ));
        }
    }

    #[test]
    fn v3_acks_have_exactly_two_bytes() {
        for (first, _, _) in kinds() {
            assert_eq!(
                decode_err(&[first, 0x03, 0x00, 0x07, 0x00], V311),
                DecodeError::TrailingBytes(1)
            );
        }
    }

    #[test]
    fn pubrel_needs_flags_0010() {
        assert!(matches!(
            decode_err(&[0x60, 0x02, 0x00, 0x07], V311),
            DecodeError::InvalidFlags { .. }
        ));
    }

    #[test]
    fn publish_only_properties_are_refused_in_acks() {
        for (first, _, packet_type) in kinds() {
            assert_eq!(
                decode_err(&[first, 0x07, 0x00, 0x07, 0x00, 0x03, 0x23, 0x00, 0x01], V5),
                DecodeError::PropertyNotAllowed {
                    property: 0x23,
                    packet: packet_type.name()
                }
            );
        }
    }
}
