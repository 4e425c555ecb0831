//! The fixed header ([MQTT 5.0 §2.1]): packet type, flags and the remaining length.
//!
//! `decode` asks here first whether a whole frame is buffered. The size limit is applied
//! as soon as the remaining length is known (or can no longer be small enough), so an
//! oversized packet is refused from its first five bytes, before its body is buffered.

use super::error::DecodeError;
use super::wire::{self, VarInt};
use super::PacketType;
use bytes::{BufMut, BytesMut};

/// The first byte and remaining length of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// 1 + the bytes of the remaining length.
    pub header_len: usize,
    pub remaining_len: usize,
}

impl FixedHeader {
    /// Fixed header plus body.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Parses the fixed header at the front of `buf` without consuming anything.
/// `Ok(None)`: not all of the header has arrived yet.
pub(crate) fn parse_fixed_header(
    buf: &[u8],
    max_packet_size: u32,
) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type = PacketType::from_u8(first >> 4).ok_or(DecodeError::ReservedPacketType)?;
    let flags = first & 0x0F;
    check_flags(packet_type, flags)?;
    let max = max_packet_size as usize;
    match wire::parse_variable_integer(&buf[1..])? {
        VarInt::Complete(remaining, len) => {
            let header = FixedHeader {
                packet_type,
                flags,
                header_len: 1 + len,
                remaining_len: remaining as usize,
            };
            if header.frame_len() > max {
                return Err(DecodeError::PacketTooLarge {
                    size: header.frame_len(),
                    max: max_packet_size,
                });
            }
            Ok(Some(header))
        }
        VarInt::Incomplete if buf.len() == 1 => Ok(None),
        VarInt::Incomplete => {
            // Every length byte so far had its continuation bit set: the smallest frame
            // that can still follow already has one more length byte and a non-zero digit.
            let received = buf.len() - 1;
            let low_digits: usize = buf[1..]
                .iter()
                .enumerate()
                .map(|(i, b)| usize::from(b & 0x7F) << (7 * i))
                .sum();
            let smallest = 1 + received + 1 + low_digits + (1usize << (7 * received));
            if smallest > max {
                return Err(DecodeError::PacketTooLarge {
                    size: smallest,
                    max: max_packet_size,
                });
            }
            Ok(None)
        }
    }
}

/// Fixed header flags each packet type must carry ([MQTT 5.0 §2.1.3], [MQTT-2.1.3-1]).
/// PUBLISH flags carry DUP, QoS and RETAIN and are checked by the PUBLISH decoder.
fn check_flags(packet_type: PacketType, flags: u8) -> Result<(), DecodeError> {
    let expected = match packet_type {
        PacketType::Publish => return Ok(()),
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    };
    if flags == expected {
        Ok(())
    } else {
        Err(DecodeError::InvalidFlags {
            packet: packet_type.name(),
            flags,
        })
    }
}

/// The fixed header flags written for a packet type other than PUBLISH.
pub(crate) fn fixed_flags(packet_type: PacketType) -> u8 {
    match packet_type {
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    }
}

/// Bytes of the fixed header for a body of `remaining_len` bytes (already checked).
pub(crate) fn header_len(remaining_len: usize) -> usize {
    1 + wire::variable_integer_len(remaining_len)
}

pub(crate) fn write_fixed_header(first_byte: u8, remaining_len: usize, out: &mut BytesMut) {
    out.put_u8(first_byte);
    wire::write_variable_integer(remaining_len, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MAX_PACKET_SIZE;

    #[test]
    fn remaining_length_of_one_to_four_bytes_is_parsed() {
        for (bytes, value, len) in [
            (&[0x30, 0x00][..], 0usize, 2usize),
            (&[0x30, 0x7F][..], 127, 2),
            (&[0x30, 0x80, 0x01][..], 128, 3),
            (&[0x30, 0xFF, 0x7F][..], 16_383, 3),
            (&[0x30, 0x80, 0x80, 0x01][..], 16_384, 4),
            (&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..], 268_435_455, 5),
        ] {
            let header = parse_fixed_header(bytes, MAX_PACKET_SIZE).unwrap().unwrap();
            assert_eq!(header.remaining_len, value);
            assert_eq!(header.header_len, len);
        }
    }

    #[test]
    fn five_length_bytes_are_malformed() {
        let bytes = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        assert_eq!(
            parse_fixed_header(&bytes, MAX_PACKET_SIZE),
            Err(DecodeError::MalformedRemainingLength)
        );
    }

    #[test]
    fn non_minimal_remaining_length_is_refused() {
        assert_eq!(
            parse_fixed_header(&[0x30, 0x80, 0x00], MAX_PACKET_SIZE),
            Err(DecodeError::NonMinimalVariableInteger)
        );
    }

    #[test]
    fn a_256_mb_packet_is_refused_at_byte_five() {
        let bytes = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
        assert!(matches!(
            parse_fixed_header(&bytes, 1024 * 1024),
            Err(DecodeError::PacketTooLarge {
                size: 268_435_460,
                ..
            })
        ));
    }

    #[test]
    fn an_oversized_length_is_refused_before_it_is_complete() {
        // Three continuation bytes: at least 2^21 bytes follow, more than 1 MiB allows.
        assert!(matches!(
            parse_fixed_header(&[0x30, 0x80, 0x80, 0x80], 1024 * 1024),
            Err(DecodeError::PacketTooLarge { .. })
        ));
        assert_eq!(
            parse_fixed_header(&[0x30, 0x80, 0x80, 0x80], MAX_PACKET_SIZE),
            Ok(None)
        );
    }

    #[test]
    fn reserved_type_and_flags_are_refused() {
        assert_eq!(
            parse_fixed_header(&[0x00, 0x00], MAX_PACKET_SIZE),
            Err(DecodeError::ReservedPacketType)
        );
        for first in [0x80, 0x83, 0x60, 0xA0, 0xC1, 0xE8, 0x11] {
            assert!(
                matches!(
                    parse_fixed_header(&[first, 0x00], MAX_PACKET_SIZE),
                    Err(DecodeError::InvalidFlags { .. })
                ),
                "{first:#x} accepted"
            );
        }
    }
}
