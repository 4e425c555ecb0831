//! AUTH ([MQTT 5.0 §3.15]): extended authentication, MQTT 5 only.
//!
//! Like DISCONNECT, the body may be empty (Success). A lone reason code is accepted when
//! read, but written with its property length, as the specification shows AUTH.

use super::{decode_reason_body, reason_body_len, write_reason_body, ShortForm};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::{Auth, PacketType, ProtocolVersion};
use bytes::{Bytes, BytesMut};

pub(crate) fn decode(body: Bytes, version: ProtocolVersion) -> Result<Auth, DecodeError> {
    if !version.is_v5() {
        return Err(DecodeError::NotInVersion("AUTH"));
    }
    let (reason_code, properties) = decode_reason_body(body, PacketType::Auth)?;
    Ok(Auth {
        reason_code,
        properties,
    })
}

pub(crate) fn body_len(auth: &Auth, version: ProtocolVersion) -> Result<usize, EncodeError> {
    if !version.is_v5() {
        return Err(EncodeError::NotInVersion("AUTH"));
    }
    reason_body_len(auth.reason_code, &auth.properties, ShortForm::EmptyOnly)
}

pub(crate) fn write(auth: &Auth, out: &mut BytesMut) {
    write_reason_body(
        auth.reason_code,
        &auth.properties,
        ShortForm::EmptyOnly,
        out,
    );
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{
        encode, Auth, DecodeError, EncodeError, Packet, Properties, Property, ReasonCode,
    };
    use bytes::BytesMut;

    fn auth(reason_code: ReasonCode, properties: Properties) -> Packet {
        Packet::Auth(Auth {
            reason_code,
            properties,
        })
    }

    #[test]
    fn v5_auth_round_trips() {
        round_trip(
            &[0xF0, 0x00],
            V5,
            &auth(ReasonCode::Success, Properties::new()),
        );
        // Continue authentication, Authentication Method "SCRAM"
        let wire = [
            0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M',
        ];
        let packet = auth(
            ReasonCode::ContinueAuthentication,
            Properties(vec![Property::AuthenticationMethod("SCRAM".into())]),
        );
        round_trip(&wire, V5, &packet);
        // Written with the property length even when there are no properties.
        assert_eq!(
            encode_to_vec(&auth(ReasonCode::ReAuthenticate, Properties::new()), V5),
            [0xF0, 0x02, 0x19, 0x00]
        );
        assert_eq!(
            decode_one(&[0xF0, 0x01, 0x19], V5),
            auth(ReasonCode::ReAuthenticate, Properties::new())
        );
    }

    #[test]
    fn auth_does_not_exist_in_v3() {
        for version in [V31, V311] {
            assert_eq!(
                decode_err(&[0xF0, 0x00], version),
                DecodeError::NotInVersion("AUTH")
            );
            let mut out = BytesMut::new();
            assert_eq!(
                encode(
                    &auth(ReasonCode::Success, Properties::new()),
                    version,
                    &mut out
                ),
                Err(EncodeError::NotInVersion("AUTH"))
            );
        }
    }

    #[test]
    fn auth_refuses_other_reason_codes() {
        assert!(matches!(
            decode_err(&[0xF0, 0x02, 0x80, 0x00], V5),
            DecodeError::InvalidReasonCode { code: 0x80, .. }
        ));
    }
}
