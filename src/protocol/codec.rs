//! Placeholder until the codec lands: keeps the crate compiling.
use super::*;
use bytes::BytesMut;

pub fn decode(
    _buf: &mut BytesMut,
    _version: ProtocolVersion,
    _max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    Ok(None)
}

pub fn encode(
    _packet: &Packet,
    _version: ProtocolVersion,
    _out: &mut BytesMut,
) -> Result<(), EncodeError> {
    Ok(())
}

pub fn encoded_len(_packet: &Packet, _version: ProtocolVersion) -> Result<usize, EncodeError> {
    Ok(0)
}
