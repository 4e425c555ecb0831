//! One module per control packet: each reads its body from a `Bytes` frame (`decode`),
//! reports the body size it will write (`body_len`, which also checks everything that
//! could make the output invalid) and writes it (`write`, infallible once `body_len`
//! succeeded). `codec.rs` frames them with the fixed header.

pub(crate) mod auth;
pub(crate) mod connack;
pub(crate) mod connect;
pub(crate) mod disconnect;
pub(crate) mod ping;
pub(crate) mod puback;
pub(crate) mod publish;
pub(crate) mod suback;
pub(crate) mod subscribe;
pub(crate) mod unsuback;
pub(crate) mod unsubscribe;

use super::error::{DecodeError, EncodeError};
use super::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, Properties,
    PropertyContext,
};
use super::reason_code::ReasonCode;
use super::wire;
use super::PacketType;
use bytes::{BufMut, Bytes, BytesMut};

/// Reads an MQTT 5 reason code and checks that `packet_type` may carry it.
pub(crate) fn read_reason_code(
    buf: &mut Bytes,
    packet_type: PacketType,
) -> Result<ReasonCode, DecodeError> {
    let code = wire::read_u8(buf, "reason code")?;
    ReasonCode::from_u8(code)
        .filter(|reason| reason.is_valid_for(packet_type))
        .ok_or(DecodeError::InvalidReasonCode {
            packet: packet_type.name(),
            code,
        })
}

/// Reads a packet identifier, which must not be 0 ([MQTT-2.2.1-3]).
pub(crate) fn read_packet_id(buf: &mut Bytes, packet_type: PacketType) -> Result<u16, DecodeError> {
    match wire::read_u16(buf, "packet identifier")? {
        0 => Err(DecodeError::ZeroPacketId {
            packet: packet_type.name(),
        }),
        packet_id => Ok(packet_id),
    }
}

/// The MQTT 5 body of DISCONNECT and AUTH: empty (Success), a reason code alone, or a
/// reason code and properties ([MQTT 5.0 §3.14.2.1], [MQTT 5.0 §3.15.2.1]).
pub(crate) fn decode_reason_body(
    mut body: Bytes,
    packet_type: PacketType,
) -> Result<(ReasonCode, Properties), DecodeError> {
    if body.is_empty() {
        return Ok((ReasonCode::Success, Properties::new()));
    }
    let reason_code = read_reason_code(&mut body, packet_type)?;
    let properties = if body.is_empty() {
        Properties::new()
    } else {
        decode_properties(&mut body, PropertyContext::Packet(packet_type))?
    };
    wire::expect_end(&body)?;
    Ok((reason_code, properties))
}

/// How DISCONNECT and AUTH bodies are shortened when they can be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShortForm {
    /// Empty for Success without properties; a lone reason code without properties.
    ReasonOnly,
    /// Empty for Success without properties; otherwise always the property length.
    /// AUTH is written so: the specification defines no reason-code-only AUTH.
    EmptyOnly,
}

/// Size of the body `write_reason_body` writes for these fields.
pub(crate) fn reason_body_len(
    reason_code: ReasonCode,
    properties: &Properties,
    short_form: ShortForm,
) -> Result<usize, EncodeError> {
    Ok(match (reason_code, properties.is_empty(), short_form) {
        (ReasonCode::Success, true, _) => 0,
        (_, true, ShortForm::ReasonOnly) => 1,
        _ => 1 + properties_wire_len(properties)?,
    })
}

pub(crate) fn write_reason_body(
    reason_code: ReasonCode,
    properties: &Properties,
    short_form: ShortForm,
    out: &mut BytesMut,
) {
    if reason_code == ReasonCode::Success && properties.is_empty() {
        return;
    }
    out.put_u8(reason_code.as_u8());
    if !properties.is_empty() || short_form == ShortForm::EmptyOnly {
        write_properties(properties, properties_len(properties), out);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers for the byte-literal tests of each packet module.
    use crate::protocol::{decode, encode, DecodeError, Packet, ProtocolVersion, MAX_PACKET_SIZE};
    use bytes::BytesMut;

    pub(crate) const V31: ProtocolVersion = ProtocolVersion::V31;
    pub(crate) const V311: ProtocolVersion = ProtocolVersion::V311;
    pub(crate) const V5: ProtocolVersion = ProtocolVersion::V5;
    pub(crate) const ALL: [ProtocolVersion; 3] = [V31, V311, V5];

    /// Decodes `wire`, which must hold exactly one packet.
    pub(crate) fn decode_one(wire: &[u8], version: ProtocolVersion) -> Packet {
        let mut buf = BytesMut::from(wire);
        let packet = decode(&mut buf, version, MAX_PACKET_SIZE)
            .unwrap_or_else(|e| panic!("{wire:02x?} did not decode: {e}"))
            .unwrap_or_else(|| panic!("{wire:02x?} is incomplete"));
        assert!(buf.is_empty(), "bytes left after the packet");
        packet
    }

    pub(crate) fn decode_err(wire: &[u8], version: ProtocolVersion) -> DecodeError {
        let mut buf = BytesMut::from(wire);
        match decode(&mut buf, version, MAX_PACKET_SIZE) {
            Err(e) => e,
            Ok(p) => panic!("{wire:02x?} decoded as {p:?}"),
        }
    }

    pub(crate) fn encode_to_vec(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(packet, version, &mut out).unwrap_or_else(|e| panic!("{packet:?}: {e}"));
        assert_eq!(
            crate::protocol::encoded_len(packet, version),
            Ok(out.len()),
            "encoded_len disagrees with encode"
        );
        out.to_vec()
    }

    /// Decodes `wire`, checks it equals `packet`, and that encoding gives `wire` back.
    pub(crate) fn round_trip(wire: &[u8], version: ProtocolVersion, packet: &Packet) {
        assert_eq!(&decode_one(wire, version), packet, "decoded {version:?}");
        assert_eq!(encode_to_vec(packet, version), wire, "encoded {version:?}");
    }
}
