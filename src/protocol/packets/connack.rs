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
