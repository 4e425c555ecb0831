//! Shared subscriptions, `$SYS`, client events, delayed publish, stats and shutdown.

mod support;

use std::time::Duration;
use support::*;

#[tokio::test]
async fn shared_subscription_round_robins_between_online_members() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in [V311, V5] {
        let mut a = RawClient::connect(address, Connect::new(version, "a")).await;
        a.subscribe("$share/g/s/#", 0).await;
        let mut b = RawClient::connect(address, Connect::new(version, "b")).await;
        b.subscribe("$share/g/s/#", 0).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        for packet_id in 1..=4u16 {
            publisher
                .publish_qos1("s/x", &[b'0' + packet_id as u8], packet_id)
                .await;
        }
        let got_a = a.drain_with_ping().await;
        let got_b = b.drain_with_ping().await;
        assert_eq!(
            (got_a.len(), got_b.len()),
            (2, 2),
            "{got_a:02x?} {got_b:02x?}"
        );
    }
}

#[tokio::test]
async fn shared_message_is_queued_for_an_offline_member_only_when_none_is_online() {
    let (_broker, address) = start_broker(|_| {}).await;
    let persistent = || Connect::new(V311, "away").clean(false);
    let mut away = RawClient::connect(address, persistent()).await;
    away.subscribe("$share/g/t", 1).await;
    away.send(&DISCONNECT).await;
    away.expect_closed().await;
    let mut online = RawClient::connect(address, Connect::new(V311, "online")).await;
    online.subscribe("$share/g/t", 1).await;
    let mut publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
    publisher.publish_qos1("t", b"1", 1).await;
    publisher.publish_qos1("t", b"2", 2).await;
    online
        .expect(&Publish::new("t", b"1").qos(1, 1).bytes(V311))
        .await;
    online
        .expect(&Publish::new("t", b"2").qos(1, 2).bytes(V311))
        .await;
    online.send(&DISCONNECT).await;
    online.expect_closed().await;
    publisher.publish_qos1("t", b"3", 3).await;
    let mut away = RawClient::open(address).await;
    away.send(&persistent().bytes()).await;
    away.expect(&connack_ok(V311, true)).await;
    away.expect(&Publish::new("t", b"3").qos(1, 1).bytes(V311))
        .await;
}

#[tokio::test]
async fn sys_topics_are_published_every_interval() {
    let (_broker, address) = start_broker(|c| c.sys_interval = 1).await;
    let mut sub = RawClient::connect(address, Connect::new(V311, "sys")).await;
    sub.send(&subscribe(
        V311,
        1,
        &[
            ("$SYS/broker/clients/connected", 0),
            ("$SYS/broker/version", 0),
        ],
        &[],
    ))
    .await;
    sub.expect(&suback(V311, 1, &[0, 0])).await;
    let mut topics = Vec::new();
    while topics.len() < 2 {
        let received = parse_publish(&sub.recv().await, V311);
        if received.topic == "$SYS/broker/clients/connected" {
            let count: u64 = String::from_utf8(received.payload)
                .unwrap()
                .parse()
                .unwrap();
            // A retained value may come from a tick before this client connected.
            assert!(received.retain || count >= 1, "{count} clients connected");
        } else {
            assert!(String::from_utf8(received.payload)
                .unwrap()
                .starts_with("ferromqtt "));
        }
        // Wait for both from a tick after the subscription (not retained).
        if !received.retain && !topics.contains(&received.topic) {
            topics.push(received.topic);
        }
    }
    // A wildcard subscription does not see $SYS.
    let mut all = RawClient::connect(address, Connect::new(V311, "all")).await;
    all.subscribe("#", 0).await;
    assert!(all.try_recv(Duration::from_millis(1200)).await.is_none());
}

#[tokio::test]
async fn client_connect_and_disconnect_events_carry_json() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut watcher = RawClient::connect(address, Connect::new(V311, "watcher")).await;
    watcher.subscribe("$SYS/broker/clients/+/+", 0).await;
    let mut client = RawClient::connect(address, Connect::new(V5, "evt").keep_alive(30)).await;
    let connected = parse_publish(&watcher.recv().await, V311);
    assert_eq!(connected.topic, "$SYS/broker/clients/evt/connected");
    let json: serde_json::Value = serde_json::from_slice(&connected.payload).unwrap();
    assert_eq!(json["client_id"], "evt");
    assert_eq!(json["protocol_version"], 5);
    assert_eq!(json["keepalive"], 30);
    assert_eq!(json["clean_start"], true);
    assert!(json["address"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(json["timestamp"].as_f64().unwrap() > 1.6e9);
    client.send(&DISCONNECT).await;
    let disconnected = parse_publish(&watcher.recv().await, V311);
    assert_eq!(disconnected.topic, "$SYS/broker/clients/evt/disconnected");
    let json: serde_json::Value = serde_json::from_slice(&disconnected.payload).unwrap();
    assert_eq!(json["client_id"], "evt");
    assert!(json["reason"]
        .as_str()
        .unwrap()
        .starts_with("ClientDisconnect"));
    assert!(json.get("protocol_version").is_none());
}

#[tokio::test]
async fn delayed_publish_arrives_after_its_delay() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in [V311, V5] {
        let mut sub = RawClient::connect(address, Connect::new(version, "sub")).await;
        sub.subscribe("later/x", 0).await;
        let mut publisher = RawClient::connect(address, Connect::new(version, "pub")).await;
        let started = tokio::time::Instant::now();
        publisher.publish_qos1("$delayed/1/later/x", b"d", 1).await;
        sub.expect(&Publish::new("later/x", b"d").bytes(version))
            .await;
        assert!(started.elapsed() >= Duration::from_millis(900));
    }
}

#[tokio::test]
async fn stats_count_clients_messages_and_subscriptions() {
    let (broker, address) = start_broker(|_| {}).await;
    let mut sub = RawClient::connect(address, Connect::new(V311, "sub")).await;
    sub.subscribe("st", 0).await;
    let mut publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
    publisher.publish_qos1("st", b"12345", 1).await;
    sub.expect(&Publish::new("st", b"12345").bytes(V311)).await;
    let stats = broker.stats();
    assert_eq!(stats.clients_connected, 2);
    assert_eq!(stats.clients_maximum, 2);
    assert_eq!(stats.subscriptions_count, 1);
    assert_eq!(stats.messages_received, 1);
    assert!(stats.messages_sent >= 1);
    assert!(stats.bytes_received > 0 && stats.bytes_sent > 0);
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["clients_connected"], 2);
}

#[tokio::test]
async fn stop_disconnects_v5_with_0x8b_publishes_wills_and_is_idempotent() {
    let (broker, address) = start_broker(|_| {}).await;
    let mut v5 = RawClient::connect(
        address,
        Connect::new(V5, "five").will("wills/five", b"w", 0, true),
    )
    .await;
    let mut v3 = RawClient::connect(address, Connect::new(V311, "three")).await;
    broker.stop().await;
    v5.expect_disconnect(0x8B).await;
    assert!(v3.expect_closed().await.is_empty());
    // The retained will reached the store before the router stopped.
    assert_eq!(broker.stats().retained_messages_count, 1);
    assert_eq!(broker.stats().clients_connected, 0);
    broker.stop().await;
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
}

#[tokio::test]
async fn dropping_a_running_broker_closes_its_connections() {
    let (broker, address) = start_broker(|_| {}).await;
    let mut client = RawClient::connect(address, Connect::new(V5, "d")).await;
    drop(broker);
    client.expect_disconnect(0x8B).await;
}

#[tokio::test]
async fn max_connections_holds_further_clients_in_the_backlog() {
    let (_broker, address) = start_broker(|c| c.max_connections = 1).await;
    let mut first = RawClient::connect(address, Connect::new(V311, "one")).await;
    for version in [V311, V5] {
        let mut second = RawClient::open(address).await;
        second.send(&Connect::new(version, "two").bytes()).await;
        assert!(second.try_recv(Duration::from_millis(300)).await.is_none());
        drop(first);
        second.expect(&connack_ok(version, false)).await;
        first = second;
    }
}

#[tokio::test]
async fn stop_finishes_even_when_a_client_stopped_reading() {
    let (broker, address) = start_broker(|_| {}).await;
    let mut stalled = RawClient::connect(address, Connect::new(V311, "stuck")).await;
    stalled.subscribe("flood", 0).await;
    let mut watcher = RawClient::connect(address, Connect::new(V311, "watcher")).await;
    watcher.subscribe("flood", 0).await;
    let mut publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
    let message = Publish::new("flood", &[0u8; 60_000]).bytes(V311);
    for _ in 0..100 {
        publisher.send(&message).await;
        parse_publish(&watcher.recv().await, V311);
    }
    let started = tokio::time::Instant::now();
    broker.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(stalled);
}
