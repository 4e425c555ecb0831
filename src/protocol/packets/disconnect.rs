//! DISCONNECT ([MQTT 5.0 §3.14], [MQTT 3.1.1 §3.14]).
//!
//! 3.x has no body. MQTT 5 may omit the body (Success) or the properties; encoding writes
//! the shortest form.

use super::{decode_reason_body, reason_body_len, write_reason_body};
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
        reason_body_len(disconnect.reason_code, &disconnect.properties)
    } else {
        Ok(0)
    }
}

pub(crate) fn write(disconnect: &Disconnect, version: ProtocolVersion, out: &mut BytesMut) {
    if version.is_v5() {
        write_reason_body(disconnect.reason_code, &disconnect.properties, out);
    }
}
