//! Retained messages (store, replace, clear, retain flag, MQTT 5 retain handling and
//! retain-as-published) and wills (socket loss, DISCONNECT, 0x04, Will Delay Interval).

mod support;

use std::time::Duration;
use support::*;

#[tokio::test]
async fn retained_messages_are_stored_replaced_and_cleared() {
    let (broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        let retained = |payload: &[u8]| Publish::new("r/1", payload).qos(1, 1).retain();
        publisher.send(&retained(b"old").bytes(version)).await;
        publisher.expect(&puback(1)).await;
        publisher.send(&retained(b"new").bytes(version)).await;
        publisher.expect(&puback(1)).await;
        publisher
            .send(&Publish::new("r/2", b"other").retain().bytes(version))
            .await;
        publisher.drain_with_ping().await;
        assert_eq!(broker.stats().retained_messages_count, 2);

        let mut sub = RawClient::connect(address, Connect::new(version, "sub")).await;
        sub.send(&subscribe(version, 1, &[("r/1", 1)], &[])).await;
        sub.expect(&suback(version, 1, &[1])).await;
        sub.expect(
            &Publish::new("r/1", b"new")
                .qos(1, 1)
                .retain()
                .bytes(version),
        )
        .await;
        sub.send(&puback(1)).await;

        // A live message is forwarded without the retain flag.
        publisher.send(&retained(b"live").bytes(version)).await;
        publisher.expect(&puback(1)).await;
        sub.expect(&Publish::new("r/1", b"live").qos(1, 2).bytes(version))
            .await;
        sub.send(&puback(2)).await;

        // An empty retained payload clears the topic.
        publisher
            .send(&Publish::new("r/1", b"").retain().bytes(version))
            .await;
        publisher
            .send(&Publish::new("r/2", b"").retain().bytes(version))
            .await;
        publisher.drain_with_ping().await;
        let mut late = RawClient::connect(address, Connect::new(version, "late")).await;
        late.subscribe("r/#", 0).await;
        assert!(late.drain_with_ping().await.is_empty());
        assert_eq!(broker.stats().retained_messages_count, 0);
    }
}

#[tokio::test]
async fn v5_retain_handling_and_retain_as_published() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher
        .send(&Publish::new("h", b"kept").retain().bytes(V5))
        .await;
    publisher.drain_with_ping().await;
    let retained = Publish::new("h", b"kept").retain().bytes(V5);

    let mut sub = RawClient::connect(address, Connect::new(V5, "sub")).await;
    // Retain handling 0: sent at every subscribe.
    for packet_id in [1, 2] {
        sub.send(&subscribe(V5, packet_id, &[("h", 0x00)], &[]))
            .await;
        sub.expect(&suback(V5, packet_id, &[0])).await;
        sub.expect(&retained).await;
    }
    // Retain handling 1: only for a new subscription.
    sub.send(&subscribe(V5, 3, &[("h", 0x10)], &[])).await;
    sub.expect(&suback(V5, 3, &[0])).await;
    assert!(sub.drain_with_ping().await.is_empty());
    let mut fresh = RawClient::connect(address, Connect::new(V5, "fresh")).await;
    fresh.send(&subscribe(V5, 1, &[("h", 0x10)], &[])).await;
    fresh.expect(&suback(V5, 1, &[0])).await;
    fresh.expect(&retained).await;
    // Retain handling 2: never.
    let mut never = RawClient::connect(address, Connect::new(V5, "never")).await;
    never
        .send(&subscribe(V5, 1, &[("h", 0x20 | 0x08)], &[]))
        .await;
    never.expect(&suback(V5, 1, &[0])).await;
    assert!(never.drain_with_ping().await.is_empty());
    // Retain as published (0x08) keeps the flag on live messages.
    publisher
        .send(&Publish::new("h", b"again").retain().bytes(V5))
        .await;
    never
        .expect(&Publish::new("h", b"again").retain().bytes(V5))
        .await;
    fresh.expect(&Publish::new("h", b"again").bytes(V5)).await;
}

#[tokio::test]
async fn will_is_published_when_the_socket_drops_but_not_after_disconnect() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut watcher = RawClient::connect(address, Connect::new(version, "watcher")).await;
        watcher.subscribe("wills/#", 1).await;

        let dropped = RawClient::connect(
            address,
            Connect::new(version, "d").will("wills/d", b"lost", 1, false),
        )
        .await;
        drop(dropped);
        watcher
            .expect(&Publish::new("wills/d", b"lost").qos(1, 1).bytes(version))
            .await;
        watcher.send(&puback(1)).await;

        let mut polite = RawClient::connect(
            address,
            Connect::new(version, "p").will("wills/p", b"x", 0, false),
        )
        .await;
        polite.send(&DISCONNECT).await;
        polite.expect_closed().await;
        assert!(
            watcher.drain_with_ping().await.is_empty(),
            "will sent after DISCONNECT"
        );
    }
}

#[tokio::test]
async fn retained_will_is_stored() {
    let (broker, address) = start_broker(|_| {}).await;
    let client = RawClient::connect(
        address,
        Connect::new(V311, "rw").will("rw/status", b"offline", 0, true),
    )
    .await;
    drop(client);
    let mut late = RawClient::open(address).await;
    late.send(&Connect::new(V311, "late").bytes()).await;
    late.expect(&connack_ok(V311, false)).await;
    // The will may still be on its way: subscribe until the retained copy is there.
    let mut received = None;
    for packet_id in 1..=50u16 {
        late.send(&subscribe(V311, packet_id, &[("rw/status", 0)], &[]))
            .await;
        late.expect(&suback(V311, packet_id, &[0])).await;
        let others = late.drain_with_ping().await;
        if let Some(first) = others.first() {
            received = Some(first.clone());
            break;
        }
    }
    assert_eq!(
        received,
        Some(Publish::new("rw/status", b"offline").retain().bytes(V311))
    );
    assert_eq!(broker.stats().retained_messages_count, 1);
}

#[tokio::test]
async fn v5_disconnect_with_will_message_publishes_the_will() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut watcher = RawClient::connect(address, Connect::new(V5, "watcher")).await;
    watcher.subscribe("w", 0).await;
    let mut client = RawClient::connect(
        address,
        Connect::new(V5, "c")
            .will("w", b"asked", 0, false)
            .will_property(prop_str(0x03, "text/plain")),
    )
    .await;
    client.send(&disconnect_v5(0x04, &[])).await;
    client.expect_closed().await;
    // Will properties are forwarded.
    let mut body = Vec::new();
    body.extend(string("w"));
    body.extend(props(&[prop_str(0x03, "text/plain")]));
    body.extend_from_slice(b"asked");
    watcher.expect(&packet(0x30, &body)).await;
}

#[tokio::test]
async fn will_delay_is_cancelled_by_a_reconnect_and_honoured_otherwise() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut watcher = RawClient::connect(address, Connect::new(V5, "watcher")).await;
    watcher.subscribe("late", 0).await;
    let connect = || {
        Connect::new(V5, "delayed")
            .clean(false)
            .property(prop_u32(0x11, 60))
            .will("late", b"w", 0, false)
            .will_property(prop_u32(0x18, 1))
    };
    // Reconnect within the delay: no will.
    let client = RawClient::connect(address, connect()).await;
    drop(client);
    let mut again = RawClient::open(address).await;
    again.send(&connect().bytes()).await;
    again.expect(&connack_ok(V5, true)).await;
    assert!(
        watcher
            .try_recv(Duration::from_millis(1500))
            .await
            .is_none(),
        "will sent despite the reconnect"
    );
    // Stay away: the will comes after about a second.
    let started = tokio::time::Instant::now();
    drop(again);
    watcher.expect(&Publish::new("late", b"w").bytes(V5)).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn will_is_published_when_the_session_expires_before_the_delay() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut watcher = RawClient::connect(address, Connect::new(V5, "watcher")).await;
    watcher.subscribe("exp", 0).await;
    let client = RawClient::connect(
        address,
        Connect::new(V5, "short")
            .property(prop_u32(0x11, 1))
            .will("exp", b"w", 0, false)
            .will_property(prop_u32(0x18, 100)),
    )
    .await;
    let started = tokio::time::Instant::now();
    drop(client);
    watcher.expect(&Publish::new("exp", b"w").bytes(V5)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
}
