//! SUBACK ([MQTT 5.0 §3.9], [MQTT 3.1.1 §3.9]): one reason code per subscription.
//!
//! 3.x return codes 0, 1, 2 and 0x80 have the values of the v5 codes of the same meaning;
//! any other v5 failure code is written to a 3.x peer as 0x80.

use super::{read_packet_id, read_reason_code};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::wire;
use crate::protocol::{PacketType, Properties, ProtocolVersion, ReasonCode, SubAck};
use bytes::{BufMut, Bytes, BytesMut};

pub(crate) fn decode(mut body: Bytes, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let packet_id = read_packet_id(&mut body, PacketType::SubAck)?;
    let properties = if version.is_v5() {
        decode_properties(&mut body, PropertyContext::Packet(PacketType::SubAck))?
    } else {
        Properties::new()
    };
    let mut reason_codes = Vec::with_capacity(body.len());
    while !body.is_empty() {
        let reason_code = if version.is_v5() {
            read_reason_code(&mut body, PacketType::SubAck)?
        } else {
            let code = wire::read_u8(&mut body, "return code")?;
            match code {
                0x00 | 0x01 | 0x02 | 0x80 => ReasonCode::from_u8(code),
                _ => None,
            }
            .ok_or(DecodeError::InvalidReasonCode {
                packet: "SUBACK",
                code,
            })?
        };
        reason_codes.push(reason_code);
    }
    if reason_codes.is_empty() {
        return Err(DecodeError::EmptySubscription("SUBACK"));
    }
    Ok(SubAck {
        packet_id,
        reason_codes,
        properties,
    })
}

fn v3_code(reason_code: ReasonCode) -> u8 {
    match reason_code {
        ReasonCode::Success | ReasonCode::GrantedQoS1 | ReasonCode::GrantedQoS2 => {
            reason_code.as_u8()
        }
        _ => 0x80,
    }
}

pub(crate) fn body_len(suback: &SubAck, version: ProtocolVersion) -> Result<usize, EncodeError> {
    if suback.packet_id == 0 {
        return Err(EncodeError::ZeroPacketIdIn("SUBACK"));
    }
    if suback.reason_codes.is_empty() {
        return Err(EncodeError::EmptySubscription("SUBACK"));
    }
    let mut len = 2 + suback.reason_codes.len();
    if version.is_v5() {
        len += properties_wire_len(&suback.properties)?;
    }
    Ok(len)
}

pub(crate) fn write(suback: &SubAck, version: ProtocolVersion, out: &mut BytesMut) {
    out.put_u16(suback.packet_id);
    if version.is_v5() {
        write_properties(&suback.properties, properties_len(&suback.properties), out);
        for reason_code in &suback.reason_codes {
            out.put_u8(reason_code.as_u8());
        }
    } else {
        for reason_code in &suback.reason_codes {
            out.put_u8(v3_code(*reason_code));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{DecodeError, Packet, Properties, ReasonCode, SubAck};

    fn suback(reason_codes: Vec<ReasonCode>) -> Packet {
        Packet::SubAck(SubAck {
            packet_id: 1,
            reason_codes,
            properties: Properties::new(),
        })
    }

    #[test]
    fn v3_suback_round_trips() {
        let wire = [0x90, 0x06, 0x00, 0x01, 0x00, 0x01, 0x02, 0x80];
        let packet = suback(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ]);
        round_trip(&wire, V31, &packet);
        round_trip(&wire, V311, &packet);
    }

    #[test]
    fn v5_suback_round_trips() {
        let wire = [0x90, 0x06, 0x00, 0x01, 0x00, 0x02, 0x87, 0xA2];
        let packet = suback(vec![
            ReasonCode::GrantedQoS2,
            ReasonCode::NotAuthorized,
            ReasonCode::WildcardSubscriptionsNotSupported,
        ]);
        round_trip(&wire, V5, &packet);
        // A v5 failure code is written as 0x80 to a 3.x client.
        assert_eq!(
            encode_to_vec(&packet, V311),
            [0x90, 0x05, 0x00, 0x01, 0x02, 0x80, 0x80]
        );
    }

    #[test]
    fn codes_outside_each_versions_table_are_refused() {
        assert!(matches!(
            decode_err(&[0x90, 0x03, 0x00, 0x01, 0x87], V311),
            DecodeError::InvalidReasonCode { code: 0x87, .. }
        ));
        assert!(matches!(
            decode_err(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x11], V5),
            DecodeError::InvalidReasonCode { code: 0x11, .. }
        ));
    }

    #[test]
    fn suback_without_codes_is_refused() {
        assert_eq!(
            decode_err(&[0x90, 0x02, 0x00, 0x01], V311),
            DecodeError::EmptySubscription("SUBACK")
        );
    }
}
