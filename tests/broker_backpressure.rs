//! Bounded queues: a stalled subscriber fills only its own queue. QoS 0 beyond the bound
//! is dropped and counted; QoS 1 publishers are paused (their PUBACKs wait) instead of
//! anything acknowledged being dropped; a full offline queue refuses with 0x97.

mod support;

use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt;

const BIG: usize = 64 * 1024;

#[tokio::test]
async fn stalled_subscriber_drops_qos0_beyond_its_bound_while_others_get_everything() {
    let (broker, address) = start_broker(|c| c.max_queued_messages = 10).await;
    let mut stalled = RawClient::connect(address, Connect::new(V311, "stalled")).await;
    stalled.subscribe("f", 0).await;
    let mut fast = RawClient::connect(address, Connect::new(V311, "fast")).await;
    fast.subscribe("f", 1).await;
    let publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
    let count: u16 = 200;
    let payload = vec![7u8; BIG];
    let (mut read_half, mut write_half) = publisher.stream.into_split();
    let writer = tokio::spawn(async move {
        for packet_id in 1..=count {
            let bytes = Publish::new("f", &payload).qos(1, packet_id).bytes(V311);
            write_half.write_all(&bytes).await.unwrap();
        }
        write_half
    });
    let acks = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; usize::from(count) * 4];
        read_half.read_exact(&mut buf).await.unwrap();
        buf
    });
    for packet_id in 1..=count {
        let received = parse_publish(&fast.recv().await, V311);
        assert_eq!(received.payload.len(), BIG);
        fast.send(&puback(received.packet_id)).await;
        let _ = packet_id;
    }
    let _ = writer.await.unwrap();
    let acks = tokio::time::timeout(WAIT, acks).await.unwrap().unwrap();
    assert_eq!(acks.len(), usize::from(count) * 4);
    assert!(
        broker.stats().messages_dropped > 0,
        "nothing dropped for the stalled subscriber"
    );
    drop(stalled);
}

#[tokio::test]
async fn qos1_publisher_is_paused_by_a_full_queue_and_nothing_is_lost() {
    let (broker, address) = start_broker(|c| c.max_queued_messages = 5).await;
    let mut stalled = RawClient::connect(address, Connect::new(V311, "stalled")).await;
    stalled.subscribe("b", 1).await;
    let publisher = RawClient::connect(address, Connect::new(V311, "pub")).await;
    let count: u16 = 100;
    let payload = vec![1u8; BIG];
    let (mut read_half, mut write_half) = publisher.stream.into_split();
    let writer = tokio::spawn(async move {
        for packet_id in 1..=count {
            let bytes = Publish::new("b", &payload).qos(1, packet_id).bytes(V311);
            write_half.write_all(&bytes).await.unwrap();
        }
        write_half
    });
    // Acknowledgements stop coming while the subscriber does not read.
    let mut acks = 0u16;
    let mut buf = Vec::new();
    loop {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(500), read_half.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
        acks = (buf.len() / 4) as u16;
    }
    assert!(
        acks < count,
        "all {acks} acknowledged while the subscriber was stalled"
    );
    // Now the subscriber reads: every message arrives, in order, and every ack follows.
    for packet_id in 1..=count {
        let received = parse_publish(&stalled.recv().await, V311);
        assert_eq!(received.packet_id, packet_id);
        stalled.send(&puback(packet_id)).await;
    }
    let _ = writer.await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while buf.len() < usize::from(count) * 4 {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout_at(deadline, read_half.read(&mut chunk))
            .await
            .expect("all PUBACKs in time")
            .unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    let expected: Vec<u8> = (1..=count).flat_map(puback).collect();
    assert_eq!(buf, expected, "PUBACKs in publish order");
    assert_eq!(broker.stats().messages_dropped, 0);
}

#[tokio::test]
async fn full_offline_queue_refuses_qos1_with_0x97() {
    let (broker, address) = start_broker(|c| c.max_queued_messages = 2).await;
    let connect = || {
        Connect::new(V5, "offline")
            .clean(false)
            .property(prop_u32(0x11, 60))
    };
    let mut sub = RawClient::connect(address, connect()).await;
    sub.subscribe("o", 1).await;
    sub.send(&DISCONNECT).await;
    sub.expect_closed().await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher.publish_qos1("o", b"1", 1).await;
    publisher.publish_qos1("o", b"2", 2).await;
    publisher
        .send(&Publish::new("o", b"3").qos(1, 3).bytes(V5))
        .await;
    publisher
        .expect(&response_with_properties(
            0x40,
            3,
            0x97,
            &[prop_str(0x1F, "quota exceeded")],
        ))
        .await;
    assert_eq!(broker.stats().messages_dropped, 1);
    // A client that asked for no problem information gets the bare reason code.
    let mut terse = RawClient::connect(
        address,
        Connect::new(V5, "terse").property(prop_u8(0x17, 0)),
    )
    .await;
    terse
        .send(&Publish::new("o", b"4").qos(1, 4).bytes(V5))
        .await;
    terse.expect(&response_with_reason(0x40, 4, 0x97)).await;
    let mut sub = RawClient::open(address).await;
    sub.send(&connect().bytes()).await;
    sub.expect(&connack_v5_default(true)).await;
    sub.expect(&Publish::new("o", b"1").qos(1, 1).bytes(V5))
        .await;
    sub.expect(&Publish::new("o", b"2").qos(1, 2).bytes(V5))
        .await;
}

/// Publishers keeping a full window of QoS 1 messages towards a subscriber whose queue
/// keeps filling and draining: every PUBACK must come, even when the subscriber's queue
/// makes room between the moment a publisher's connection looks at its acknowledgements
/// and the moment it goes idle (a publisher with a full window sends nothing else that
/// could wake its connection). The race needs two runtime threads and release-build
/// timing to show here; the unit test `ack_that_becomes_due_before_going_idle_is_sent_issue_3`
/// (src/broker/connection/mod.rs) replays the interleaving deterministically.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_qos1_publishers_get_every_puback_from_a_queue_that_fills_and_drains() {
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    use tokio::sync::Semaphore;

    let (_broker, address) = start_broker(|c| c.max_queued_messages = 8).await;
    let mut subscriber = RawClient::connect(address, Connect::new(V311, "sink")).await;
    subscriber.subscribe("w/#", 1).await;
    let (publishers, per_publisher, window) = (8u16, 2000u16, 32usize);
    let mut runs = Vec::new();
    for n in 0..publishers {
        let client = RawClient::connect(address, Connect::new(V311, &format!("p{n}"))).await;
        let (mut read_half, mut write_half) = client.stream.into_split();
        let permits = Arc::new(Semaphore::new(window));
        let reader_permits = permits.clone();
        let reader = tokio::spawn(async move {
            // A PUBACK in 3.1.1 is exactly 4 bytes: 0x40 0x02 id id.
            let mut ack = [0u8; 4];
            for _ in 0..per_publisher {
                read_half.read_exact(&mut ack).await.unwrap();
                assert_eq!(ack[0], 0x40);
                reader_permits.add_permits(1);
            }
        });
        let writer = tokio::spawn(async move {
            for packet_id in 1..=per_publisher {
                permits.acquire().await.unwrap().forget();
                let bytes = Publish::new(&format!("w/{n}"), b"x")
                    .qos(1, packet_id)
                    .bytes(V311);
                write_half.write_all(&bytes).await.unwrap();
            }
            write_half
        });
        runs.push((reader, writer));
    }
    let total = usize::from(publishers) * usize::from(per_publisher);
    for _ in 0..total {
        let received = parse_publish(&subscriber.recv().await, V311);
        subscriber.send(&puback(received.packet_id)).await;
    }
    for (reader, writer) in runs {
        tokio::time::timeout(WAIT, reader)
            .await
            .expect("a publisher's PUBACKs stopped coming")
            .unwrap();
        let _ = writer.await.unwrap();
    }
}
