//! AUTH ([MQTT 5.0 §3.15]): extended authentication, MQTT 5 only.
//!
//! Like DISCONNECT, the body may be empty (Success) or omit the properties.

use super::{decode_reason_body, reason_body_len, write_reason_body};
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
    reason_body_len(auth.reason_code, &auth.properties)
}

pub(crate) fn write(auth: &Auth, out: &mut BytesMut) {
    write_reason_body(auth.reason_code, &auth.properties, out);
}
