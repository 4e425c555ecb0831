//! Packets a client sends right behind its CONNECT, in the same TCP segment, before the
//! CONNACK (MQTT lets a client do so): the broker handles them without waiting for more
//! bytes to arrive.

mod support;

use support::*;

#[tokio::test]
async fn subscribe_sent_with_the_connect_is_answered() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut client = RawClient::open(address).await;
        let mut bytes = Connect::new(version, "eager").bytes();
        bytes.extend(subscribe(version, 7, &[("a/#", 1)], &[]));
        client.send(&bytes).await;
        client.expect(&connack_ok(version, false)).await;
        client.expect(&suback(version, 7, &[1])).await;
        client.send(&DISCONNECT).await;
        client.expect_closed().await;
    }
}

#[tokio::test]
async fn publish_sent_with_the_connect_is_acknowledged() {
    let (_broker, address) = start_broker(|_| {}).await;
    for version in ALL {
        let mut client = RawClient::open(address).await;
        let mut bytes = Connect::new(version, "eager-publisher").bytes();
        bytes.extend(Publish::new("t", b"x").qos(1, 9).bytes(version));
        client.send(&bytes).await;
        client.expect(&connack_ok(version, false)).await;
        client.expect(&puback(9)).await;
        client.send(&DISCONNECT).await;
        client.expect_closed().await;
    }
}
