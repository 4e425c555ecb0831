//! CONNECT handling on the wire: CONNACK bytes per version, client ids, session present,
//! takeover, keep-alive, PINGREQ, connect timeout, protocol name/level errors.

mod support;

use std::time::Duration;
use support::*;

#[tokio::test]
async fn connack_is_sent_for_every_version() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut client = RawClient::open(address).await;
        client.send(&Connect::new(version, "c1").bytes()).await;
        client.expect(&connack_ok(version, false)).await;
        client.send(&PINGREQ).await;
        client.expect(&PINGRESP).await;
        client.send(&DISCONNECT).await;
        assert!(client.expect_closed().await.is_empty());
    }
}

#[tokio::test]
async fn empty_client_id_is_assigned_with_clean_session_and_refused_without() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in [V31, V311] {
        let mut client = RawClient::open(address).await;
        client.send(&Connect::new(version, "").bytes()).await;
        client.expect(&connack(version, false, 0, &[])).await;
        let mut client = RawClient::open(address).await;
        client
            .send(&Connect::new(version, "").clean(false).bytes())
            .await;
        client.expect(&connack(version, false, 0x02, &[])).await;
        client.expect_closed().await;
    }
    let mut client = RawClient::open(address).await;
    client.send(&Connect::new(V5, "").bytes()).await;
    let reply = client.recv().await;
    // 20 len 00 00 props: Assigned Client Identifier (0x12) first, then our limits.
    assert_eq!(&reply[..3], &[0x20, reply[1], 0x00]);
    assert_eq!(reply[3], 0x00);
    assert_eq!(reply[5], 0x12, "assigned client identifier in {reply:02x?}");
    let id_len = usize::from(u16::from_be_bytes([reply[6], reply[7]]));
    assert!(id_len > 0);
    let rest = &reply[8 + id_len..];
    assert_eq!(rest, &[0x21, 0x00, 20, 0x22, 0x00, 10]);
}

#[tokio::test]
async fn zero_length_ids_can_be_forbidden() {
    let (_broker, address) = start_broker(|c| c.allow_zero_length_clientid = false).await;
    let mut client = RawClient::open(address).await;
    client.send(&Connect::new(V311, "").bytes()).await;
    client.expect(&connack(V311, false, 0x02, &[])).await;
    let mut client = RawClient::open(address).await;
    client.send(&Connect::new(V5, "").bytes()).await;
    client.expect(&connack(V5, false, 0x85, &[])).await;
    client.expect_closed().await;
}

#[tokio::test]
async fn wrong_protocol_level_gets_connack_0x01_and_v5_name_error_0x84() {
    let (_broker, address) = start_broker(|_| {}).await;
    // Level 6 does not exist.
    let mut bytes = Connect::new(V311, "c").bytes();
    bytes[8] = 6;
    let mut client = RawClient::open(address).await;
    client.send(&bytes).await;
    client.expect(&[0x20, 0x02, 0x00, 0x01]).await;
    client.expect_closed().await;
    // "MQTX" with level 5.
    let mut bytes = Connect::new(V5, "c").bytes();
    bytes[7] = b'X';
    let mut client = RawClient::open(address).await;
    client.send(&bytes).await;
    client.expect(&[0x20, 0x03, 0x00, 0x84, 0x00]).await;
    client.expect_closed().await;
}

#[tokio::test]
async fn first_packet_must_be_connect() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut client = RawClient::open(address).await;
    client.send(&PINGREQ).await;
    assert!(client.expect_closed().await.is_empty());
    let mut client = RawClient::open(address).await;
    client.send(&Publish::new("a", b"x").bytes(V311)).await;
    assert!(client.expect_closed().await.is_empty());
}

#[tokio::test]
async fn second_connect_is_a_protocol_error() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let connect = Connect::new(version, "twice");
        let mut client = RawClient::connect(address, connect.clone()).await;
        client.send(&connect.bytes()).await;
        if version == V5 {
            client.expect_disconnect(0x82).await;
        } else {
            assert!(client.expect_closed().await.is_empty());
        }
    }
}

#[tokio::test]
async fn connect_must_arrive_within_the_connect_timeout() {
    let (_broker, address) = start_broker(|c| c.connect_timeout = 1).await;
    let mut client = RawClient::open(address).await;
    let started = tokio::time::Instant::now();
    assert!(client.expect_closed().await.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn session_present_reflects_a_stored_session() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let id = format!("persist{version}");
        let persistent = |c: Connect| {
            if version == V5 {
                c.clean(false).property(prop_u32(0x11, 60))
            } else {
                c.clean(false)
            }
        };
        let mut client = RawClient::open(address).await;
        client
            .send(&persistent(Connect::new(version, &id)).bytes())
            .await;
        client.expect(&connack_ok(version, false)).await;
        client.send(&DISCONNECT).await;
        client.expect_closed().await;
        let mut client = RawClient::open(address).await;
        client
            .send(&persistent(Connect::new(version, &id)).bytes())
            .await;
        client.expect(&connack_ok(version, true)).await;
        client.send(&DISCONNECT).await;
        client.expect_closed().await;
        // A clean start discards it.
        let mut client = RawClient::open(address).await;
        client.send(&Connect::new(version, &id).bytes()).await;
        client.expect(&connack_ok(version, false)).await;
    }
}

#[tokio::test]
async fn second_connection_takes_the_session_over() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut watcher = RawClient::connect(address, Connect::new(version, "watcher")).await;
        watcher.subscribe("will/#", 0).await;
        let first = Connect::new(version, "same")
            .clean(false)
            .will("will/same", b"bye", 0, false);
        let first = if version == V5 {
            first.property(prop_u32(0x11, 60))
        } else {
            first
        };
        let mut old = RawClient::connect(address, first).await;
        let second = Connect::new(version, "same").clean(false);
        let second = if version == V5 {
            second.property(prop_u32(0x11, 60))
        } else {
            second
        };
        let mut new = RawClient::open(address).await;
        new.send(&second.bytes()).await;
        new.expect(&connack_ok(version, true)).await;
        if version == V5 {
            old.expect_disconnect(0x8E).await;
        } else {
            assert!(old.expect_closed().await.is_empty());
        }
        // The old connection's will is published ([MQTT-3.1.4-3] closes it uncleanly).
        let will = parse_publish(&watcher.recv().await, version);
        assert_eq!(
            (will.topic.as_str(), will.payload.as_slice()),
            ("will/same", &b"bye"[..])
        );
        new.send(&PINGREQ).await;
        new.expect(&PINGRESP).await;
    }
}

#[tokio::test]
async fn silent_client_is_disconnected_after_one_and_a_half_keep_alives_and_its_will_sent() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in [V311, V5] {
        let mut watcher =
            RawClient::connect(address, Connect::new(version, "w").keep_alive(0)).await;
        watcher.subscribe("gone", 0).await;
        let mut silent = RawClient::connect(
            address,
            Connect::new(version, "silent")
                .keep_alive(1)
                .will("gone", b"x", 0, false),
        )
        .await;
        let started = tokio::time::Instant::now();
        if version == V5 {
            silent.expect_disconnect(0x8D).await;
        } else {
            assert!(silent.expect_closed().await.is_empty());
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
        let will = parse_publish(&watcher.recv().await, version);
        assert_eq!(will.topic, "gone");
    }
}

#[tokio::test]
async fn server_keep_alive_is_announced_when_the_maximum_is_lower() {
    let (_broker, address) = start_broker(|c| c.max_keepalive = 30).await;
    let mut client = RawClient::open(address).await;
    client
        .send(&Connect::new(V5, "k").keep_alive(120).bytes())
        .await;
    client
        .expect(&connack(
            V5,
            false,
            0,
            &[prop_u16(0x13, 30), prop_u16(0x21, 20), prop_u16(0x22, 10)],
        ))
        .await;
}

#[tokio::test]
async fn auth_method_is_refused_and_auth_packet_disconnects_with_0x8c() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut client = RawClient::open(address).await;
    client
        .send(
            &Connect::new(V5, "a")
                .property(prop_str(0x15, "SCRAM"))
                .bytes(),
        )
        .await;
    client.expect(&connack(V5, false, 0x8C, &[])).await;
    client.expect_closed().await;
    let mut client = RawClient::connect(address, Connect::new(V5, "b")).await;
    client.send(&packet(0xF0, &[0x19, 0x00])).await;
    client.expect_disconnect(0x8C).await;
}

#[tokio::test]
async fn broker_listens_on_ipv6_and_several_listeners() {
    use ferromqtt::broker::{Broker, BrokerConfig, ListenerConfig};
    let config = BrokerConfig {
        listeners: vec![
            ListenerConfig::new("127.0.0.1", 0),
            ListenerConfig::new("::1", 0),
        ],
        sys_interval: 0,
        ..BrokerConfig::default()
    };
    let broker = match Broker::start(config).await {
        Ok(broker) => broker,
        Err(error) => {
            // A host without IPv6 loopback cannot run this test.
            eprintln!("skipped: no IPv6 loopback ({error})");
            return;
        }
    };
    let addresses = broker.local_addrs();
    assert_eq!(addresses.len(), 2);
    assert!(addresses[1].is_ipv6());
    for address in addresses {
        let mut client = RawClient::connect(address, Connect::new(V311, "six")).await;
        client.send(&PINGREQ).await;
        client.expect(&PINGRESP).await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn takeover_completes_even_when_the_old_client_stopped_reading() {
    let (_broker, address) = start_broker(|_| {}).await;
    let mut stalled = RawClient::connect(address, Connect::new(V5, "stuck")).await;
    stalled.subscribe("flood", 0).await;
    let publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
    let message = Publish::new("flood", &[0u8; 60_000]).bytes(V311);
    let (_read, mut write) = publisher.stream.into_split();
    // Enough to fill the stalled client's socket buffers many times over.
    let flood = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for _ in 0..400 {
            if write.write_all(&message).await.is_err() {
                break;
            }
        }
        write
    });
    let mut watcher = RawClient::connect(address, Connect::new(V311, "watcher")).await;
    watcher.subscribe("flood", 0).await;
    // Wait until the flood is flowing (the watcher sees it).
    parse_publish(&watcher.recv().await, V311);
    let mut new = RawClient::open(address).await;
    new.send(&Connect::new(V5, "stuck").bytes()).await;
    new.expect(&connack_ok(V5, false)).await;
    drop(stalled);
    let _ = flood.await;
}
