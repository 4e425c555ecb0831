//! The MQTT data representation ([MQTT 5.0 §1.5]): big-endian integers, variable byte
//! integers, length-prefixed UTF-8 strings and binary data.
//!
//! Readers take the packet body as `Bytes` and return slices of it where they can (topics,
//! payloads), so decoded data shares the read buffer. Writers append to a `BytesMut` the
//! caller has already reserved; every length was checked before the first byte is written.

use super::error::{DecodeError, EncodeError};
use super::topic::{TopicError, TopicName};
use super::MAX_REMAINING_LENGTH;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

pub(crate) fn read_u8(buf: &mut Bytes, what: &'static str) -> Result<u8, DecodeError> {
    if buf.is_empty() {
        return Err(DecodeError::Truncated(what));
    }
    Ok(buf.get_u8())
}

pub(crate) fn read_u16(buf: &mut Bytes, what: &'static str) -> Result<u16, DecodeError> {
    if buf.len() < 2 {
        return Err(DecodeError::Truncated(what));
    }
    Ok(buf.get_u16())
}

pub(crate) fn read_u32(buf: &mut Bytes, what: &'static str) -> Result<u32, DecodeError> {
    if buf.len() < 4 {
        return Err(DecodeError::Truncated(what));
    }
    Ok(buf.get_u32())
}

/// Outcome of parsing a variable byte integer from the front of a slice.
pub(crate) enum VarInt {
    /// The value and how many bytes it took.
    Complete(u32, usize),
    /// The slice ends inside the integer.
    Incomplete,
}

/// Parses a variable byte integer ([MQTT 5.0 §1.5.5]) from the front of `bytes`:
/// at most four bytes, minimally encoded ([MQTT-1.5.5-1]).
pub(crate) fn parse_variable_integer(bytes: &[u8]) -> Result<VarInt, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // A last byte of 0 after a first byte means a shorter encoding existed.
            if i > 0 && byte == 0 {
                return Err(DecodeError::NonMinimalVariableInteger);
            }
            return Ok(VarInt::Complete(value, i + 1));
        }
    }
    if bytes.len() >= 4 {
        Err(DecodeError::MalformedRemainingLength)
    } else {
        Ok(VarInt::Incomplete)
    }
}

pub(crate) fn read_variable_integer(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<u32, DecodeError> {
    match parse_variable_integer(buf)? {
        VarInt::Complete(value, len) => {
            buf.advance(len);
            Ok(value)
        }
        VarInt::Incomplete => Err(DecodeError::Truncated(what)),
    }
}

/// Two-byte length then that many bytes, as a slice of `buf`.
pub(crate) fn read_binary(buf: &mut Bytes, what: &'static str) -> Result<Bytes, DecodeError> {
    let len = usize::from(read_u16(buf, what)?);
    if buf.len() < len {
        return Err(DecodeError::Truncated(what));
    }
    Ok(buf.split_to(len))
}

/// A UTF-8 string as a slice of `buf`: well-formed and free of U+0000 ([MQTT-1.5.4-1,2]).
pub(crate) fn read_byte_string(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<ByteString, DecodeError> {
    let bytes = read_binary(buf, what)?;
    if bytes.contains(&0) {
        return Err(DecodeError::InvalidUtf8);
    }
    ByteString::try_from(bytes).map_err(|_| DecodeError::InvalidUtf8)
}

/// A topic name as a slice of `buf`, checked in one pass: UTF-8 without U+0000 and without
/// wildcards. Empty is returned as `None`: whether it is allowed depends on the properties.
/// This is the PUBLISH hot path, hence one branch-free (vectorisable) scan instead of the
/// three of `read_byte_string` + `TopicName::new`.
pub(crate) fn read_topic_name(
    buf: &mut Bytes,
    what: &'static str,
) -> Result<Option<TopicName>, DecodeError> {
    let bytes = read_binary(buf, what)?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let (mut nul, mut wildcard, mut high) = (false, false, 0u8);
    for &b in bytes.iter() {
        nul |= b == 0;
        wildcard |= (b == b'+') | (b == b'#');
        high |= b;
    }
    if nul {
        return Err(DecodeError::InvalidUtf8);
    }
    if high >= 0x80 && std::str::from_utf8(&bytes).is_err() {
        return Err(DecodeError::InvalidUtf8);
    }
    if wildcard {
        return Err(DecodeError::InvalidTopicName(TopicError::WildcardInName));
    }
    let topic = ByteString::try_from(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok(Some(TopicName::from_checked(topic)))
}

/// A UTF-8 string copied into an owned `String` (client id, user name, property values).
pub(crate) fn read_string(buf: &mut Bytes, what: &'static str) -> Result<String, DecodeError> {
    let len = usize::from(read_u16(buf, what)?);
    if buf.len() < len {
        return Err(DecodeError::Truncated(what));
    }
    let bytes = &buf[..len];
    if bytes.contains(&0) {
        return Err(DecodeError::InvalidUtf8);
    }
    let s = std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::InvalidUtf8)?
        .to_owned();
    buf.advance(len);
    Ok(s)
}

/// Bytes left after a body was read completely are an error ([MQTT 5.0 §4.13]).
pub(crate) fn expect_end(buf: &Bytes) -> Result<(), DecodeError> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes(buf.len()))
    }
}

/// Bytes a variable byte integer takes; `value` must be at most `MAX_VARIABLE_INTEGER`.
pub(crate) fn variable_integer_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub(crate) fn check_variable_integer(value: usize) -> Result<(), EncodeError> {
    if value > MAX_REMAINING_LENGTH {
        Err(EncodeError::VariableIntegerTooLarge(
            u32::try_from(value).unwrap_or(u32::MAX),
        ))
    } else {
        Ok(())
    }
}

/// Length of a length-prefixed string or binary field, checked against the 16-bit prefix.
pub(crate) fn field_len(len: usize) -> Result<usize, EncodeError> {
    if len > usize::from(u16::MAX) {
        Err(EncodeError::FieldTooLong(len))
    } else {
        Ok(2 + len)
    }
}

pub(crate) fn write_variable_integer(mut value: usize, out: &mut BytesMut) {
    loop {
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

/// Writes a length-prefixed field whose length `field_len` already accepted.
pub(crate) fn write_binary(bytes: &[u8], out: &mut BytesMut) {
    out.put_u16(bytes.len() as u16);
    out.put_slice(bytes);
}
