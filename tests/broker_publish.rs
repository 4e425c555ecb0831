//! QoS 0/1/2 flows through the broker on every version: acknowledgements, downgrade,
//! exactly-once, overlapping subscriptions, wildcards, windows, offline queues, resend.

mod support;

use support::*;

fn expected(topic: &str, payload: &[u8], qos: u8, packet_id: u16) -> Publish {
    Publish::new(topic, payload).qos(qos, packet_id)
}

#[tokio::test]
async fn every_qos_flows_both_ways_on_every_version() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut sub = RawClient::connect(address, Connect::new(version, "sub")).await;
        sub.subscribe("t/#", 2).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;

        publisher
            .send(&Publish::new("t/0", b"zero").bytes(version))
            .await;
        sub.expect(&Publish::new("t/0", b"zero").bytes(version))
            .await;

        publisher
            .send(&Publish::new("t/1", b"one").qos(1, 10).bytes(version))
            .await;
        publisher.expect(&puback(10)).await;
        sub.expect(&expected("t/1", b"one", 1, 1).bytes(version))
            .await;
        sub.send(&puback(1)).await;

        publisher
            .send(&Publish::new("t/2", b"two").qos(2, 11).bytes(version))
            .await;
        publisher.expect(&pubrec(11)).await;
        publisher.send(&pubrel(11)).await;
        publisher.expect(&pubcomp(11)).await;
        sub.expect(&expected("t/2", b"two", 2, 2).bytes(version))
            .await;
        sub.send(&pubrec(2)).await;
        sub.expect(&pubrel(2)).await;
        sub.send(&pubcomp(2)).await;
        assert!(sub.drain_with_ping().await.is_empty());
    }
}

#[tokio::test]
async fn qos_is_downgraded_to_the_granted_qos() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut sub = RawClient::connect(address, Connect::new(version, "sub")).await;
        sub.subscribe("d", 1).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        publisher
            .send(&Publish::new("d", b"x").qos(2, 1).bytes(version))
            .await;
        publisher.expect(&pubrec(1)).await;
        sub.expect(&expected("d", b"x", 1, 1).bytes(version)).await;
        publisher.send(&pubrel(1)).await;
        publisher.expect(&pubcomp(1)).await;
    }
}

#[tokio::test]
async fn resent_qos2_publish_before_pubrel_is_delivered_once() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut sub = RawClient::connect(address, Connect::new(version, "sub")).await;
        sub.subscribe("once", 0).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        let message = Publish::new("once", b"1").qos(2, 7);
        publisher.send(&message.bytes(version)).await;
        publisher.expect(&pubrec(7)).await;
        publisher.send(&message.clone().dup().bytes(version)).await;
        publisher.expect(&pubrec(7)).await;
        publisher.send(&pubrel(7)).await;
        publisher.expect(&pubcomp(7)).await;
        sub.expect(&Publish::new("once", b"1").bytes(version)).await;
        assert!(
            sub.drain_with_ping().await.is_empty(),
            "a second copy arrived"
        );
    }
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in [V311, V5] {
        let mut sub = RawClient::connect(address, Connect::new(version, "sub")).await;
        sub.send(&subscribe(version, 1, &[("o/+", 0), ("o/#", 1)], &[]))
            .await;
        sub.expect(&suback(version, 1, &[0, 1])).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        publisher.publish_qos1("o/x", b"p", 1).await;
        sub.expect(&expected("o/x", b"p", 1, 1).bytes(version))
            .await;
        sub.send(&puback(1)).await;
        assert!(sub.drain_with_ping().await.is_empty());
    }
}

#[tokio::test]
async fn v5_single_copy_carries_every_matching_subscription_identifier() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut sub = RawClient::connect(address, Connect::new(V5, "sub")).await;
    sub.send(&subscribe(V5, 1, &[("s/+", 0)], &[prop_varint(0x0B, 3)]))
        .await;
    sub.expect(&suback(V5, 1, &[0])).await;
    sub.send(&subscribe(V5, 2, &[("s/#", 0)], &[prop_varint(0x0B, 200)]))
        .await;
    sub.expect(&suback(V5, 2, &[0])).await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher.publish_qos1("s/x", b"p", 1).await;
    let received = parse_publish(&sub.recv().await, V5);
    let mut ids = received.properties.clone();
    // Two Subscription Identifier properties, in either order.
    let mut found: Vec<Vec<u8>> = Vec::new();
    while !ids.is_empty() {
        assert_eq!(ids[0], 0x0B, "{:02x?}", received.properties);
        let len = if ids[1] & 0x80 != 0 { 3 } else { 2 };
        found.push(ids.drain(..len).collect());
    }
    found.sort();
    assert_eq!(found, vec![prop_varint(0x0B, 3), prop_varint(0x0B, 200)]);
    assert!(sub.drain_with_ping().await.is_empty());
}

#[tokio::test]
async fn wildcards_and_the_dollar_rule() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut all = RawClient::connect(address, Connect::new(version, "all")).await;
        all.subscribe("#", 0).await;
        let mut dollar = RawClient::connect(address, Connect::new(version, "dollar")).await;
        dollar.subscribe("$app/+", 0).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        publisher.publish_qos1("$app/x", b"d", 1).await;
        publisher.publish_qos1("a/b/c", b"n", 2).await;
        dollar
            .expect(&Publish::new("$app/x", b"d").bytes(version))
            .await;
        all.expect(&Publish::new("a/b/c", b"n").bytes(version))
            .await;
        assert!(
            all.drain_with_ping().await.is_empty(),
            "# matched a $ topic"
        );
        assert!(dollar.drain_with_ping().await.is_empty());
    }
}

#[tokio::test]
async fn unsubscribe_stops_delivery_and_resubscribe_replaces_the_qos() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut sub = RawClient::connect(address, Connect::new(version, "sub")).await;
        sub.subscribe("u", 0).await;
        sub.send(&subscribe(version, 2, &[("u", 1)], &[])).await;
        sub.expect(&suback(version, 2, &[1])).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        publisher.publish_qos1("u", b"1", 1).await;
        sub.expect(&expected("u", b"1", 1, 1).bytes(version)).await;
        sub.send(&puback(1)).await;
        sub.send(&unsubscribe(version, 3, &["u", "never"])).await;
        sub.expect(&unsuback(version, 3, &[0x00, 0x11])).await;
        publisher.publish_qos1("u", b"2", 2).await;
        assert!(sub.drain_with_ping().await.is_empty());
    }
}

#[tokio::test]
async fn v3_outbound_window_holds_messages_until_acknowledged() {
    let (_broker, address) = start_broker(|c| c.max_inflight_messages = 2).await;
    let mut sub = RawClient::connect(address, Connect::new(V311, "sub")).await;
    sub.subscribe("w", 1).await;
    let mut publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
    for packet_id in 1..=3 {
        publisher
            .publish_qos1("w", &[b'0' + packet_id as u8], packet_id)
            .await;
    }
    sub.expect(&expected("w", b"1", 1, 1).bytes(V311)).await;
    sub.expect(&expected("w", b"2", 1, 2).bytes(V311)).await;
    assert!(
        sub.drain_with_ping().await.is_empty(),
        "third sent beyond the window"
    );
    sub.send(&puback(1)).await;
    sub.expect(&expected("w", b"3", 1, 3).bytes(V311)).await;
}

#[tokio::test]
async fn v5_outbound_window_follows_the_client_receive_maximum() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut sub =
        RawClient::connect(address, Connect::new(V5, "sub").property(prop_u16(0x21, 1))).await;
    sub.subscribe("w", 2).await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher.publish_qos1("w", b"1", 1).await;
    publisher.publish_qos1("w", b"2", 2).await;
    sub.expect(&expected("w", b"1", 1, 1).bytes(V5)).await;
    assert!(sub.drain_with_ping().await.is_empty());
    sub.send(&puback(1)).await;
    sub.expect(&expected("w", b"2", 1, 2).bytes(V5)).await;
}

#[tokio::test]
async fn persistent_session_queues_while_offline_and_resends_unacknowledged_with_dup() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let connect = || {
            let c = Connect::new(version, "keeper").clean(false);
            if version == V5 {
                c.property(prop_u32(0x11, 300))
            } else {
                c
            }
        };
        let mut sub = RawClient::connect(address, connect()).await;
        sub.subscribe("k/#", 2).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        publisher.publish_qos1("k/a", b"unacked", 1).await;
        sub.expect(&expected("k/a", b"unacked", 1, 1).bytes(version))
            .await;
        // Leave without acknowledging.
        sub.send(&DISCONNECT).await;
        sub.expect_closed().await;
        publisher.publish_qos1("k/b", b"q1", 2).await;
        publisher
            .send(&Publish::new("k/c", b"q0").bytes(version))
            .await;
        publisher.publish_qos1("k/d", b"q2", 3).await;
        let mut sub = RawClient::open(address).await;
        sub.version = version;
        sub.send(&connect().bytes()).await;
        sub.expect(&connack_ok(version, true)).await;
        sub.expect(&expected("k/a", b"unacked", 1, 1).dup().bytes(version))
            .await;
        sub.expect(&expected("k/b", b"q1", 1, 2).bytes(version))
            .await;
        sub.expect(&expected("k/d", b"q2", 1, 3).bytes(version))
            .await;
        for packet_id in 1..=3 {
            sub.send(&puback(packet_id)).await;
        }
        assert!(
            sub.drain_with_ping().await.is_empty(),
            "QoS 0 was queued offline"
        );
        // Clean up the session for the next version.
        sub.send(&DISCONNECT).await;
        let mut cleaner = RawClient::connect(address, Connect::new(version, "keeper")).await;
        cleaner.send(&DISCONNECT).await;
    }
}

#[tokio::test]
async fn qos0_is_queued_offline_when_configured() {
    let (_broker, address) = start_broker(|c| c.queue_qos0_messages = true).await;
    let mut sub = RawClient::connect(address, Connect::new(V311, "k").clean(false)).await;
    sub.subscribe("z", 0).await;
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;
    let mut publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
    publisher.send(&Publish::new("z", b"0").bytes(V311)).await;
    publisher.drain_with_ping().await;
    let mut sub = RawClient::open(address).await;
    sub.send(&Connect::new(V311, "k").clean(false).bytes())
        .await;
    sub.expect(&connack_ok(V311, true)).await;
    sub.expect(&Publish::new("z", b"0").bytes(V311)).await;
}

#[tokio::test]
async fn v5_no_local_skips_the_publisher_itself() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut client = RawClient::connect(address, Connect::new(V5, "self")).await;
    client.send(&subscribe(V5, 1, &[("n", 0x04)], &[])).await;
    client.expect(&suback(V5, 1, &[0])).await;
    client.send(&subscribe(V5, 2, &[("m", 0x00)], &[])).await;
    client.expect(&suback(V5, 2, &[0])).await;
    client.send(&Publish::new("n", b"mine").bytes(V5)).await;
    client.send(&Publish::new("m", b"echo").bytes(V5)).await;
    client.expect(&Publish::new("m", b"echo").bytes(V5)).await;
    assert!(client.drain_with_ping().await.is_empty());
}
