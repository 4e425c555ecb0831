//! The authentication/authorization seam and the option-driven refusals.

mod support;

use ferromqtt::broker::{
    Access, AuthDecision, Authenticator, Broker, BrokerConfig, ListenerConfig,
};
use std::net::SocketAddr;
use std::sync::Arc;
use support::*;

/// Refuses user "mallory", publishing to `secret/...`, subscribing to `private/...`, and
/// delivering `hidden/...` to client "nosy".
struct Policy;

impl Authenticator for Policy {
    fn authenticate(
        &self,
        _client_id: &str,
        username: Option<&str>,
        _password: Option<&[u8]>,
        _peer: Option<SocketAddr>,
    ) -> AuthDecision {
        if username == Some("mallory") {
            AuthDecision::NotAuthorized
        } else {
            AuthDecision::Allow
        }
    }

    fn authorize(
        &self,
        client_id: &str,
        _username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        match access {
            Access::Write => !topic.starts_with("secret/"),
            Access::Subscribe => !topic.starts_with("private/"),
            Access::Read => !(client_id == "nosy" && topic.starts_with("hidden/")),
        }
    }
}

async fn start_with_policy() -> (Broker, SocketAddr) {
    let config = BrokerConfig {
        listeners: vec![ListenerConfig::new("127.0.0.1", 0)],
        sys_interval: 0,
        ..BrokerConfig::default()
    };
    let broker = Broker::start_with_auth(config, Arc::new(Policy))
        .await
        .unwrap();
    let address = broker.local_addrs()[0];
    (broker, address)
}

#[tokio::test]
async fn auth_hook_refuses_connect_with_the_version_specific_code() {
    let (_broker, address) = start_with_policy().await;
    for (version, expected) in [
        (V31, connack(V31, false, 5, &[])),
        (V311, connack(V311, false, 5, &[])),
        (V5, connack(V5, false, 0x87, &[])),
    ] {
        let mut connect = Connect::new(version, "m");
        connect.username = Some("mallory".into());
        let mut client = RawClient::open(address).await;
        client.send(&connect.bytes()).await;
        client.expect(&expected).await;
        client.expect_closed().await;
    }
}

#[tokio::test]
async fn auth_hook_filters_publish_subscribe_and_delivery() {
    let (_broker, address) = start_with_policy().await;
    let mut watcher = RawClient::connect(address, Connect::new(V5, "watcher")).await;
    watcher.subscribe("#", 1).await;
    let mut nosy = RawClient::connect(address, Connect::new(V311, "nosy")).await;
    nosy.send(&subscribe(
        V311,
        1,
        &[("hidden/#", 0), ("private/x", 0)],
        &[],
    ))
    .await;
    nosy.expect(&suback(V311, 1, &[0, 0x80])).await;
    let mut v5 = RawClient::connect(address, Connect::new(V5, "five")).await;
    v5.send(&subscribe(V5, 1, &[("private/y", 0)], &[])).await;
    v5.expect(&suback(V5, 1, &[0x87])).await;

    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher
        .send(&Publish::new("secret/a", b"s").qos(1, 1).bytes(V5))
        .await;
    publisher
        .expect(&response_with_properties(
            0x40,
            1,
            0x87,
            &[prop_str(0x1F, "not authorized")],
        ))
        .await;
    let mut old = RawClient::connect(address, Connect::new(V311, "old")).await;
    old.send(&Publish::new("secret/b", b"s").qos(1, 1).bytes(V311))
        .await;
    old.expect(&puback(1)).await;
    publisher.publish_qos1("hidden/c", b"h", 2).await;
    watcher
        .expect(&Publish::new("hidden/c", b"h").qos(1, 1).bytes(V5))
        .await;
    assert!(
        nosy.drain_with_ping().await.is_empty(),
        "delivery was not filtered"
    );
    watcher.send(&puback(1)).await;
    assert!(
        watcher.drain_with_ping().await.is_empty(),
        "refused publishes were forwarded"
    );
}

#[tokio::test]
async fn retain_unavailable_refuses_retained_publishes() {
    let (_broker, address) = start_broker(|c| c.retain_available = false).await;
    let mut client = RawClient::open(address).await;
    client.send(&Connect::new(V5, "r").bytes()).await;
    client
        .expect(&connack(
            V5,
            false,
            0,
            &[prop_u16(0x21, 20), prop_u16(0x22, 10), prop_u8(0x25, 0)],
        ))
        .await;
    client
        .send(&Publish::new("t", b"x").retain().bytes(V5))
        .await;
    client.expect_disconnect(0x9A).await;
    let mut old = RawClient::connect(address, Connect::new(V311, "o")).await;
    old.send(&Publish::new("t", b"x").retain().bytes(V311))
        .await;
    assert!(old.expect_closed().await.is_empty());
}

#[tokio::test]
async fn message_size_limit_stops_large_payloads() {
    let (_broker, address) = start_broker(|c| c.message_size_limit = 10).await;
    let mut sub = RawClient::connect(address, Connect::new(V311, "sub")).await;
    sub.subscribe("m", 0).await;
    let mut publisher = RawClient::connect(address, Connect::new(V5, "pub")).await;
    publisher
        .send(&Publish::new("m", &[b'x'; 11]).qos(1, 1).bytes(V5))
        .await;
    publisher
        .expect(&response_with_properties(
            0x40,
            1,
            0x97,
            &[prop_str(0x1F, "quota exceeded")],
        ))
        .await;
    publisher.publish_qos1("m", &[b'y'; 10], 2).await;
    sub.expect(&Publish::new("m", &[b'y'; 10]).bytes(V311))
        .await;
    assert!(sub.drain_with_ping().await.is_empty());
}

#[tokio::test]
async fn invalid_config_is_refused_at_start() {
    let config = BrokerConfig {
        listeners: vec![],
        ..BrokerConfig::default()
    };
    let error = Broker::start(config).await.unwrap_err();
    assert!(error.to_string().contains("listeners"), "{error}");
}

#[tokio::test]
async fn mosquitto_style_files_plug_in_as_the_authenticator() {
    use ferromqtt::auth::{Acl, FileAuthenticator};
    let start = |authenticator: FileAuthenticator| async move {
        let config = BrokerConfig {
            listeners: vec![ListenerConfig::new("127.0.0.1", 0)],
            sys_interval: 0,
            ..BrokerConfig::default()
        };
        let broker = Broker::start_with_auth(config, Arc::new(authenticator))
            .await
            .unwrap();
        let address = broker.local_addrs()[0];
        (broker, address)
    };
    let (_closed, address) = start(FileAuthenticator::new(false)).await;
    let mut refused = RawClient::open(address).await;
    refused.send(&Connect::new(V311, "anon").bytes()).await;
    refused.expect(&connack(V311, false, 5, &[])).await;

    let acl = Acl::parse("topic read r/#\ntopic write w/#\n", "acl").unwrap();
    let (_open, address) = start(FileAuthenticator::new(true).with_acl(acl)).await;
    let mut client = RawClient::connect(address, Connect::new(V5, "anon")).await;
    client
        .send(&subscribe(V5, 1, &[("r/#", 0), ("x/#", 0)], &[]))
        .await;
    client.expect(&suback(V5, 1, &[0x00, 0x87])).await;
    client
        .send(&Publish::new("x", b"no").qos(1, 1).bytes(V5))
        .await;
    client
        .expect(&response_with_properties(
            0x40,
            1,
            0x87,
            &[prop_str(0x1F, "not authorized")],
        ))
        .await;
    client.publish_qos1("w/1", b"yes", 2).await;
    // A will to a topic the client may not write refuses the CONNECT.
    let mut will = RawClient::open(address).await;
    will.send(&Connect::new(V5, "w").will("x/will", b"w", 0, false).bytes())
        .await;
    will.expect(&connack(V5, false, 0x87, &[])).await;
}
