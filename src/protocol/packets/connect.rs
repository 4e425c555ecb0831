//! CONNECT ([MQTT 5.0 §3.1], [MQTT 3.1.1 §3.1], MQTT 3.1 "MQIsdp").
//!
//! The protocol level on the wire decides the version a CONNECT is read in, whatever the
//! connection assumed; the decoded `Connect::protocol_version` tells the broker which
//! version the rest of the connection speaks. Encoding likewise follows that field.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::properties::{
    decode_properties, properties_len, properties_wire_len, write_properties, PropertyContext,
};
use crate::protocol::wire;
use crate::protocol::{Connect, PacketType, Properties, ProtocolVersion, QoS, TopicName, Will};
use bytes::{BufMut, Bytes, BytesMut};

const RESERVED: u8 = 0x01;
const CLEAN_START: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;
/// Set by Mosquitto bridges in the protocol level byte.
const BRIDGE: u8 = 0x80;

pub(crate) fn decode(mut body: Bytes) -> Result<Connect, DecodeError> {
    let name = wire::read_binary(&mut body, "protocol name")?;
    let level_byte = wire::read_u8(&mut body, "protocol level")?;
    let level = level_byte & !BRIDGE;
    let protocol_version = match (&name[..], level) {
        (b"MQIsdp", 3) => ProtocolVersion::V31,
        (b"MQTT", 4) => ProtocolVersion::V311,
        (b"MQTT", 5) => ProtocolVersion::V5,
        (b"MQIsdp" | b"MQTT", _) => return Err(DecodeError::UnsupportedProtocolLevel(level)),
        _ => {
            return Err(DecodeError::InvalidProtocolName(
                String::from_utf8_lossy(&name).into_owned(),
            ))
        }
    };
    let v5 = protocol_version.is_v5();

    let flags = wire::read_u8(&mut body, "connect flags")?;
    if flags & RESERVED != 0 {
        // [MQTT-3.1.2-3]
        return Err(DecodeError::ReservedConnectFlag);
    }
    let has_will = flags & WILL != 0;
    let will_qos_bits = (flags >> 3) & 0b11;
    let will_retain = flags & WILL_RETAIN != 0;
    if !has_will && (will_qos_bits != 0 || will_retain) {
        // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
        return Err(DecodeError::InvalidConnectFlags(
            "will QoS or will retain set without a will",
        ));
    }
    let will_qos =
        QoS::from_u8(will_qos_bits).ok_or(DecodeError::InvalidConnectFlags("will QoS 3"))?; // [MQTT-3.1.2-14]
    let has_password = flags & PASSWORD != 0;
    let has_username = flags & USERNAME != 0;
    if has_password && !has_username && !v5 {
        // [MQTT-3.1.2-22]; MQTT 5 allows a password alone.
        return Err(DecodeError::InvalidConnectFlags(
            "password flag set without the user name flag",
        ));
    }

    let keep_alive = wire::read_u16(&mut body, "keep alive")?;
    let properties = if v5 {
        decode_properties(&mut body, PropertyContext::Packet(PacketType::Connect))?
    } else {
        Properties::new()
    };
    let client_id = wire::read_string(&mut body, "client identifier")?;
    let will = if has_will {
        let properties = if v5 {
            decode_properties(&mut body, PropertyContext::Will)?
        } else {
            Properties::new()
        };
        let topic = wire::read_byte_string(&mut body, "will topic")?;
        let topic = TopicName::new(topic).map_err(DecodeError::InvalidTopicName)?;
        let payload = wire::read_binary(&mut body, "will payload")?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(wire::read_string(&mut body, "user name")?)
    } else {
        None
    };
    let password = if has_password {
        Some(wire::read_binary(&mut body, "password")?)
    } else {
        None
    };
    wire::expect_end(&body)?;
    Ok(Connect {
        protocol_version,
        bridge: level_byte & BRIDGE != 0,
        clean_start: flags & CLEAN_START != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

pub(crate) fn body_len(connect: &Connect) -> Result<usize, EncodeError> {
    let v5 = connect.protocol_version.is_v5();
    let name = connect.protocol_version.protocol_name();
    // name, level, flags, keep alive
    let mut len = 2 + name.len() + 1 + 1 + 2;
    if v5 {
        len += properties_wire_len(&connect.properties)?;
    }
    len += wire::field_len(connect.client_id.len())?;
    if let Some(will) = &connect.will {
        if v5 {
            len += properties_wire_len(&will.properties)?;
        }
        len += wire::field_len(will.topic.as_str().len())?;
        len += wire::field_len(will.payload.len())?;
    }
    if let Some(username) = &connect.username {
        len += wire::field_len(username.len())?;
    }
    if let Some(password) = &connect.password {
        len += wire::field_len(password.len())?;
    }
    Ok(len)
}

pub(crate) fn write(connect: &Connect, out: &mut BytesMut) {
    let version = connect.protocol_version;
    wire::write_binary(version.protocol_name().as_bytes(), out);
    let bridge = if connect.bridge { BRIDGE } else { 0 };
    out.put_u8(version.level() | bridge);
    let mut flags = 0;
    if connect.clean_start {
        flags |= CLEAN_START;
    }
    if let Some(will) = &connect.will {
        flags |= WILL | (will.qos.as_u8() << 3);
        if will.retain {
            flags |= WILL_RETAIN;
        }
    }
    if connect.username.is_some() {
        flags |= USERNAME;
    }
    if connect.password.is_some() {
        flags |= PASSWORD;
    }
    out.put_u8(flags);
    out.put_u16(connect.keep_alive);
    if version.is_v5() {
        write_properties(
            &connect.properties,
            properties_len(&connect.properties),
            out,
        );
    }
    wire::write_binary(connect.client_id.as_bytes(), out);
    if let Some(will) = &connect.will {
        if version.is_v5() {
            write_properties(&will.properties, properties_len(&will.properties), out);
        }
        wire::write_binary(will.topic.as_str().as_bytes(), out);
        wire::write_binary(&will.payload, out);
    }
    if let Some(username) = &connect.username {
        wire::write_binary(username.as_bytes(), out);
    }
    if let Some(password) = &connect.password {
        wire::write_binary(password, out);
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{
        Connect, DecodeError, Packet, Properties, Property, ProtocolVersion, QoS, TopicName, Will,
    };
    use bytes::Bytes;

    fn mqtt_header(level: u8) -> Vec<u8> {
        vec![0x00, 0x04, b'M', b'Q', b'T', b'T', level]
    }

    /// A CONNECT frame with the given variable header after the protocol name and level.
    fn frame(name_and_level: &[u8], rest: &[u8]) -> Vec<u8> {
        let len = name_and_level.len() + rest.len();
        assert!(len < 128);
        let mut wire = vec![0x10, len as u8];
        wire.extend_from_slice(name_and_level);
        wire.extend_from_slice(rest);
        wire
    }

    #[test]
    fn v311_connect_with_credentials_round_trips() {
        // flags 0xC2: user name, password, clean session; keep alive 60; "cid", "u", "p"
        let wire = [
            0x10, 0x15, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xC2, 0x00, 0x3C, 0x00, 0x03,
            b'c', b'i', b'd', 0x00, 0x01, b'u', 0x00, 0x01, b'p',
        ];
        let mut connect = Connect::new(ProtocolVersion::V311, "cid");
        connect.username = Some("u".into());
        connect.password = Some(Bytes::from_static(b"p"));
        let packet = Packet::from(connect);
        // The level on the wire decides, whatever the connection assumed.
        for version in ALL {
            round_trip(&wire, version, &packet);
        }
    }

    #[test]
    fn v31_connect_uses_mqisdp_and_level_3() {
        let wire = [
            0x10, 0x0F, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x0A,
            0x00, 0x01, b'c',
        ];
        let mut connect = Connect::new(ProtocolVersion::V31, "c");
        connect.keep_alive = 10;
        round_trip(&wire, V31, &Packet::from(connect));
    }

    #[test]
    fn v5_connect_with_will_and_properties_round_trips() {
        // flags 0x2E: will retain, will QoS 1, will, clean start; keep alive 30;
        // Session Expiry 120; client id "c"; Will Delay 5; will topic "w", payload "by"
        let wire = [
            0x10, 0x20, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x2E, 0x00, 0x1E, 0x05, 0x11,
            0x00, 0x00, 0x00, 0x78, 0x00, 0x01, b'c', 0x05, 0x18, 0x00, 0x00, 0x00, 0x05, 0x00,
            0x01, b'w', 0x00, 0x02, b'b', b'y',
        ];
        let mut connect = Connect::new(ProtocolVersion::V5, "c");
        connect.keep_alive = 30;
        connect.properties = Properties(vec![Property::SessionExpiryInterval(120)]);
        connect.will = Some(Will {
            topic: TopicName::new("w").unwrap(),
            payload: Bytes::from_static(b"by"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties(vec![Property::WillDelayInterval(5)]),
        });
        let packet = Packet::from(connect);
        round_trip(&wire, V5, &packet);
        // A v5 CONNECT arriving on a connection that assumed 3.1.1 is still read as v5.
        assert_eq!(decode_one(&wire, V311), packet);
    }

    #[test]
    fn bridge_bit_in_the_level_byte_is_kept() {
        let wire = frame(&mqtt_header(0x84), &[0x02, 0x00, 0x3C, 0x00, 0x01, b'b']);
        let mut connect = Connect::new(ProtocolVersion::V311, "b");
        connect.bridge = true;
        round_trip(&wire, V311, &Packet::from(connect));
    }

    #[test]
    fn password_without_user_name_is_allowed_only_in_v5() {
        let rest = [0x42, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x01, b'p'];
        assert!(matches!(
            decode_err(&frame(&mqtt_header(4), &rest), V311),
            DecodeError::InvalidConnectFlags(_)
        ));
        let v5 = [0x42, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x00, 0x01, b'p'];
        let mut connect = Connect::new(ProtocolVersion::V5, "");
        connect.password = Some(Bytes::from_static(b"p"));
        round_trip(&frame(&mqtt_header(5), &v5), V5, &Packet::from(connect));
    }

    #[test]
    fn reserved_connect_flag_is_refused() {
        let wire = frame(&mqtt_header(4), &[0x03, 0x00, 0x3C, 0x00, 0x00]);
        assert_eq!(decode_err(&wire, V311), DecodeError::ReservedConnectFlag);
    }

    #[test]
    fn will_qos_or_retain_without_will_flag_is_refused() {
        // [MQTT-3.1.2-13], [MQTT-3.1.2-15]; 0x1E: will QoS 3
        for flags in [0x0A, 0x12, 0x22, 0x1E] {
            let wire = frame(&mqtt_header(4), &[flags, 0x00, 0x3C, 0x00, 0x00]);
            assert!(
                matches!(decode_err(&wire, V311), DecodeError::InvalidConnectFlags(_)),
                "flags {flags:#x}"
            );
        }
    }

    #[test]
    fn will_qos_3_is_refused() {
        let rest = [0x1E, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x01, b'w', 0x00, 0x00];
        assert!(matches!(
            decode_err(&frame(&mqtt_header(4), &rest), V311),
            DecodeError::InvalidConnectFlags(_)
        ));
    }

    #[test]
    fn protocol_name_and_level_must_agree() {
        let rest = [0x02, 0x00, 0x3C, 0x00, 0x00];
        assert_eq!(
            decode_err(&frame(&mqtt_header(3), &rest), V311),
            DecodeError::UnsupportedProtocolLevel(3)
        );
        assert_eq!(
            decode_err(&frame(&mqtt_header(6), &rest), V311),
            DecodeError::UnsupportedProtocolLevel(6)
        );
        let mqisdp4 = [0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x04];
        assert_eq!(
            decode_err(&frame(&mqisdp4, &rest), V311),
            DecodeError::UnsupportedProtocolLevel(4)
        );
        let other = [0x00, 0x04, b'M', b'Q', b'T', b'X', 0x04];
        assert!(matches!(
            decode_err(&frame(&other, &rest), V311),
            DecodeError::InvalidProtocolName(_)
        ));
    }

    #[test]
    fn client_id_must_be_utf8_without_nul() {
        for id in [[0xC3, 0x28], [b'a', 0x00]] {
            let wire = frame(
                &mqtt_header(4),
                &[0x02, 0x00, 0x3C, 0x00, 0x02, id[0], id[1]],
            );
            assert_eq!(decode_err(&wire, V311), DecodeError::InvalidUtf8);
        }
    }

    #[test]
    fn trailing_bytes_after_connect_are_refused() {
        let wire = frame(&mqtt_header(4), &[0x02, 0x00, 0x3C, 0x00, 0x00, 0xAA]);
        assert_eq!(decode_err(&wire, V311), DecodeError::TrailingBytes(1));
    }

    #[test]
    fn will_topic_must_be_a_topic_name() {
        let rest = [0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x01, b'#', 0x00, 0x00];
        assert!(matches!(
            decode_err(&frame(&mqtt_header(4), &rest), V311),
            DecodeError::InvalidTopicName(_)
        ));
    }

    #[test]
    fn will_properties_refuse_connect_only_properties() {
        // Receive Maximum (0x21) is a CONNECT property, not a will property.
        let rest = [
            0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x03, 0x21, 0x00, 0x05, 0x00, 0x01, b'w', 0x00,
            0x00,
        ];
        assert!(matches!(
            decode_err(&frame(&mqtt_header(5), &rest), V5),
            DecodeError::PropertyNotAllowed { property: 0x21, .. }
        ));
    }

    #[test]
    fn connect_property_values_are_checked() {
        // Receive Maximum 0, Maximum Packet Size 0, Request Problem Information 2
        for property in [
            &[0x03, 0x21, 0x00, 0x00][..],
            &[0x05, 0x27, 0x00, 0x00, 0x00, 0x00][..],
            &[0x02, 0x17, 0x02][..],
        ] {
            let mut rest = vec![0x02, 0x00, 0x3C];
            rest.extend_from_slice(property);
            rest.extend_from_slice(&[0x00, 0x00]);
            assert!(matches!(
                decode_err(&frame(&mqtt_header(5), &rest), V5),
                DecodeError::InvalidPropertyValue(_)
            ));
        }
    }
}
