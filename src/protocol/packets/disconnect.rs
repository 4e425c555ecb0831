//! DISCONNECT ([MQTT 5.0 §3.14], [MQTT 3.1.1 §3.14]).
//!
//! 3.x has no body. MQTT 5 may omit the body (Success) or the properties; encoding writes
//! the shortest form.

use super::{decode_reason_body, reason_body_len, write_reason_body, ShortForm};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::wire;
use crate::protocol::{Disconnect, PacketType, ProtocolVersion, ReasonCode};
use bytes::{Bytes, BytesMut};

pub(crate) fn decode(body: Bytes, version: ProtocolVersion) -> Result<Disconnect, DecodeError> {
    if !version.is_v5() {
        wire::expect_end(&body)?;
        return Ok(Disconnect::new(ReasonCode::Success));
    }
    let (reason_code, properties) = decode_reason_body(body, PacketType::Disconnect)?;
    Ok(Disconnect {
        reason_code,
        properties,
    })
}

pub(crate) fn body_len(
    disconnect: &Disconnect,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if version.is_v5() {
        reason_body_len(
            disconnect.reason_code,
            &disconnect.properties,
            ShortForm::ReasonOnly,
        )
    } else {
        Ok(0)
    }
}

pub(crate) fn write(disconnect: &Disconnect, version: ProtocolVersion, out: &mut BytesMut) {
    if version.is_v5() {
        write_reason_body(
            disconnect.reason_code,
            &disconnect.properties,
            ShortForm::ReasonOnly,
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{DecodeError, Disconnect, Packet, Properties, Property, ReasonCode};

    #[test]
    fn empty_disconnect_round_trips_in_every_version() {
        for version in ALL {
            round_trip(
                &[0xE0, 0x00],
                version,
                &Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
            );
        }
    }

    #[test]
    fn v3_disconnect_has_no_body() {
        assert_eq!(
            decode_err(&[0xE0, 0x01, 0x00], V311),
            DecodeError::TrailingBytes(1)
        );
        let packet = Packet::Disconnect(Disconnect::new(ReasonCode::SessionTakenOver));
        assert_eq!(encode_to_vec(&packet, V311), [0xE0, 0x00]);
    }

    #[test]
    fn v5_reason_code_alone_uses_length_1() {
        round_trip(
            &[0xE0, 0x01, 0x04],
            V5,
            &Packet::Disconnect(Disconnect::new(ReasonCode::DisconnectWithWillMessage)),
        );
    }

    #[test]
    fn v5_disconnect_with_properties_round_trips() {
        // Session taken over, Session Expiry Interval 0
        let wire = [0xE0, 0x07, 0x8E, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00];
        let packet = Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::SessionTakenOver,
            properties: Properties(vec![Property::SessionExpiryInterval(0)]),
        });
        round_trip(&wire, V5, &packet);
        // A zero property length decodes to the same short form.
        assert_eq!(
            decode_one(&[0xE0, 0x02, 0x00, 0x00], V5),
            Packet::Disconnect(Disconnect::new(ReasonCode::Success))
        );
    }

    #[test]
    fn v5_disconnect_refuses_other_reason_codes_and_properties() {
        for code in [0x01, 0x91, 0x18] {
            assert!(matches!(
                decode_err(&[0xE0, 0x01, code], V5),
                DecodeError::InvalidReasonCode { .. }
            ));
        }
        assert!(matches!(
            decode_err(&[0xE0, 0x05, 0x00, 0x03, 0x21, 0x00, 0x01], V5),
            DecodeError::PropertyNotAllowed { property: 0x21, .. }
        ));
    }
}
