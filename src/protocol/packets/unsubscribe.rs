//! UNSUBSCRIBE ([MQTT 5.0 §3.10], [MQTT 3.1.1 §3.10]): a list of topic filters.

use super::read_packet_id;
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::wire;
use crate::protocol::{PacketType, Properties, ProtocolVersion, TopicFilter, Unsubscribe};
use bytes::{BufMut, Bytes, BytesMut};

pub(crate) fn decode(
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<Unsubscribe, DecodeError> {
    let packet_id = read_packet_id(&mut body, PacketType::Unsubscribe)?;
    let properties = if version.is_v5() {
        decode_properties(&mut body, PropertyContext::Packet(PacketType::Unsubscribe))?
    } else {
        Properties::new()
    };
    let mut filters = Vec::new();
    while !body.is_empty() {
        let filter = wire::read_byte_string(&mut body, "topic filter")?;
        filters.push(TopicFilter::new(filter).map_err(DecodeError::InvalidTopicFilter)?);
    }
    if filters.is_empty() {
        // [MQTT-3.10.3-2]
        return Err(DecodeError::EmptySubscription("UNSUBSCRIBE"));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

pub(crate) fn body_len(
    unsubscribe: &Unsubscribe,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    if unsubscribe.packet_id == 0 {
        return Err(EncodeError::ZeroPacketIdIn("UNSUBSCRIBE"));
    }
    if unsubscribe.filters.is_empty() {
        return Err(EncodeError::EmptySubscription("UNSUBSCRIBE"));
    }
    let mut len = 2;
    if version.is_v5() {
        len += properties_wire_len(&unsubscribe.properties)?;
    }
    for filter in &unsubscribe.filters {
        len += wire::field_len(filter.as_str().len())?;
    }
    Ok(len)
}

pub(crate) fn write(unsubscribe: &Unsubscribe, version: ProtocolVersion, out: &mut BytesMut) {
    out.put_u16(unsubscribe.packet_id);
    if version.is_v5() {
        write_properties(
            &unsubscribe.properties,
            properties_len(&unsubscribe.properties),
            out,
        );
    }
    for filter in &unsubscribe.filters {
        wire::write_binary(filter.as_str().as_bytes(), out);
    }
}
