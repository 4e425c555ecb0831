//! One ACL file, two judges: a real Mosquitto and `Acl::check` must allow and refuse the
//! same publishes (PUBACK reason 0x87 from Mosquitto) and the same deliveries (a subscriber
//! that reads every tested topic, fenced by a sentinel message it may always read).

mod mosquitto_support;

use ferromqtt::auth::acl::{Access, Acl};
use ferromqtt::auth::password_file::PasswordFile;
use mosquitto_support::{binary, require, Mosquitto, TempDir};

const ACL_FILE: &str = "\
# anonymous clients
topic read public/#
topic write anon/in
topic readwrite both/#
topic deny both/no

user alice
topic readwrite a/#
topic deny a/secret
topic read shared/+/status
topic write $SYS/forbidden

user bob
topic b/rw
topic write b/w
topic read b/+/r

user admin
topic readwrite #

pattern readwrite clients/%c/#
pattern read users/%u/inbox
pattern deny clients/%c/locked
pattern read sentinel/%c
";

/// (client id, username, password)
const IDENTITIES: &[(&str, Option<&str>, &str)] = &[
    ("anon1", None, ""),
    ("alice1", Some("alice"), "alice-pw"),
    ("bob1", Some("bob"), "bob-pw"),
    ("carol1", Some("carol"), "carol-pw"),
    ("wild+id", None, ""),
];

const TOPICS: &[&str] = &[
    "public/news",
    "anon/in",
    "both/yes",
    "both/no",
    "a/x",
    "a",
    "a/secret",
    "a/secret/deeper",
    "shared/x/status",
    "b/rw",
    "b/w",
    "b/x/r",
    "users/carol/inbox",
    "users/alice/inbox",
    "clients/anon1/x",
    "clients/alice1/x",
    "clients/anon1/locked",
    "sentinel/bob1",
];

fn credentials<'a>(
    client_id: &'a str,
    username: Option<&'a str>,
    password: &'a str,
) -> Vec<&'a str> {
    let mut args = vec!["-i", client_id];
    if let Some(username) = username {
        args.extend(["-u", username, "-P", password]);
    }
    args
}

/// A topic the client may always read, published last to fence its deliveries.
fn sentinel(client_id: &str) -> String {
    if client_id.contains('+') {
        // Patterns never apply to such a client; the anonymous section lets it read this.
        "public/sentinel".to_string()
    } else {
        format!("sentinel/{client_id}")
    }
}

fn start_broker(dir: &TempDir) -> Mosquitto {
    let mut passwords = PasswordFile::new();
    for (user, password) in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("carol", "carol-pw"),
        ("admin", "admin-pw"),
    ] {
        passwords.set_password(user, password.as_bytes()).unwrap();
    }
    passwords.save(dir.file("passwd")).unwrap();
    std::fs::write(dir.file("acl"), ACL_FILE).unwrap();
    let directory = dir.path().display().to_string();
    Mosquitto::start(dir.path(), |port| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\n\
             password_file {directory}/passwd\nacl_file {directory}/acl\n"
        )
    })
}

#[test]
fn publish_decisions_match_mosquitto() {
    if !require(&["mosquitto", "mosquitto_pub"]) {
        return;
    }
    let acl = Acl::parse(ACL_FILE, "acl").unwrap();
    let dir = TempDir::new("acl-publish");
    let broker = start_broker(&dir);
    let mut topics = TOPICS.to_vec();
    topics.push("$SYS/forbidden");
    let mut mismatches = Vec::new();
    for &(client_id, username, password) in IDENTITIES {
        for &topic in &topics {
            let mut args = credentials(client_id, username, password);
            args.extend(["-V", "5", "-q", "1", "-d", "-t", topic, "-m", "x"]);
            let output = broker.publish(&args);
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                stdout.contains("received PUBACK"),
                "{client_id} {topic}: {stdout}"
            );
            let mosquitto_allows = !stdout.contains("RC:135");
            let ours = acl.check(client_id, username, topic, Access::Write);
            if ours != mosquitto_allows {
                mismatches.push(format!(
                    "{client_id} {username:?} write {topic}: mosquitto {mosquitto_allows}, ours {ours}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn delivery_decisions_match_mosquitto() {
    if !require(&["mosquitto", "mosquitto_pub", "mosquitto_sub", "stdbuf"]) {
        return;
    }
    let acl = Acl::parse(ACL_FILE, "acl").unwrap();
    let dir = TempDir::new("acl-read");
    let broker = start_broker(&dir);
    let stdbuf_args = |client_id, username, password| {
        // stdbuf: mosquitto_sub's stdout is block-buffered when piped.
        let mut args = vec![
            "-oL".to_string(),
            binary("mosquitto_sub").unwrap().display().to_string(),
            "-h".to_string(),
            "127.0.0.1".to_string(),
            "-p".to_string(),
            broker.port.to_string(),
            "-d".to_string(),
            "-v".to_string(),
            "-V".to_string(),
            "5".to_string(),
            "-q".to_string(),
            "1".to_string(),
        ];
        args.extend(
            credentials(client_id, username, password)
                .iter()
                .map(|s| s.to_string()),
        );
        for topic in TOPICS {
            args.extend(["-t".to_string(), topic.to_string()]);
        }
        args.extend(["-t".to_string(), sentinel(client_id)]);
        args
    };
    let mut subscribers = Vec::new();
    for &(client_id, username, password) in IDENTITIES {
        let args = stdbuf_args(client_id, username, password);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        subscribers.push(mosquitto_support::Subscriber::spawn("stdbuf", &args));
    }
    let admin = ["-i", "admin", "-u", "admin", "-P", "admin-pw", "-q", "1"];
    for topic in TOPICS {
        let mut args = admin.to_vec();
        args.extend(["-t", topic, "-m", "payload"]);
        assert!(
            broker.publish(&args).status.success(),
            "admin publish {topic}"
        );
    }
    for &(client_id, _, _) in IDENTITIES {
        let sentinel = sentinel(client_id);
        let mut args = admin.to_vec();
        args.extend(["-t", &sentinel, "-m", "end"]);
        assert!(broker.publish(&args).status.success());
    }
    let mut mismatches = Vec::new();
    for (subscriber, &(client_id, username, _)) in subscribers.iter_mut().zip(IDENTITIES) {
        let sentinel = format!("{} end", sentinel(client_id));
        let lines = subscriber.lines_until(&sentinel);
        for &topic in TOPICS {
            let received = lines.iter().any(|line| *line == format!("{topic} payload"));
            let ours = acl.check(client_id, username, topic, Access::Read);
            if ours != received {
                mismatches.push(format!(
                    "{client_id} {username:?} read {topic}: mosquitto {received}, ours {ours}"
                ));
            }
            // A subscription we would refuse must be one Mosquitto delivers nothing through.
            if !acl.check(client_id, username, topic, Access::Subscribe) {
                assert!(!received, "{client_id} {topic}");
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
