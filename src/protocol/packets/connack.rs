//! CONNACK ([MQTT 5.0 §3.2], [MQTT 3.1.1 §3.2]).
//!
//! 3.x return codes 0..=5 are mapped to the v5 reason code of the same meaning when read
//! and back when written (`ReasonCode::from_connack_v3` / `to_connack_v3`).

use super::read_reason_code;
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::wire;
use crate::protocol::{ConnAck, PacketType, Properties, ProtocolVersion, ReasonCode};
use bytes::{BufMut, Bytes, BytesMut};

const SESSION_PRESENT: u8 = 0x01;

pub(crate) fn decode(mut body: Bytes, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = wire::read_u8(&mut body, "connect acknowledge flags")?;
    if flags & !SESSION_PRESENT != 0 {
        // [MQTT-3.2.2-1] bits 7-1 are reserved
        return Err(DecodeError::InvalidConnAckFlags(flags));
    }
    let (reason_code, properties) = if version.is_v5() {
        let reason_code = read_reason_code(&mut body, PacketType::ConnAck)?;
        let properties =
            decode_properties(&mut body, PropertyContext::Packet(PacketType::ConnAck))?;
        (reason_code, properties)
    } else {
        let code = wire::read_u8(&mut body, "return code")?;
        let reason_code =
            ReasonCode::from_connack_v3(code).ok_or(DecodeError::InvalidReasonCode {
                packet: "CONNACK",
                code,
            })?;
        (reason_code, Properties::new())
    };
    wire::expect_end(&body)?;
    Ok(ConnAck {
        session_present: flags & SESSION_PRESENT != 0,
        reason_code,
        properties,
    })
}

pub(crate) fn body_len(connack: &ConnAck, version: ProtocolVersion) -> Result<usize, EncodeError> {
    if version.is_v5() {
        Ok(2 + properties_wire_len(&connack.properties)?)
    } else {
        Ok(2)
    }
}

pub(crate) fn write(connack: &ConnAck, version: ProtocolVersion, out: &mut BytesMut) {
    out.put_u8(if connack.session_present {
        SESSION_PRESENT
    } else {
        0
    });
    if version.is_v5() {
        out.put_u8(connack.reason_code.as_u8());
        write_properties(
            &connack.properties,
            properties_len(&connack.properties),
            out,
        );
    } else {
        out.put_u8(connack.reason_code.to_connack_v3());
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{ConnAck, DecodeError, Packet, Properties, Property, ReasonCode};

    fn connack(session_present: bool, reason_code: ReasonCode) -> Packet {
        Packet::ConnAck(ConnAck {
            session_present,
            reason_code,
            properties: Properties::new(),
        })
    }

    #[test]
    fn v3_connack_round_trips() {
        round_trip(
            &[0x20, 0x02, 0x01, 0x00],
            V311,
            &connack(true, ReasonCode::Success),
        );
        round_trip(
            &[0x20, 0x02, 0x00, 0x00],
            V31,
            &connack(false, ReasonCode::Success),
        );
    }

    #[test]
    fn v3_return_codes_map_to_reason_codes() {
        for (code, reason) in [
            (1, ReasonCode::UnsupportedProtocolVersion),
            (2, ReasonCode::ClientIdentifierNotValid),
            (3, ReasonCode::ServerUnavailable),
            (4, ReasonCode::BadUserNameOrPassword),
            (5, ReasonCode::NotAuthorized),
        ] {
            for version in [V31, V311] {
                round_trip(&[0x20, 0x02, 0x00, code], version, &connack(false, reason));
            }
        }
        // A v5-only code goes to a 3.x client as the closest return code.
        assert_eq!(
            encode_to_vec(&connack(false, ReasonCode::Banned), V311),
            [0x20, 0x02, 0x00, 0x05]
        );
    }

    #[test]
    fn v5_connack_round_trips_with_and_without_properties() {
        round_trip(
            &[0x20, 0x03, 0x00, 0x00, 0x00],
            V5,
            &connack(false, ReasonCode::Success),
        );
        // Not authorized; Receive Maximum 10, Maximum QoS 1, Assigned Client Identifier "x"
        let wire = [
            0x20, 0x0C, 0x00, 0x87, 0x09, 0x21, 0x00, 0x0A, 0x24, 0x01, 0x12, 0x00, 0x01, b'x',
        ];
        let packet = Packet::ConnAck(ConnAck {
            session_present: false,
            reason_code: ReasonCode::NotAuthorized,
            properties: Properties(vec![
                Property::ReceiveMaximum(10),
                Property::MaximumQoS(1),
                Property::AssignedClientIdentifier("x".into()),
            ]),
        });
        round_trip(&wire, V5, &packet);
    }

    #[test]
    fn reserved_acknowledge_flags_are_refused() {
        for version in ALL {
            assert_eq!(
                decode_err(&[0x20, 0x02, 0x02, 0x00], version),
                DecodeError::InvalidConnAckFlags(0x02)
            );
        }
    }

    #[test]
    fn unknown_return_and_reason_codes_are_refused() {
        assert!(matches!(
            decode_err(&[0x20, 0x02, 0x00, 0x06], V311),
            DecodeError::InvalidReasonCode { code: 6, .. }
        ));
        // 0x10 exists but not in CONNACK; 0x05 does not exist.
        for code in [0x10, 0x05, 0x8B] {
            assert!(matches!(
                decode_err(&[0x20, 0x03, 0x00, code, 0x00], V5),
                DecodeError::InvalidReasonCode { .. }
            ));
        }
    }

    #[test]
    fn v3_connack_with_extra_bytes_is_refused() {
        assert_eq!(
            decode_err(&[0x20, 0x03, 0x00, 0x00, 0x00], V311),
            DecodeError::TrailingBytes(1)
        );
    }

    #[test]
    fn v5_connack_without_property_length_is_truncated() {
        assert!(matches!(
            decode_err(&[0x20, 0x02, 0x00, 0x00], V5),
            DecodeError::Truncated(_)
        ));
    }

    #[test]
    fn v5_connack_property_rules_apply() {
        // Maximum QoS 2 is not a valid value; Topic Alias is not a CONNACK property.
        assert_eq!(
            decode_err(&[0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02], V5),
            DecodeError::InvalidPropertyValue(0x24)
        );
        assert!(matches!(
            decode_err(&[0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01], V5),
            DecodeError::PropertyNotAllowed { property: 0x23, .. }
        ));
    }
}
