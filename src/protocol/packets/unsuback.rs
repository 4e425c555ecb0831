//! UNSUBACK ([MQTT 5.0 §3.11], [MQTT 3.1.1 §3.11]).
//!
//! 3.x carries only the packet identifier; MQTT 5 adds properties and one reason code per
//! topic filter of the UNSUBSCRIBE.

use super::{read_packet_id, read_reason_code};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::wire;
use crate::protocol::{PacketType, Properties, ProtocolVersion, UnsubAck};
use bytes::{BufMut, Bytes, BytesMut};

pub(crate) fn decode(mut body: Bytes, version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
    let packet_id = read_packet_id(&mut body, PacketType::UnsubAck)?;
    if !version.is_v5() {
        wire::expect_end(&body)?;
        return Ok(UnsubAck {
            packet_id,
            reason_codes: Vec::new(),
            properties: Properties::new(),
        });
    }
    let properties = decode_properties(&mut body, PropertyContext::Packet(PacketType::UnsubAck))?;
    let mut reason_codes = Vec::with_capacity(body.len());
    while !body.is_empty() {
        reason_codes.push(read_reason_code(&mut body, PacketType::UnsubAck)?);
    }
    if reason_codes.is_empty() {
        return Err(DecodeError::EmptySubscription("UNSUBACK"));
    }
    Ok(UnsubAck {
        packet_id,
        reason_codes,
        properties,
    })
}

pub(crate) fn body_len(
    unsuback: &UnsubAck,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if unsuback.packet_id == 0 {
        return Err(EncodeError::ZeroPacketIdIn("UNSUBACK"));
    }
    if !version.is_v5() {
        return Ok(2);
    }
    if unsuback.reason_codes.is_empty() {
        return Err(EncodeError::EmptySubscription("UNSUBACK"));
    }
    Ok(2 + properties_wire_len(&unsuback.properties)? + unsuback.reason_codes.len())
}

pub(crate) fn write(unsuback: &UnsubAck, version: ProtocolVersion, out: &mut BytesMut) {
    out.put_u16(unsuback.packet_id);
    if version.is_v5() {
        write_properties(
            &unsuback.properties,
            properties_len(&unsuback.properties),
            out,
        );
        for reason_code in &unsuback.reason_codes {
            out.put_u8(reason_code.as_u8());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{DecodeError, Packet, Properties, ReasonCode, UnsubAck};

    #[test]
    fn v3_unsuback_has_only_the_packet_id() {
        let packet = Packet::UnsubAck(UnsubAck {
            packet_id: 2,
            reason_codes: Vec::new(),
            properties: Properties::new(),
        });
        round_trip(&[0xB0, 0x02, 0x00, 0x02], V31, &packet);
        round_trip(&[0xB0, 0x02, 0x00, 0x02], V311, &packet);
        assert_eq!(
            decode_err(&[0xB0, 0x03, 0x00, 0x02, 0x00], V311),
            DecodeError::TrailingBytes(1)
        );
    }

    #[test]
    fn v5_unsuback_round_trips() {
        let packet = Packet::UnsubAck(UnsubAck {
            packet_id: 2,
            reason_codes: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
            properties: Properties::new(),
        });
        round_trip(&[0xB0, 0x05, 0x00, 0x02, 0x00, 0x00, 0x11], V5, &packet);
        assert_eq!(encode_to_vec(&packet, V311), [0xB0, 0x02, 0x00, 0x02]);
    }

    #[test]
    fn v5_unsuback_refuses_other_codes_and_an_empty_list() {
        assert!(matches!(
            decode_err(&[0xB0, 0x04, 0x00, 0x02, 0x00, 0x01], V5),
            DecodeError::InvalidReasonCode { code: 0x01, .. }
        ));
        assert_eq!(
            decode_err(&[0xB0, 0x03, 0x00, 0x02, 0x00], V5),
            DecodeError::EmptySubscription("UNSUBACK")
        );
    }
}
