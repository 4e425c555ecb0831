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
