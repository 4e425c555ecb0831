//! `mosquitto.conf` read by Mosquitto and by ferromqtt: the same files are accepted and
//! refused, and with `per_listener_settings` the same connections and publishes are allowed
//! on each listener.

mod mosquitto_support;

use ferromqtt::auth::mosquitto_conf::MosquittoConf;
use ferromqtt::auth::{Access, Authenticator, PasswordFile};
use mosquitto_support::{free_port, require, Mosquitto, TempDir};
use std::cell::Cell;

#[test]
fn the_same_files_are_accepted_and_refused() {
    if !require(&["mosquitto"]) {
        return;
    }
    let dir = TempDir::new("conf-check");
    let port = free_port();
    let cases = [
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_keepalive 60\n"),
        format!("listener {port} 127.0.0.1\nmax_connections -1\nretain_available false\n"),
        format!("per_listener_settings true\nlistener {port} 127.0.0.1\nallow_anonymous false\n"),
        format!("listener {port} 127.0.0.1\npersistent_client_expiration 1w\nsys_interval 0\n"),
        "allow_anonymous maybe\n".to_string(),
        "frobnicate on\n".to_string(),
        "listener notaport\n".to_string(),
        "listener 0\n".to_string(),
        "max_packet_size 10\n".to_string(),
        "persistent_client_expiration 3x\n".to_string(),
        "protocol carrier-pigeon\n".to_string(),
        "max_keepalive 70000\n".to_string(),
        "sys_interval -1\n".to_string(),
        "retain_available yes\n".to_string(),
    ];
    for text in &cases {
        let mosquitto = Mosquitto::check_config(dir.path(), text);
        let ours = MosquittoConf::parse(text, "c");
        assert_eq!(
            mosquitto.is_ok(),
            ours.is_ok(),
            "{text:?}: mosquitto {mosquitto:?}, ours {ours:?}"
        );
    }
}

#[test]
fn per_listener_security_decides_the_same_connections_and_publishes() {
    if !require(&["mosquitto", "mosquitto_pub"]) {
        return;
    }
    let dir = TempDir::new("conf-listeners");
    let mut passwords = PasswordFile::new();
    passwords.set_password("alice", b"alice-pw").unwrap();
    passwords.save(dir.file("passwd")).unwrap();
    std::fs::write(dir.file("acl"), "user alice\ntopic write in/#\n").unwrap();
    let directory = dir.path().display().to_string();
    let second_port = Cell::new(0u16);
    let conf_text = Cell::new(String::new());
    let broker = Mosquitto::start(dir.path(), |port| {
        let other = free_port();
        second_port.set(other);
        let text = format!(
            "per_listener_settings true\n\
             listener {port} 127.0.0.1\nallow_anonymous true\n\
             listener {other} 127.0.0.1\nallow_anonymous false\n\
             password_file {directory}/passwd\nacl_file {directory}/acl\n"
        );
        conf_text.set(text.clone());
        text
    });
    let conf = MosquittoConf::parse(&conf_text.take(), "mosquitto.conf").unwrap();
    let ports = [broker.port, second_port.get()];
    assert_eq!(
        conf.listeners.iter().map(|l| l.port).collect::<Vec<_>>(),
        ports
    );

    // (listener index, username, password, topic)
    let cases: &[(usize, Option<&str>, &str, &str)] = &[
        (0, None, "", "any/topic"),
        (0, Some("alice"), "whatever", "any/topic"),
        (1, None, "", "in/x"),
        (1, Some("alice"), "alice-pw", "in/x"),
        (1, Some("alice"), "alice-pw", "out/x"),
        (1, Some("alice"), "wrong", "in/x"),
        (1, Some("bob"), "bob-pw", "in/x"),
    ];
    for &(listener, username, password, topic) in cases {
        let authenticator = conf.authenticator_for(Some(listener)).unwrap();
        let connects = authenticator
            .authenticate("client", username, Some(password.as_bytes()), None)
            .is_allowed();
        let publishes =
            connects && authenticator.authorize("client", username, topic, Access::Write);

        let port = ports[listener].to_string();
        let mut args = vec![
            "-p",
            port.as_str(),
            "-i",
            "client",
            "-V",
            "5",
            "-q",
            "1",
            "-d",
        ];
        if let Some(username) = username {
            args.extend(["-u", username, "-P", password]);
        }
        args.extend(["-t", topic, "-m", "x"]);
        // publish() prepends the first listener's port; a later -p wins.
        let output = broker.publish(&args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mosquitto_connects = stdout.contains("received CONNACK (0)");
        let mosquitto_publishes = mosquitto_connects && !stdout.contains("RC:135");
        assert_eq!(
            (connects, publishes),
            (mosquitto_connects, mosquitto_publishes),
            "listener {listener} {username:?} {topic}: {stdout}"
        );
    }
}
