//! Password files shared with Mosquitto: files made by the real `mosquitto_passwd` verify
//! with ours, and files we write are accepted by a real `mosquitto` broker.

mod mosquitto_support;

use ferromqtt::auth::password_file::PasswordFile;
use mosquitto_support::{binary, require, Mosquitto, TempDir};
use std::process::Command;

fn mosquitto_passwd(args: &[&str]) {
    let status = Command::new(binary("mosquitto_passwd").expect("installed"))
        .args(args)
        .status()
        .expect("run mosquitto_passwd");
    assert!(status.success(), "mosquitto_passwd {args:?} failed");
}

#[test]
fn files_made_by_mosquitto_passwd_verify_with_our_code() {
    if !require(&["mosquitto_passwd"]) {
        return;
    }
    let dir = TempDir::new("passwd-theirs");
    let path = dir.file("passwd");
    let file = path.to_str().unwrap();
    mosquitto_passwd(&["-c", "-b", file, "alice", "secret"]);
    mosquitto_passwd(&["-H", "sha512", "-b", file, "bob", "old-style"]);
    mosquitto_passwd(&["-b", file, "carol", "p\u{e4}ss w:rd"]);

    let passwords = PasswordFile::load(&path).unwrap();
    assert_eq!(
        passwords.usernames().collect::<Vec<_>>(),
        ["alice", "bob", "carol"]
    );
    assert!(passwords.verify("alice", b"secret"));
    assert!(!passwords.verify("alice", b"Secret"));
    assert!(passwords.verify("bob", b"old-style"));
    assert!(!passwords.verify("bob", b"old-styl"));
    assert!(passwords.verify("carol", "p\u{e4}ss w:rd".as_bytes()));
    assert!(std::fs::read_to_string(&path).unwrap().contains("bob:$6$"));

    // Deleting with mosquitto_passwd leaves a file we still read.
    mosquitto_passwd(&["-D", file, "alice"]);
    let passwords = PasswordFile::load(&path).unwrap();
    assert!(!passwords.contains("alice"));
    assert!(passwords.verify("bob", b"old-style"));
}

#[test]
fn files_we_write_are_accepted_by_mosquitto() {
    if !require(&["mosquitto", "mosquitto_pub", "mosquitto_passwd"]) {
        return;
    }
    let dir = TempDir::new("passwd-ours");
    let path = dir.file("passwd");
    let mut passwords = PasswordFile::new();
    passwords.set_password("alice", b"right").unwrap();
    passwords.set_password("bob", b"bob-pass").unwrap();
    passwords.set_password("gone", b"gone-pass").unwrap();
    assert!(passwords.remove("gone"));
    passwords.save(&path).unwrap();

    // mosquitto_passwd can update our file in place: it parses every line we wrote.
    mosquitto_passwd(&["-b", path.to_str().unwrap(), "carol", "carol-pass"]);
    let reloaded = PasswordFile::load(&path).unwrap();
    assert!(reloaded.verify("alice", b"right"));
    assert!(reloaded.verify("carol", b"carol-pass"));

    let password_file = path.display().to_string();
    let broker = Mosquitto::start(dir.path(), |port| {
        format!("listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {password_file}\n")
    });
    let connect = |user: &str, password: &str| {
        broker
            .publish(&["-u", user, "-P", password, "-t", "t", "-m", "m", "-q", "1"])
            .status
            .success()
    };
    assert!(connect("alice", "right"));
    assert!(connect("bob", "bob-pass"));
    assert!(connect("carol", "carol-pass"));
    assert!(!connect("alice", "wrong"));
    assert!(!connect("alice", "righ"));
    assert!(!connect("gone", "gone-pass"));
    assert!(!connect("nobody", "right"));
}
