//! MQTT 5 features on the wire: topic aliases, message expiry, Receive Maximum and
//! Maximum Packet Size both ways, property forwarding, session expiry.

mod support;

use std::time::Duration;
use support::*;

#[tokio::test]
async fn inbound_topic_alias_is_resolved_and_out_of_range_is_0x94() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut sub = RawClient::connect(address, Connect::new(V5, "sub")).await;
    sub.subscribe("alias/t", 0).await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher
        .send(
            &Publish::new("alias/t", b"1")
                .property(prop_u16(0x23, 2))
                .bytes(V5),
        )
        .await;
    publisher
        .send(&Publish::new("", b"2").property(prop_u16(0x23, 2)).bytes(V5))
        .await;
    // The alias is not forwarded: subscribers see the topic.
    sub.expect(&Publish::new("alias/t", b"1").bytes(V5)).await;
    sub.expect(&Publish::new("alias/t", b"2").bytes(V5)).await;
    publisher
        .send(
            &Publish::new("x", b"3")
                .property(prop_u16(0x23, 11))
                .bytes(V5),
        )
        .await;
    publisher.expect_disconnect(0x94).await;
    let mut other = RawClient::connect(address, Connect::new(V5, "other")).await;
    other
        .send(&Publish::new("", b"4").property(prop_u16(0x23, 1)).bytes(V5))
        .await;
    other.expect_disconnect(0x82).await;
}

#[tokio::test]
async fn message_expiry_drops_expired_queued_messages_and_forwards_the_remainder() {
    let (_broker, address) = start_broker(|_| {}).await;
    let connect = || {
        Connect::new(V5, "away")
            .clean(false)
            .property(prop_u32(0x11, 60))
    };
    let mut sub = RawClient::connect(address, connect()).await;
    sub.subscribe("e/#", 1).await;
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher
        .send(
            &Publish::new("e/short", b"s")
                .qos(1, 1)
                .property(prop_u32(0x02, 1))
                .bytes(V5),
        )
        .await;
    publisher.expect(&puback(1)).await;
    publisher
        .send(
            &Publish::new("e/long", b"l")
                .qos(1, 2)
                .property(prop_u32(0x02, 100))
                .bytes(V5),
        )
        .await;
    publisher.expect(&puback(2)).await;
    // Let the short one expire while the subscriber is away.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut sub = RawClient::open(address).await;
    sub.send(&connect().bytes()).await;
    sub.expect(&connack_v5_default(true)).await;
    let received = parse_publish(&sub.recv().await, V5);
    assert_eq!(received.topic, "e/long");
    assert_eq!(received.properties[0], 0x02);
    let remaining = u32::from_be_bytes(received.properties[1..5].try_into().unwrap());
    assert!((98..=100).contains(&remaining), "{remaining}");
    sub.send(&puback(received.packet_id)).await;
    assert!(sub.drain_with_ping().await.is_empty());
}

#[tokio::test]
async fn inbound_receive_maximum_excess_is_0x93() {
    let (_broker, address) = start_broker(|c| c.max_inflight_messages = 2).await;
    let mut client = RawClient::open(address).await;
    client.send(&Connect::new(V5, "rm").bytes()).await;
    client
        .expect(&connack(
            V5,
            false,
            0,
            &[prop_u16(0x21, 2), prop_u16(0x22, 10)],
        ))
        .await;
    // QoS 2 PUBLISHes stay unacknowledged until PUBREL.
    for packet_id in 1..=2 {
        client
            .send(&Publish::new("q", b"x").qos(2, packet_id).bytes(V5))
            .await;
        client.expect(&pubrec(packet_id)).await;
    }
    client
        .send(&Publish::new("q", b"x").qos(2, 3).bytes(V5))
        .await;
    client.expect_disconnect(0x93).await;
}

#[tokio::test]
async fn oversized_packets_are_refused_with_0x95_and_never_sent_to_a_smaller_client() {
    let (_broker, address) = start_broker(|c| c.max_packet_size = 100).await;
    let mut small = RawClient::open(address).await;
    small
        .send(
            &Connect::new(V5, "small")
                .property(prop_u32(0x27, 30))
                .bytes(),
        )
        .await;
    small
        .expect(&connack(
            V5,
            false,
            0,
            &[prop_u16(0x21, 20), prop_u32(0x27, 100), prop_u16(0x22, 10)],
        ))
        .await;
    small.version = V5;
    small.subscribe("big/#", 0).await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher
        .send(&Publish::new("big/a", &[b'x'; 40]).bytes(V5))
        .await;
    publisher
        .send(&Publish::new("big/b", b"fits").bytes(V5))
        .await;
    small
        .expect(&Publish::new("big/b", b"fits").bytes(V5))
        .await;
    publisher
        .send(&Publish::new("big/c", &[b'y'; 200]).bytes(V5))
        .await;
    publisher.expect_disconnect(0x95).await;
    // 3.x: the same packet closes the connection.
    let mut old = RawClient::connect(address, Connect::new(V311, "old")).await;
    old.send(&Publish::new("big/c", &[b'y'; 200]).bytes(V311))
        .await;
    assert!(old.expect_closed().await.is_empty());
    small.send(&PINGREQ).await;
    small.expect(&PINGRESP).await;
}

#[tokio::test]
async fn publish_properties_are_forwarded_unchanged() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut sub = RawClient::connect(address, Connect::new(V5, "sub")).await;
    sub.subscribe("p", 0).await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    let properties = vec![
        prop_u8(0x01, 1),
        prop_str(0x03, "application/json"),
        prop_str(0x08, "reply/here"),
        prop_bin(0x09, b"\x00\x01corr"),
        prop_pair("k", "v"),
        prop_pair("k", "v2"),
    ];
    let mut message = Publish::new("p", b"{}");
    for p in &properties {
        message = message.property(p.clone());
    }
    publisher.send(&message.bytes(V5)).await;
    sub.expect(&message.bytes(V5)).await;
    // A 3.x subscriber gets the message without properties.
    let mut old = RawClient::connect(address, Connect::new(V311, "old")).await;
    old.subscribe("p", 0).await;
    publisher.send(&message.bytes(V5)).await;
    old.expect(&Publish::new("p", b"{}").bytes(V311)).await;
}

#[tokio::test]
async fn session_expiry_interval_ends_the_session() {
    let (broker, address) = start_broker(|_| {}).await;
    let connect = || {
        Connect::new(V5, "brief")
            .clean(false)
            .property(prop_u32(0x11, 1))
    };
    let client = RawClient::connect(address, connect()).await;
    drop(client);
    let mut again = RawClient::open(address).await;
    again.send(&connect().bytes()).await;
    again.expect(&connack_v5_default(true)).await;
    again.send(&DISCONNECT).await;
    again.expect_closed().await;
    // Wait (bounded) until the broker has let the session go.
    let deadline = tokio::time::Instant::now() + WAIT;
    while broker.stats().clients_disconnected != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut later = RawClient::open(address).await;
    later.send(&connect().bytes()).await;
    later.expect(&connack_v5_default(false)).await;
    // Setting an expiry on DISCONNECT after 0 in CONNECT is a protocol error.
    let mut zero = RawClient::connect(address, Connect::new(V5, "zero")).await;
    zero.send(&disconnect_v5(0x00, &[prop_u32(0x11, 10)])).await;
    zero.expect_disconnect(0x82).await;
}

#[tokio::test]
async fn v3_persistent_session_expires_after_persistent_client_expiration() {
    let (broker, address) = start_broker(|c| c.persistent_client_expiration = Some(1)).await;
    let connect = || Connect::new(V311, "p3").clean(false);
    let mut client = RawClient::connect(address, connect()).await;
    client.send(&DISCONNECT).await;
    client.expect_closed().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while broker.stats().clients_disconnected != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut again = RawClient::open(address).await;
    again.send(&connect().bytes()).await;
    again.expect(&connack_ok(V311, false)).await;
}
