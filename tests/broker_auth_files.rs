//! The broker with Mosquitto's password and ACL files (`allow_anonymous`, `password_file`,
//! `acl_file`): CONNACK codes per version, the login delay, and the ACL on publish,
//! subscribe and delivery of live, retained and will messages.

mod support;

use ferromqtt::auth::PasswordFile;
use ferromqtt::broker::{Broker, BrokerConfig, BrokerError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::*;

const ACL: &str = "\
user alice
topic readwrite room/#
topic write secret/#
topic read news/#

user bob
topic read room/#
topic read secret/#

user carol
topic read #
topic deny secret/#
";

/// A password file (alice/apple, bob/banana, carol/cherry) and the ACL above in a fresh directory.
fn security_files(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("ferromqtt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut passwords = PasswordFile::new();
    passwords.set_password("alice", b"apple").unwrap();
    passwords.set_password("bob", b"banana").unwrap();
    passwords.set_password("carol", b"cherry").unwrap();
    let password_file = dir.join("passwd");
    passwords.save(&password_file).unwrap();
    let acl_file = dir.join("acl");
    std::fs::write(&acl_file, ACL).unwrap();
    (password_file, acl_file)
}

async fn start_secured(name: &str, delay_ms: u64) -> (Broker, SocketAddr) {
    let (password_file, acl_file) = security_files(name);
    start_broker(|config| {
        config.allow_anonymous = false;
        config.password_file = Some(password_file);
        config.acl_file = Some(acl_file);
        config.login_failure_delay_ms = delay_ms;
    })
    .await
}

fn login(version: u8, client_id: &str, username: &str, password: &[u8]) -> Connect {
    let mut connect = Connect::new(version, client_id);
    connect.username = Some(username.into());
    connect.password = Some(password.to_vec());
    connect
}

#[tokio::test]
async fn wrong_credentials_are_refused_as_not_authorized_per_version() {
    let (_broker, address) = start_secured("codes", 0).await;
    // As Mosquitto: "not authorized" for a wrong password too.
    for (version, bad_password, anonymous) in [(V31, 5, 5), (V311, 5, 5), (V5, 0x87, 0x87)] {
        let mut client = RawClient::open(address).await;
        client
            .send(&login(version, "c", "alice", b"pear").bytes())
            .await;
        client
            .expect(&connack(version, false, bad_password, &[]))
            .await;
        client.expect_closed().await;

        let mut client = RawClient::open(address).await;
        client
            .send(&login(version, "c", "nobody", b"apple").bytes())
            .await;
        client
            .expect(&connack(version, false, bad_password, &[]))
            .await;
        client.expect_closed().await;

        let mut client = RawClient::open(address).await;
        client.send(&Connect::new(version, "c").bytes()).await;
        client
            .expect(&connack(version, false, anonymous, &[]))
            .await;
        client.expect_closed().await;

        let mut client = RawClient::open(address).await;
        client
            .send(&login(version, "c", "alice", b"apple").bytes())
            .await;
        client.expect(&connack_ok(version, false)).await;
    }
}

#[tokio::test]
async fn failed_logins_from_one_address_wait_longer_each_time() {
    let (_broker, address) = start_secured("delay", 150).await;
    let mut waits = Vec::new();
    for _ in 0..2 {
        let mut client = RawClient::open(address).await;
        let started = Instant::now();
        client
            .send(&login(V311, "c", "alice", b"pear").bytes())
            .await;
        client.expect(&connack(V311, false, 5, &[])).await;
        waits.push(started.elapsed());
    }
    assert!(waits[0] >= Duration::from_millis(150), "{waits:?}");
    assert!(waits[1] >= Duration::from_millis(300), "{waits:?}");
    // A good login clears the address's record and is never delayed.
    let mut client = RawClient::open(address).await;
    client
        .send(&login(V311, "c", "alice", b"apple").bytes())
        .await;
    client.expect(&connack_ok(V311, false)).await;
}

#[tokio::test]
async fn acl_refuses_subscribe_and_publish_per_version() {
    let (_broker, address) = start_secured("acl", 0).await;
    for version in ALL {
        let mut bob = RawClient::connect(address, login(version, "bob", "bob", b"banana")).await;
        bob.send(&subscribe(version, 1, &[("room/#", 1), ("news/#", 1)], &[]))
            .await;
        let refused = if version == V5 { 0x87 } else { 0x80 };
        bob.expect(&suback(version, 1, &[1, refused])).await;

        // bob may not write room/...: 3.x acknowledges and drops, 5.0 says 0x87.
        bob.send(&Publish::new("room/a", b"x").qos(1, 2).bytes(version))
            .await;
        if version == V5 {
            bob.expect(&response_with_properties(
                0x40,
                2,
                0x87,
                &[prop_str(0x1F, "not authorized")],
            ))
            .await;
        } else {
            bob.expect(&puback(2)).await;
        }
        bob.send(&Publish::new("room/b", b"y").qos(2, 3).bytes(version))
            .await;
        if version == V5 {
            bob.expect(&response_with_properties(
                0x50,
                3,
                0x87,
                &[prop_str(0x1F, "not authorized")],
            ))
            .await;
        } else {
            bob.expect(&pubrec(3)).await;
            bob.send(&pubrel(3)).await;
            bob.expect(&pubcomp(3)).await;
        }
        assert!(
            bob.drain_with_ping().await.is_empty(),
            "a refused publish was delivered"
        );
        bob.send(&disconnect_packet(version)).await;
    }
}

#[tokio::test]
async fn acl_filters_live_retained_and_will_deliveries() {
    let (_broker, address) = start_secured("read", 0).await;
    let mut alice = RawClient::connect(address, login(V311, "alice", "alice", b"apple")).await;
    // alice writes secret/...; bob may read it, carol reads everything but secret/...
    alice
        .send(
            &Publish::new("secret/kept", b"r")
                .qos(1, 1)
                .retain()
                .bytes(V311),
        )
        .await;
    alice.expect(&puback(1)).await;
    let mut carol = RawClient::connect(address, login(V311, "carol", "carol", b"cherry")).await;
    carol.subscribe("#", 1).await;
    let mut bob = RawClient::connect(address, login(V5, "bob", "bob", b"banana")).await;
    bob.subscribe("secret/#", 1).await;
    let retained = parse_publish(&bob.recv().await, V5);
    assert_eq!(
        (retained.topic.as_str(), retained.retain),
        ("secret/kept", true)
    );
    assert!(
        carol.drain_with_ping().await.is_empty(),
        "a retained message reached a client without read access"
    );

    // A will on secret/... reaches bob, not carol.
    let mut dying = login(V311, "dying", "alice", b"apple");
    dying = dying.will("secret/will", b"gone", 0, false);
    let dying = RawClient::connect(address, dying).await;
    drop(dying); // closed without DISCONNECT: the will is published

    let will = parse_publish(&bob.recv().await, V5);
    assert_eq!(will.topic, "secret/will");
    assert!(
        carol.drain_with_ping().await.is_empty(),
        "a will reached a client without read access"
    );
    // ...while what carol may read still reaches her.
    alice.publish_qos1("room/open", b"o", 2).await;
    let open = parse_publish(&carol.recv().await, V311);
    assert_eq!(open.topic, "room/open");
}

#[tokio::test]
async fn a_will_the_client_may_not_publish_refuses_the_connect() {
    let (_broker, address) = start_secured("will", 0).await;
    for (version, code) in [(V311, 5), (V5, 0x87)] {
        let connect = login(version, "b", "bob", b"banana").will("room/w", b"x", 0, false);
        let mut client = RawClient::open(address).await;
        client.send(&connect.bytes()).await;
        client.expect(&connack(version, false, code, &[])).await;
        client.expect_closed().await;
    }
}

#[tokio::test]
async fn a_missing_password_file_fails_the_start() {
    let config = BrokerConfig {
        password_file: Some("/nonexistent/ferromqtt/passwd".into()),
        ..BrokerConfig::default()
    };
    let error = Broker::start(config).await.unwrap_err();
    assert!(matches!(error, BrokerError::Auth(_)), "{error:?}");
    assert!(error.to_string().contains("/nonexistent/ferromqtt/passwd"));
}

fn disconnect_packet(version: u8) -> Vec<u8> {
    if version == V5 {
        disconnect_v5(0, &[])
    } else {
        vec![0xE0, 0x00]
    }
}

#[tokio::test]
async fn reload_rereads_the_files_for_new_and_open_connections() {
    let (password_file, acl_file) = security_files("reload");
    let (broker, address) = start_broker(|config| {
        config.allow_anonymous = false;
        config.password_file = Some(password_file.clone());
        config.acl_file = Some(acl_file.clone());
        config.login_failure_delay_ms = 0;
    })
    .await;
    for version in [V311, V5] {
        let refused = if version == V5 { 0x87 } else { 5 };
        let mut alice = RawClient::connect(address, login(version, "a", "alice", b"apple")).await;
        let mut dave = RawClient::open(address).await;
        dave.send(&login(version, "d", "dave", b"date").bytes())
            .await;
        dave.expect(&connack(version, false, refused, &[])).await;

        let mut passwords = PasswordFile::load(&password_file).unwrap();
        passwords.set_password("dave", b"date").unwrap();
        passwords.save(&password_file).unwrap();
        std::fs::write(
            &acl_file,
            format!("{ACL}\nuser alice\ntopic readwrite news/#\n"),
        )
        .unwrap();
        broker.reload().unwrap();
        // The open connection was kept and its ACL is the new one.
        alice.subscribe("news/#", 0).await;
        alice.publish_qos1("news/x", b"n", 1).await;
        assert_eq!(parse_publish(&alice.recv().await, version).topic, "news/x");
        RawClient::connect(address, login(version, "d", "dave", b"date")).await;

        // A broken file on reload is an error and changes nothing.
        std::fs::write(&acl_file, "topic sideways x\n").unwrap();
        std::fs::write(&password_file, "dave\n").unwrap();
        let error = broker.reload().unwrap_err();
        assert!(error.to_string().contains("passwd"), "{error}");
        RawClient::connect(address, login(version, "d2", "dave", b"date")).await;
        alice.subscribe("news/#", 0).await;
        // Back to the first files for the next version.
        security_files("reload");
        broker.reload().unwrap();
    }
}
