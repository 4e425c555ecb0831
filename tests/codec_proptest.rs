//! Property-based tests of the codec: every valid packet of every version survives
//! encode -> decode unchanged (also when fed byte by byte), and random or mutated bytes
//! never make `decode` panic; whatever it accepts re-encodes to the same packet.

use bytes::{Bytes, BytesMut};
use ferromqtt::protocol::{
    decode, encode, encoded_len, Auth, ConnAck, Connect, Disconnect, Packet, PacketType,
    Properties, Property, ProtocolVersion, Publish, PublishResponse, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName,
    UnsubAck, Unsubscribe, Will, MAX_PACKET_SIZE,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

const V31: ProtocolVersion = ProtocolVersion::V31;
const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn arb_version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(V31), Just(V311), Just(V5)]
}

/// Any UTF-8 string without U+0000, kept short.
fn arb_string() -> BoxedStrategy<String> {
    "[^\\x00]{0,6}".boxed()
}

fn arb_bytes() -> BoxedStrategy<Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from).boxed()
}

fn arb_qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn arb_topic_name() -> BoxedStrategy<TopicName> {
    "[a-zA-Z0-9$/ é]{1,12}"
        .prop_filter_map("not a topic name", |s| TopicName::new(s.as_str()).ok())
        .boxed()
}

fn arb_topic_filter() -> BoxedStrategy<TopicFilter> {
    let level = prop_oneof![3 => "[a-z$]{0,3}", 1 => Just("+".to_owned())];
    (
        vec(level, 1..4),
        any::<bool>(),
        prop::option::of("[a-z]{1,3}"),
    )
        .prop_filter_map("not a topic filter", |(levels, hash, group)| {
            let mut s = levels.join("/");
            if hash {
                s.push_str("/#");
            }
            if let Some(group) = group {
                s = format!("$share/{group}/{s}");
            }
            TopicFilter::new(s.as_str()).ok()
        })
        .boxed()
}

/// A valid value of the property with this identifier.
fn arb_property(identifier: u8) -> BoxedStrategy<Property> {
    use Property::*;
    let boolean = || 0u8..=1;
    match identifier {
        0x01 => boolean().prop_map(PayloadFormatIndicator).boxed(),
        0x02 => any::<u32>().prop_map(MessageExpiryInterval).boxed(),
        0x03 => arb_string().prop_map(ContentType).boxed(),
        0x08 => arb_string().prop_map(ResponseTopic).boxed(),
        0x09 => arb_bytes().prop_map(CorrelationData).boxed(),
        0x0B => (1u32..=268_435_455)
            .prop_map(SubscriptionIdentifier)
            .boxed(),
        0x11 => any::<u32>().prop_map(SessionExpiryInterval).boxed(),
        0x12 => arb_string().prop_map(AssignedClientIdentifier).boxed(),
        0x13 => any::<u16>().prop_map(ServerKeepAlive).boxed(),
        0x15 => arb_string().prop_map(AuthenticationMethod).boxed(),
        0x16 => arb_bytes().prop_map(AuthenticationData).boxed(),
        0x17 => boolean().prop_map(RequestProblemInformation).boxed(),
        0x18 => any::<u32>().prop_map(WillDelayInterval).boxed(),
        0x19 => boolean().prop_map(RequestResponseInformation).boxed(),
        0x1A => arb_string().prop_map(ResponseInformation).boxed(),
        0x1C => arb_string().prop_map(ServerReference).boxed(),
        0x1F => arb_string().prop_map(ReasonString).boxed(),
        0x21 => (1u16..).prop_map(ReceiveMaximum).boxed(),
        0x22 => any::<u16>().prop_map(TopicAliasMaximum).boxed(),
        0x23 => (1u16..).prop_map(TopicAlias).boxed(),
        0x24 => boolean().prop_map(MaximumQoS).boxed(),
        0x25 => boolean().prop_map(RetainAvailable).boxed(),
        0x27 => (1u32..).prop_map(MaximumPacketSize).boxed(),
        0x28 => boolean().prop_map(WildcardSubscriptionAvailable).boxed(),
        0x29 => boolean().prop_map(SubscriptionIdentifierAvailable).boxed(),
        0x2A => boolean().prop_map(SharedSubscriptionAvailable).boxed(),
        _ => (arb_string(), arb_string())
            .prop_map(|(k, v)| UserProperty(k, v))
            .boxed(),
    }
}

const CONNECT_IDS: &[u8] = &[0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x27];
const CONNACK_IDS: &[u8] = &[
    0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x27, 0x28, 0x29, 0x2A,
];
const PUBLISH_IDS: &[u8] = &[0x01, 0x02, 0x03, 0x08, 0x09, 0x23];
const WILL_IDS: &[u8] = &[0x01, 0x02, 0x03, 0x08, 0x09, 0x18];
const REASON_STRING_ONLY: &[u8] = &[0x1F];
const SUBSCRIBE_IDS: &[u8] = &[0x0B];
const DISCONNECT_IDS: &[u8] = &[0x11, 0x1C, 0x1F];
const AUTH_IDS: &[u8] = &[0x15, 0x16, 0x1F];

/// Properties for a context: each allowed identifier at most once, plus 0..3 user
/// properties (and, for PUBLISH, 0..3 subscription identifiers). Empty before v5.
fn arb_properties(version: ProtocolVersion, ids: &'static [u8]) -> BoxedStrategy<Properties> {
    if !version.is_v5() {
        return Just(Properties::new()).boxed();
    }
    let repeated = if ids == PUBLISH_IDS {
        vec(prop_oneof![arb_property(0x26), arb_property(0x0B)], 0..3).boxed()
    } else {
        vec(arb_property(0x26), 0..3).boxed()
    };
    (subsequence(ids, 0..=ids.len()), repeated)
        .prop_flat_map(|(ids, repeated)| {
            let singles: Vec<_> = ids.iter().map(|&id| arb_property(id)).collect();
            (singles, Just(repeated))
        })
        .prop_map(|(mut properties, repeated)| {
            properties.extend(repeated);
            Properties(properties)
        })
        .boxed()
}

fn codes_for(packet_type: PacketType) -> Vec<ReasonCode> {
    (0..=255u8)
        .filter_map(ReasonCode::from_u8)
        .filter(|code| code.is_valid_for(packet_type))
        .collect()
}

fn arb_connect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let will = (
        arb_topic_name(),
        arb_bytes(),
        arb_qos(),
        any::<bool>(),
        arb_properties(version, WILL_IDS),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    (
        (arb_string(), any::<bool>(), any::<bool>(), any::<u16>()),
        prop::option::of(will),
        prop::option::of(arb_string()),
        prop::option::of(arb_bytes()),
        arb_properties(version, CONNECT_IDS),
    )
        .prop_map(
            move |(
                (client_id, bridge, clean_start, keep_alive),
                will,
                username,
                password,
                properties,
            )| {
                let mut connect = Connect::new(version, client_id);
                connect.bridge = bridge;
                connect.clean_start = clean_start;
                connect.keep_alive = keep_alive;
                connect.will = will;
                // 3.x has no password without a user name ([MQTT-3.1.2-22]).
                connect.username = match (&username, &password, version.is_v5()) {
                    (None, Some(_), false) => Some(String::new()),
                    _ => username,
                };
                connect.password = password;
                connect.properties = properties;
                Packet::from(connect)
            },
        )
        .boxed()
}

fn arb_connack(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let codes = if version.is_v5() {
        codes_for(PacketType::ConnAck)
    } else {
        (0..=5).filter_map(ReasonCode::from_connack_v3).collect()
    };
    (
        any::<bool>(),
        select(codes),
        arb_properties(version, CONNACK_IDS),
    )
        .prop_map(|(session_present, reason_code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present,
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn arb_publish(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        (arb_qos(), any::<bool>(), any::<bool>(), 1u16..),
        arb_topic_name(),
        arb_properties(version, PUBLISH_IDS),
        vec(any::<u8>(), 0..40),
        (any::<bool>(), 1u16..),
    )
        .prop_map(
            move |(
                (qos, dup, retain, packet_id),
                topic,
                properties,
                payload,
                (alias_only, alias),
            )| {
                let mut publish = Publish::new(topic, qos, payload);
                publish.retain = retain;
                if qos != QoS::AtMostOnce {
                    publish.dup = dup;
                    publish.packet_id = packet_id;
                }
                publish.properties = properties;
                if version.is_v5() && alias_only {
                    publish.topic = TopicName::empty();
                    publish.properties.set(Property::TopicAlias(alias));
                }
                Packet::Publish(publish)
            },
        )
        .boxed()
}

/// One of PUBACK..PUBCOMP: its type and its `Packet` constructor.
type ResponseKind = (PacketType, fn(PublishResponse) -> Packet);

fn arb_response(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let kinds: [ResponseKind; 4] = [
        (PacketType::PubAck, Packet::PubAck),
        (PacketType::PubRec, Packet::PubRec),
        (PacketType::PubRel, Packet::PubRel),
        (PacketType::PubComp, Packet::PubComp),
    ];
    (select(kinds.to_vec()), 1u16.., any::<prop::sample::Index>())
        .prop_flat_map(move |((packet_type, make), packet_id, index)| {
            let codes = codes_for(packet_type);
            let reason_code = if version.is_v5() {
                *index.get(&codes)
            } else {
                ReasonCode::Success
            };
            arb_properties(version, REASON_STRING_ONLY).prop_map(move |properties| {
                make(PublishResponse {
                    packet_id,
                    reason_code,
                    properties,
                })
            })
        })
        .boxed()
}

fn arb_subscribe(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let retain_handling = prop_oneof![
        Just(RetainHandling::SendOnSubscribe),
        Just(RetainHandling::SendIfNewSubscription),
        Just(RetainHandling::DoNotSend)
    ];
    let subscription = (
        arb_topic_filter(),
        arb_qos(),
        any::<bool>(),
        any::<bool>(),
        retain_handling,
    )
        .prop_map(
            move |(filter, qos, no_local, retain_as_published, retain_handling)| {
                let options = if version.is_v5() {
                    SubscriptionOptions {
                        qos,
                        // [MQTT-3.8.3-4] not on a shared subscription
                        no_local: no_local && filter.shared().is_none(),
                        retain_as_published,
                        retain_handling,
                    }
                } else {
                    SubscriptionOptions {
                        qos,
                        ..SubscriptionOptions::default()
                    }
                };
                Subscription { filter, options }
            },
        );
    (
        1u16..,
        vec(subscription, 1..4),
        arb_properties(version, SUBSCRIBE_IDS),
    )
        .prop_map(|(packet_id, subscriptions, properties)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions,
                properties,
            })
        })
        .boxed()
}

fn arb_suback(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let codes = if version.is_v5() {
        codes_for(PacketType::SubAck)
    } else {
        [0x00, 0x01, 0x02, 0x80]
            .into_iter()
            .filter_map(ReasonCode::from_u8)
            .collect()
    };
    (
        1u16..,
        vec(select(codes), 1..5),
        arb_properties(version, REASON_STRING_ONLY),
    )
        .prop_map(|(packet_id, reason_codes, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reason_codes,
                properties,
            })
        })
        .boxed()
}

fn arb_unsubscribe(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        1u16..,
        vec(arb_topic_filter(), 1..4),
        arb_properties(version, &[]),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        })
        .boxed()
}

fn arb_unsuback(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let count = if version.is_v5() { 1..5 } else { 0..1 };
    (
        1u16..,
        vec(select(codes_for(PacketType::UnsubAck)), count),
        arb_properties(version, REASON_STRING_ONLY),
    )
        .prop_map(|(packet_id, reason_codes, properties)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                reason_codes,
                properties,
            })
        })
        .boxed()
}

fn arb_disconnect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let codes = if version.is_v5() {
        codes_for(PacketType::Disconnect)
    } else {
        vec![ReasonCode::Success]
    };
    (select(codes), arb_properties(version, DISCONNECT_IDS))
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn arb_auth() -> BoxedStrategy<Packet> {
    (
        select(codes_for(PacketType::Auth)),
        arb_properties(V5, AUTH_IDS),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn arb_packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        1 => arb_connect(version),
        1 => arb_connack(version),
        3 => arb_publish(version),
        2 => arb_response(version),
        1 => arb_subscribe(version),
        1 => arb_suback(version),
        1 => arb_unsubscribe(version),
        1 => arb_unsuback(version),
        1 => Just(Packet::PingReq),
        1 => Just(Packet::PingResp),
        1 => arb_disconnect(version),
    ];
    if version.is_v5() {
        prop_oneof![12 => common, 1 => arb_auth()].boxed()
    } else {
        common.boxed()
    }
}

fn arb_versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    arb_version().prop_flat_map(|version| (Just(version), arb_packet(version)))
}

fn encode_to_bytes(packet: &Packet, version: ProtocolVersion) -> BytesMut {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).unwrap_or_else(|e| panic!("{packet:?}: {e}"));
    out
}

/// Decodes everything in `bytes` until the codec asks for more or refuses; whatever it
/// accepts must re-encode and decode to the same packet. Must never panic.
fn decode_everything(bytes: &[u8], version: ProtocolVersion, max_packet_size: u32) {
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(packet)) = decode(&mut buf, version, max_packet_size) {
        let mut again = encode_to_bytes(&packet, version);
        assert_eq!(
            decode(&mut again, version, MAX_PACKET_SIZE),
            Ok(Some(packet)),
            "accepted packet does not survive a round trip"
        );
        assert!(again.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn every_valid_packet_round_trips((version, packet) in arb_versioned_packet()) {
        let mut wire = encode_to_bytes(&packet, version);
        prop_assert_eq!(encoded_len(&packet, version), Ok(wire.len()));
        let decoded = decode(&mut wire, version, MAX_PACKET_SIZE);
        prop_assert_eq!(decoded, Ok(Some(packet)));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn a_packet_fed_byte_by_byte_appears_with_its_last_byte(
        (version, packet) in arb_versioned_packet()
    ) {
        let wire = encode_to_bytes(&packet, version);
        let mut buf = BytesMut::new();
        for (i, byte) in wire.iter().enumerate() {
            buf.extend_from_slice(&[*byte]);
            let result = decode(&mut buf, version, MAX_PACKET_SIZE);
            if i + 1 < wire.len() {
                prop_assert_eq!(result, Ok(None));
            } else {
                prop_assert_eq!(result, Ok(Some(packet.clone())));
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..80),
        version in arb_version(),
        max in prop_oneof![Just(MAX_PACKET_SIZE), Just(16u32), Just(4u32)],
    ) {
        decode_everything(&bytes, version, max);
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        (version, packet) in arb_versioned_packet(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncate in prop::option::of(any::<prop::sample::Index>()),
        decode_version in arb_version(),
        max in prop_oneof![Just(MAX_PACKET_SIZE), Just(24u32)],
    ) {
        let mut wire = encode_to_bytes(&packet, version).to_vec();
        for (index, byte) in flips {
            let i = index.index(wire.len());
            wire[i] = byte;
        }
        if let Some(index) = truncate {
            wire.truncate(index.index(wire.len() + 1));
        }
        decode_everything(&wire, decode_version, max);
    }

    #[test]
    fn valid_packets_decoded_in_another_version_never_panic(
        (version, packet) in arb_versioned_packet(),
        decode_version in arb_version(),
    ) {
        let wire = encode_to_bytes(&packet, version);
        decode_everything(&wire, decode_version, MAX_PACKET_SIZE);
    }
}
