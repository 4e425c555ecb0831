//! One test per protocol-violation class: the offending connection gets the right MQTT 5
//! reason code (or a plain close on 3.x), while a client connected at the same time keeps
//! publishing and receiving, and a message queued for it is not lost.

mod support;

use std::net::SocketAddr;
use support::*;

/// Runs `bad` (bytes sent after CONNECT) for every version and checks the outcome; a
/// bystander with a message in flight keeps working throughout.
async fn offence(bad: impl Fn(u8) -> Vec<u8>, v5_reason: u8, versions: &[u8]) {
    let (_broker, address) = start_broker(|c| c.max_packet_size = 1000).await;
    let mut bystander = RawClient::connect(address, Connect::new(V311, "bystander")).await;
    bystander.subscribe("ok/#", 1).await;
    let mut publisher = RawClient::connect(address, Connect::new(V311, "publisher")).await;
    publisher.publish_qos1("ok/before", b"1", 1).await;
    for &version in versions {
        let mut offender = RawClient::connect(address, Connect::new(version, "offender")).await;
        offender.send(&bad(version)).await;
        if version == V5 {
            offender.expect_disconnect(v5_reason).await;
        } else {
            assert!(offender.expect_closed().await.is_empty());
        }
    }
    still_serving(address, &mut bystander, &mut publisher).await;
}

async fn still_serving(address: SocketAddr, bystander: &mut RawClient, publisher: &mut RawClient) {
    // The message routed before the offence is still there, then a new one flows.
    bystander
        .expect(&Publish::new("ok/before", b"1").qos(1, 1).bytes(V311))
        .await;
    bystander.send(&puback(1)).await;
    publisher.publish_qos1("ok/after", b"2", 2).await;
    bystander
        .expect(&Publish::new("ok/after", b"2").qos(1, 2).bytes(V311))
        .await;
    let mut newcomer = RawClient::connect(address, Connect::new(V5, "newcomer")).await;
    newcomer.send(&PINGREQ).await;
    newcomer.expect(&PINGRESP).await;
}

#[tokio::test]
async fn malformed_remaining_length_closes_only_that_connection() {
    offence(|_| vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], 0x81, &ALL).await;
}

#[tokio::test]
async fn truncated_body_is_malformed() {
    // PUBLISH claiming a 10-byte topic in a 4-byte body.
    offence(|_| vec![0x30, 0x04, 0x00, 0x0A, b'a', b'b'], 0x81, &ALL).await;
}

#[tokio::test]
async fn wrong_first_packet_closes_without_connack() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut bystander = RawClient::connect(address, Connect::new(V311, "bystander")).await;
    bystander.subscribe("ok/#", 1).await;
    let mut publisher = RawClient::connect(address, Connect::new(V311, "publisher")).await;
    publisher.publish_qos1("ok/before", b"1", 1).await;
    for first in [
        subscribe(V311, 1, &[("a", 0)], &[]),
        PINGREQ.to_vec(),
        DISCONNECT.to_vec(),
    ] {
        let mut offender = RawClient::open(address).await;
        offender.send(&first).await;
        assert!(offender.expect_closed().await.is_empty());
    }
    still_serving(address, &mut bystander, &mut publisher).await;
}

#[tokio::test]
async fn wildcard_in_publish_topic_is_0x90() {
    offence(
        |version| Publish::new("a/+/b", b"x").bytes(version),
        0x90,
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn oversized_packet_is_0x95() {
    offence(
        |version| Publish::new("ok/big", &[0u8; 2000]).bytes(version),
        0x95,
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn invalid_utf8_topic_is_malformed() {
    offence(
        |version| {
            let mut body = vec![0x00, 0x02, 0xC3, 0x28];
            if version == V5 {
                body.push(0);
            }
            body.push(b'x');
            packet(0x30, &body)
        },
        0x81,
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn qos_3_is_malformed() {
    offence(
        |version| {
            let mut bytes = Publish::new("q", b"x").qos(1, 1).bytes(version);
            bytes[0] = 0x36;
            bytes
        },
        0x81,
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn packet_id_zero_is_refused() {
    offence(
        |version| Publish::new("q", b"x").qos(1, 0).bytes(version),
        0x82,
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn topic_alias_out_of_range_is_0x94() {
    offence(
        |_| {
            Publish::new("q", b"x")
                .property(prop_u16(0x23, 0))
                .bytes(V5)
        },
        0x94,
        &[V5],
    )
    .await;
}

#[tokio::test]
async fn reserved_flags_in_subscribe_are_malformed() {
    offence(
        |version| {
            let mut bytes = subscribe(version, 1, &[("a", 0)], &[]);
            bytes[0] = 0x80;
            bytes
        },
        0x81,
        &ALL,
    )
    .await;
}

#[tokio::test]
async fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    offence(
        |_| subscribe(V5, 1, &[("$share/g/a", 0x04)], &[]),
        0x82,
        &[V5],
    )
    .await;
}
