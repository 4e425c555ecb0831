//! The abuse limits: connections and connection rate per source address, subscriptions
//! per client and topic levels, each on MQTT 3.1.1 and 5.0.

mod support;

use std::net::Ipv4Addr;
use support::*;

const OTHER_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[tokio::test]
async fn connections_per_address_are_capped_and_the_excess_closed_at_accept() {
    let (_broker, address) = start_broker(|c| c.max_connections_per_address = 2).await;
    for version in [V311, V5] {
        let first = RawClient::connect(address, Connect::new(version, "one")).await;
        let mut second = RawClient::connect(address, Connect::new(version, "two")).await;
        RawClient::open(address).await.expect_refused(version).await;
        // Another address has its own count.
        let other = RawClient::open_from(address, OTHER_ADDRESS)
            .await
            .handshake(Connect::new(version, "elsewhere"))
            .await;
        // A connection that ends gives its place back before the client sees the close.
        second.send(&DISCONNECT).await;
        second.expect_closed().await;
        let third = RawClient::connect(address, Connect::new(version, "three")).await;
        RawClient::open(address).await.expect_refused(version).await;
        // Closing them all leaves room for the next round.
        for mut client in [first, third, other] {
            client.send(&DISCONNECT).await;
            client.expect_closed().await;
        }
    }
}

#[tokio::test]
async fn connection_rate_per_address_refuses_the_excess_at_accept() {
    let (_broker, address) = start_broker(|c| c.max_connection_rate = 2).await;
    // A burst of the rate is admitted; the next connection within the second is closed
    // (MQTT 3.1.1 and 5.0 alike: nothing is read from it).
    let first = RawClient::connect(address, Connect::new(V311, "one")).await;
    let second = RawClient::connect(address, Connect::new(V5, "two")).await;
    RawClient::open(address).await.expect_refused(V311).await;
    RawClient::open(address).await.expect_refused(V5).await;
    // Closing a connection does not give the rate back.
    drop(first);
    RawClient::open(address).await.expect_refused(V5).await;
    let mut other = RawClient::open_from(address, OTHER_ADDRESS)
        .await
        .handshake(Connect::new(V5, "elsewhere"))
        .await;
    // The admitted ones are served as usual.
    other.publish_qos1("t", b"x", 1).await;
    drop(second);
}

#[tokio::test]
async fn subscriptions_past_the_limit_get_quota_exceeded() {
    let (_broker, address) = start_broker(|c| c.max_subscriptions_per_client = 2).await;
    for (version, refused) in [(V311, 0x80), (V5, 0x97)] {
        let mut client = RawClient::connect(address, Connect::new(version, "subs")).await;
        client
            .send(&subscribe(version, 1, &[("a", 0), ("b", 1), ("c", 1)], &[]))
            .await;
        client.expect(&suback(version, 1, &[0, 1, refused])).await;
        // Replacing a held subscription is not a new one.
        client.send(&subscribe(version, 2, &[("a", 1)], &[])).await;
        client.expect(&suback(version, 2, &[1])).await;
        client.send(&unsubscribe(version, 3, &["b"])).await;
        client
            .expect(&unsuback(
                version,
                3,
                if version == V5 { &[0] } else { &[] },
            ))
            .await;
        client
            .send(&subscribe(version, 4, &[("c", 0), ("d", 0)], &[]))
            .await;
        client.expect(&suback(version, 4, &[0, refused])).await;
        // The refused filter was not subscribed: only "c" gets the message.
        let mut publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
        publisher.publish_qos1("d", b"no", 1).await;
        publisher.publish_qos1("c", b"yes", 2).await;
        client
            .expect(&Publish::new("c", b"yes").bytes(version))
            .await;
        assert!(client.drain_with_ping().await.is_empty());
        client.send(&DISCONNECT).await;
        client.expect_closed().await;
    }
}

/// `levels` levels: "l/l/.../l".
fn topic_of(levels: usize) -> String {
    vec!["l"; levels].join("/")
}

#[tokio::test]
async fn topics_past_the_level_limit_are_refused() {
    let (_broker, address) = start_broker(|c| c.max_topic_levels = 3).await;
    for (version, refused) in [(V311, 0x80), (V5, 0x8F)] {
        let mut client = RawClient::connect(address, Connect::new(version, "deep")).await;
        client
            .send(&subscribe(
                version,
                1,
                &[
                    ("a/b/c", 0),
                    ("a/b/c/d", 0),
                    ("a/+/#", 0),
                    ("$share/g/x/y/z", 0),
                ],
                &[],
            ))
            .await;
        client
            .expect(&suback(version, 1, &[0, refused, 0, 0]))
            .await;
        client.publish_qos1("a/b/c", b"fits", 1).await;
        let delivered = parse_publish(&client.recv().await, version);
        assert_eq!(delivered.topic, "a/b/c");
        // A PUBLISH past the limit closes the connection (5.0 says why: 0x90).
        client
            .send(&Publish::new("a/b/c/d", b"deep").qos(1, 2).bytes(version))
            .await;
        if version == V5 {
            client.expect_disconnect(0x90).await;
        } else {
            assert!(client.expect_closed().await.is_empty());
        }
        // A will past the limit refuses the CONNECT (5.0: CONNACK 0x90; 3.1.1: closed).
        let mut will = RawClient::open(address).await;
        will.send(
            &Connect::new(version, "w")
                .will("w/x/y/z", b"w", 0, false)
                .bytes(),
        )
        .await;
        let replies = will.expect_closed().await;
        if version == V5 {
            assert_eq!(replies, vec![connack(V5, false, 0x90, &[])]);
        } else {
            assert!(replies.is_empty(), "{replies:02x?}");
        }
    }
}

#[tokio::test]
async fn default_level_limit_is_200_levels() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in [V311, V5] {
        let mut client = RawClient::connect(address, Connect::new(version, "deep")).await;
        client
            .send(&subscribe(
                version,
                1,
                &[(&topic_of(200), 0), (&topic_of(201), 0)],
                &[],
            ))
            .await;
        let refused = if version == V5 { 0x8F } else { 0x80 };
        client.expect(&suback(version, 1, &[0, refused])).await;
        client.publish_qos1(&topic_of(200), b"ok", 1).await;
        client
            .send(&Publish::new(&topic_of(201), b"no").bytes(version))
            .await;
        let packets = client.expect_closed().await;
        assert_eq!(
            parse_publish(&packets[0], version).topic,
            topic_of(200),
            "{packets:02x?}"
        );
    }
}
