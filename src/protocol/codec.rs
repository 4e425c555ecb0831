//! `decode`, `encode` and `encoded_len`: frame a packet with its fixed header and hand the
//! body to the module of its type (`packets/`).
//!
//! Bytes come from the caller's read buffer and leave as a `Packet` whose payload and
//! topic are slices of it; encoding appends to the caller's write buffer after reserving
//! the whole packet once.

use super::framing::{self, FixedHeader};
use super::packets::{
    auth, connack, connect, disconnect, ping, puback, publish, suback, subscribe, unsuback,
    unsubscribe,
};
use super::{DecodeError, EncodeError, Packet, PacketType, ProtocolVersion, MAX_REMAINING_LENGTH};
use bytes::{Buf, Bytes, BytesMut};

/// Decodes one packet from the front of `buf`, consuming its bytes.
///
/// `Ok(None)` means "need more bytes": nothing is consumed. A frame larger than
/// `max_packet_size` (fixed header included) is refused as soon as its remaining length is
/// known, before the body arrives. A CONNECT is read in the version its protocol level
/// names, whatever `version` says. On an error the connection is beyond repair: the bytes
/// of a complete but invalid frame are consumed, and the caller should close.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    if buf
        .first()
        .is_some_and(|b| b >> 4 == PacketType::Auth as u8)
        && !version.is_v5()
    {
        return Err(DecodeError::NotInVersion("AUTH"));
    }
    let Some(header) = framing::parse_fixed_header(buf, max_packet_size)? else {
        return Ok(None);
    };
    if buf.len() < header.frame_len() {
        return Ok(None);
    }
    let mut body = buf.split_to(header.frame_len()).freeze();
    body.advance(header.header_len);
    decode_body(header, body, version).map(Some)
}

fn decode_body(
    header: FixedHeader,
    body: Bytes,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    Ok(match header.packet_type {
        PacketType::Connect => Packet::Connect(Box::new(connect::decode(body)?)),
        PacketType::ConnAck => Packet::ConnAck(connack::decode(body, version)?),
        PacketType::Publish => Packet::Publish(publish::decode(header.flags, body, version)?),
        PacketType::PubAck => Packet::PubAck(puback::decode(PacketType::PubAck, body, version)?),
        PacketType::PubRec => Packet::PubRec(puback::decode(PacketType::PubRec, body, version)?),
        PacketType::PubRel => Packet::PubRel(puback::decode(PacketType::PubRel, body, version)?),
        PacketType::PubComp => Packet::PubComp(puback::decode(PacketType::PubComp, body, version)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe::decode(body, version)?),
        PacketType::SubAck => Packet::SubAck(suback::decode(body, version)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe::decode(body, version)?),
        PacketType::UnsubAck => Packet::UnsubAck(unsuback::decode(body, version)?),
        PacketType::PingReq => {
            ping::decode(body)?;
            Packet::PingReq
        }
        PacketType::PingResp => {
            ping::decode(body)?;
            Packet::PingResp
        }
        PacketType::Disconnect => Packet::Disconnect(disconnect::decode(body, version)?),
        PacketType::Auth => Packet::Auth(auth::decode(body, version)?),
    })
}

/// Size of the body (remaining length), after every check that could make the output
/// invalid. A CONNECT is sized in its own `protocol_version`.
fn body_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let len = match packet {
        Packet::Connect(connect) => connect::body_len(connect)?,
        Packet::ConnAck(connack) => connack::body_len(connack, version)?,
        Packet::Publish(publish) => publish::body_len(publish, version)?,
        Packet::PubAck(response)
        | Packet::PubRec(response)
        | Packet::PubRel(response)
        | Packet::PubComp(response) => puback::body_len(packet.packet_type(), response, version)?,
        Packet::Subscribe(subscribe) => subscribe::body_len(subscribe, version)?,
        Packet::SubAck(suback) => suback::body_len(suback, version)?,
        Packet::Unsubscribe(unsubscribe) => unsubscribe::body_len(unsubscribe, version)?,
        Packet::UnsubAck(unsuback) => unsuback::body_len(unsuback, version)?,
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(disconnect) => disconnect::body_len(disconnect, version)?,
        Packet::Auth(auth) => auth::body_len(auth, version)?,
    };
    if len > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLarge(len));
    }
    Ok(len)
}

/// Bytes `encode` would write for `packet`: fixed header and body.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let len = body_len(packet, version)?;
    Ok(framing::header_len(len) + len)
}

/// Appends `packet` to `out`, reserving its whole size once. On an error nothing is written.
///
/// For 3.x, properties are left out and reason codes are written in their 3.x form (or
/// left out where 3.x has none); AUTH, which 3.x lacks, is an error.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let len = body_len(packet, version)?;
    out.reserve(framing::header_len(len) + len);
    let first_byte = match packet {
        Packet::Publish(publish) => publish::first_byte(publish),
        _ => {
            let packet_type = packet.packet_type();
            (packet_type as u8) << 4 | framing::fixed_flags(packet_type)
        }
    };
    framing::write_fixed_header(first_byte, len, out);
    match packet {
        Packet::Connect(connect) => connect::write(connect, out),
        Packet::ConnAck(connack) => connack::write(connack, version, out),
        Packet::Publish(publish) => publish::write(publish, version, out),
        Packet::PubAck(response)
        | Packet::PubRec(response)
        | Packet::PubRel(response)
        | Packet::PubComp(response) => puback::write(response, version, out),
        Packet::Subscribe(subscribe) => subscribe::write(subscribe, version, out),
        Packet::SubAck(suback) => suback::write(suback, version, out),
        Packet::Unsubscribe(unsubscribe) => unsubscribe::write(unsubscribe, version, out),
        Packet::UnsubAck(unsuback) => unsuback::write(unsuback, version, out),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(disconnect) => disconnect::write(disconnect, version, out),
        Packet::Auth(auth) => auth::write(auth, out),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{
        Connect, Disconnect, Publish, PublishResponse, QoS, ReasonCode, TopicName, MAX_PACKET_SIZE,
    };

    fn samples() -> Vec<(Packet, ProtocolVersion)> {
        let mut publish = Publish::new(TopicName::new("a/b").unwrap(), QoS::AtLeastOnce, "hello")
            .with_packet_id(1);
        let mut samples = vec![
            (Packet::Publish(publish.clone()), V311),
            (
                Packet::from(Connect::new(ProtocolVersion::V5, "client")),
                V5,
            ),
            (Packet::PubAck(PublishResponse::new(9)), V5),
            (Packet::PingReq, V31),
            (
                Packet::Disconnect(Disconnect::new(ReasonCode::ServerBusy)),
                V5,
            ),
        ];
        publish.payload = Bytes::from(vec![0xAB; 300]);
        samples.push((Packet::Publish(publish), V5));
        samples
    }

    #[test]
    fn feeding_a_packet_byte_by_byte_yields_none_until_the_last_byte() {
        for (packet, version) in samples() {
            let wire = encode_to_vec(&packet, version);
            let mut buf = BytesMut::new();
            for (i, byte) in wire.iter().enumerate() {
                buf.extend_from_slice(&[*byte]);
                let result = decode(&mut buf, version, MAX_PACKET_SIZE).unwrap();
                if i + 1 < wire.len() {
                    assert_eq!(result, None, "{packet:?} decoded early at byte {i}");
                    assert_eq!(
                        buf.len(),
                        i + 1,
                        "bytes consumed before the frame was whole"
                    );
                } else {
                    assert_eq!(result, Some(packet.clone()));
                    assert!(buf.is_empty());
                }
            }
        }
    }

    #[test]
    fn consecutive_packets_decode_in_order_and_leave_the_rest() {
        let mut buf = BytesMut::new();
        for (packet, version) in samples() {
            encode(&packet, version, &mut buf).unwrap();
        }
        // Decoded with the version each was written in.
        for (packet, version) in samples() {
            assert_eq!(decode(&mut buf, version, MAX_PACKET_SIZE), Ok(Some(packet)));
        }
        buf.extend_from_slice(&[0x30, 0x05, 0x00]);
        assert_eq!(decode(&mut buf, V311, MAX_PACKET_SIZE), Ok(None));
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn payload_and_topic_are_slices_of_the_read_buffer() {
        let wire = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
        let mut buf = BytesMut::from(&wire[..]);
        let start = buf.as_ptr() as usize;
        let Some(Packet::Publish(publish)) = decode(&mut buf, V311, MAX_PACKET_SIZE).unwrap()
        else {
            panic!("not a PUBLISH");
        };
        assert_eq!(publish.payload.as_ptr() as usize, start + 7);
        assert_eq!(publish.topic.as_str().as_ptr() as usize, start + 4);
    }

    #[test]
    fn max_packet_size_counts_the_whole_frame() {
        let wire = encode_to_vec(&samples()[0].0, V311);
        let size = wire.len() as u32;
        let mut buf = BytesMut::from(&wire[..]);
        assert!(decode(&mut buf, V311, size).unwrap().is_some());
        let mut buf = BytesMut::from(&wire[..2]);
        assert_eq!(
            decode(&mut buf, V311, size - 1),
            Err(DecodeError::PacketTooLarge {
                size: wire.len(),
                max: size - 1
            })
        );
    }

    #[test]
    fn auth_in_v3_is_refused_from_its_first_byte() {
        let mut buf = BytesMut::from(&[0xF0][..]);
        assert_eq!(
            decode(&mut buf, V311, MAX_PACKET_SIZE),
            Err(DecodeError::NotInVersion("AUTH"))
        );
    }

    #[test]
    fn remaining_lengths_of_every_width_round_trip() {
        // topic "t" (3 bytes) + payload: remaining lengths 127, 128, 16383, 16384, 2097152
        for (remaining, header) in [
            (127usize, &[0x30, 0x7F][..]),
            (128, &[0x30, 0x80, 0x01][..]),
            (16_383, &[0x30, 0xFF, 0x7F][..]),
            (16_384, &[0x30, 0x80, 0x80, 0x01][..]),
            (2_097_152, &[0x30, 0x80, 0x80, 0x80, 0x01][..]),
        ] {
            let payload = Bytes::from(vec![7u8; remaining - 3]);
            let packet = Packet::Publish(Publish::new(
                TopicName::new("t").unwrap(),
                QoS::AtMostOnce,
                payload,
            ));
            let wire = encode_to_vec(&packet, V311);
            assert_eq!(&wire[..header.len()], header);
            assert_eq!(wire.len(), header.len() + remaining);
            assert_eq!(decode_one(&wire, V311), packet);
        }
    }

    #[test]
    fn encode_appends_after_existing_bytes() {
        let mut out = BytesMut::from(&b"xy"[..]);
        encode(&Packet::PingResp, V311, &mut out).unwrap();
        assert_eq!(&out[..], &[b'x', b'y', 0xD0, 0x00]);
    }

    #[test]
    fn decode_errors_map_to_their_reason_codes() {
        let cases = [
            (
                &[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..],
                ReasonCode::PacketTooLarge,
                1000,
            ),
            (
                &[0x36, 0x03, 0x00, 0x01, b't'][..],
                ReasonCode::MalformedPacket,
                1000,
            ),
            (
                &[0x30, 0x03, 0x00, 0x01, b'#'][..],
                ReasonCode::TopicNameInvalid,
                1000,
            ),
            (
                &[0x32, 0x05, 0x00, 0x01, b't', 0, 0][..],
                ReasonCode::ProtocolError,
                1000,
            ),
        ];
        for (wire, reason, max) in cases {
            let mut buf = BytesMut::from(wire);
            let error = decode(&mut buf, V311, max).unwrap_err();
            assert_eq!(error.reason_code(), reason, "{error}");
        }
    }

    #[test]
    fn packets_that_would_be_invalid_are_not_written() {
        let subscribe = Packet::Subscribe(crate::protocol::Subscribe {
            packet_id: 0,
            subscriptions: Vec::new(),
            properties: crate::protocol::Properties::new(),
        });
        let long_id = Packet::from(Connect::new(ProtocolVersion::V311, "x".repeat(65_536)));
        let unsuback = Packet::UnsubAck(crate::protocol::UnsubAck {
            packet_id: 1,
            reason_codes: Vec::new(),
            properties: crate::protocol::Properties::new(),
        });
        for (packet, version, error) in [
            (&subscribe, V311, EncodeError::ZeroPacketIdIn("SUBSCRIBE")),
            (&long_id, V311, EncodeError::FieldTooLong(65_536)),
            (&unsuback, V5, EncodeError::EmptySubscription("UNSUBACK")),
            (
                &Packet::PubRel(PublishResponse::new(0)),
                V5,
                EncodeError::ZeroPacketIdIn("PUBREL"),
            ),
        ] {
            let mut out = BytesMut::new();
            assert_eq!(encode(packet, version, &mut out), Err(error));
            assert!(out.is_empty());
        }
        // A 3.x UNSUBACK has no reason codes, so an empty list is fine there.
        assert_eq!(encoded_len(&unsuback, V311), Ok(4));
    }

    #[test]
    fn a_body_larger_than_the_limit_is_refused_when_encoding() {
        let publish = Publish::new(
            TopicName::new("t").unwrap(),
            QoS::AtMostOnce,
            Bytes::from(vec![0u8; MAX_REMAINING_LENGTH]),
        );
        assert!(matches!(
            encoded_len(&Packet::Publish(publish), V311),
            Err(EncodeError::PacketTooLarge(_))
        ));
    }
}
