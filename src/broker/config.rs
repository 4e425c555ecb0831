//! Broker configuration: the options keep Mosquitto's names so its users recognise them.
//!
//! Read from TOML (`from_toml_str`/`from_toml_file`, errors name the file, line and key) or
//! built in code (`BrokerConfig::default()` and field updates, then `validate()`).

use crate::transport::tls::{ClientCertificates, TlsServerSettings, TlsVersion};
use crate::transport::WsServerSettings;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every broker option. Unknown keys are an error; a missing key takes the default.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Where to accept connections. Default: one listener on 127.0.0.1:1883.
    pub listeners: Vec<ListenerConfig>,
    /// Most clients connected at once; -1 (the default) means no limit. Further
    /// connections wait in the listen backlog until a slot frees.
    pub max_connections: i64,
    /// Most connections open at once from one source address (TCP, TLS and WebSocket
    /// listeners); -1 (the default) means no limit. An excess connection is closed right
    /// after `accept`, before any handshake.
    pub max_connections_per_address: i64,
    /// New connections accepted per second from one source address (a burst of this many,
    /// then this many per second); 0 (the default) means no limit. An excess connection is
    /// closed right after `accept`, before any handshake.
    pub max_connection_rate: u32,
    /// Subscriptions one session may hold; 0 (the default) means no limit. A filter past
    /// the limit is refused in the SUBACK (0x97 quota exceeded, 3.x 0x80); replacing an
    /// existing subscription always succeeds.
    pub max_subscriptions_per_client: u32,
    /// Most levels in a topic name or filter (`a/b/c` has 3); 0 means no limit. Default 200
    /// (Mosquitto refuses more than 200 `/`). A PUBLISH (or will) past it closes the
    /// connection (5.0: DISCONNECT 0x90); a filter past it is refused in the SUBACK
    /// (0x8F, 3.x 0x80).
    pub max_topic_levels: u32,
    /// Largest keep-alive (seconds) a client may ask for. Default 65535. An MQTT 5 client
    /// asking for more (or for 0) is told the lower value as Server Keep Alive; 3.x clients
    /// keep their own value (the protocol cannot tell them).
    pub max_keepalive: u16,
    /// Largest packet (bytes) the broker accepts; 0 (the default) means the MQTT maximum
    /// (268435460). Advertised to MQTT 5 clients as Maximum Packet Size; a larger packet
    /// closes the connection (v5: DISCONNECT 0x95).
    pub max_packet_size: u32,
    /// Messages held per session, for an offline persistent session or a slow online one.
    /// Default 1000. When full: QoS 0 messages are dropped and counted. An online session's
    /// queue then pauses the publishers of QoS 1/2 messages (their PUBACK/PUBREC and the
    /// reading of their socket wait for room), so nothing acknowledged is dropped. An
    /// offline session's queue refuses further QoS 1/2 messages for that session: they are
    /// counted as dropped and an MQTT 5 publisher gets PUBACK/PUBREC 0x97 (quota exceeded).
    pub max_queued_messages: usize,
    /// QoS 1/2 messages sent to a 3.x client and not yet acknowledged. Default 20; 0 means
    /// 65535. Also advertised to MQTT 5 clients as the broker's Receive Maximum; outgoing
    /// to MQTT 5 clients uses the client's Receive Maximum.
    pub max_inflight_messages: u16,
    /// Seconds between `$SYS/broker/...` updates. Default 10; 0 disables them.
    pub sys_interval: u64,
    /// Seconds a disconnected 3.x persistent session (clean session 0) is kept; absent (the
    /// default) means forever. MQTT 5 sessions use their Session Expiry Interval.
    pub persistent_client_expiration: Option<u64>,
    /// Accept an empty client id (the broker assigns one). Default true. A 3.x client with
    /// an empty id must ask for a clean session, else it gets CONNACK 0x02.
    pub allow_zero_length_clientid: bool,
    /// Keep retained messages. Default true. When false, an MQTT 5 client publishing a
    /// retained message is disconnected with 0x9A and a 3.x client is disconnected.
    pub retain_available: bool,
    /// Topic aliases an MQTT 5 client may use towards the broker. Default 10; 0 disables.
    pub max_topic_alias: u16,
    /// Seconds a new connection has to send CONNECT. Default 10.
    pub connect_timeout: u64,
    /// Largest PUBLISH payload (bytes) accepted; 0 (the default) means no limit. Larger
    /// messages are not forwarded (QoS 1/2: MQTT 5 publishers get reason 0x97).
    pub message_size_limit: u32,
    /// Queue QoS 0 messages for offline persistent sessions too. Default false.
    pub queue_qos0_messages: bool,
    /// Accept clients without a username (or with one when there is no password file).
    /// Default true (Mosquitto 2 defaults to false; an embedded test broker wants true).
    pub allow_anonymous: bool,
    /// Mosquitto password file (`user:$7$...` lines, as `mosquitto_passwd` writes them).
    /// A client giving a username must match it: else CONNACK 0x87 (5.0) / 5 (3.x), the
    /// "not authorized" Mosquitto also sends for a wrong password.
    pub password_file: Option<PathBuf>,
    /// Mosquitto ACL file, checked on publish, subscribe and every delivery.
    pub acl_file: Option<PathBuf>,
    /// Milliseconds to wait before refusing a failed login, doubling with each further
    /// failure from the same address (at most 10 s). Default 100; 0 answers at once.
    pub login_failure_delay_ms: u64,
}

/// One TCP listener, plain or TLS (when `certfile` and `keyfile` are set). Port 0 picks a
/// free port (see `Broker::local_addrs`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// An IPv4 or IPv6 address, or a name such as `localhost`.
    pub host: String,
    pub port: u16,
    /// PEM server certificate (then intermediates); with `keyfile` makes this a TLS listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certfile: Option<PathBuf>,
    /// PEM private key of `certfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyfile: Option<PathBuf>,
    /// PEM CAs that sign acceptable client certificates (for `require_certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cafile: Option<PathBuf>,
    /// Password of an encrypted PKCS#8 `keyfile` (`BEGIN ENCRYPTED PRIVATE KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyfile_password: Option<String>,
    /// Lowest TLS version served, Mosquitto's spelling: `tlsv1.2` (the default: 1.2 and
    /// 1.3) or `tlsv1.3` (1.3 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// OpenSSL cipher list limiting the suites served (Mosquitto's `ciphers`), e.g.
    /// `ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_256_GCM_SHA384`. Default: all of rustls'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphers: Option<String>,
    /// Refuse TLS clients without a certificate signed by `cafile`. Default false.
    #[serde(default)]
    pub require_certificate: bool,
    /// Ask TLS clients for a certificate and verify one that is sent against `cafile`,
    /// but accept clients that send none (`require_certificate` refuses those). Default
    /// false: no certificate is asked for, as in Mosquitto.
    #[serde(default)]
    pub request_certificate: bool,
    /// ALPN protocols served, most preferred first (e.g. `["mqtt"]`): a TLS client that
    /// offers ALPN must offer one of them; a client offering none is still served.
    /// Default empty: no ALPN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn_protocols: Vec<String>,
    /// The client certificate's subject CN becomes the username (no password check, as in
    /// Mosquitto); a client without one is refused (CONNACK 5 / 0x87). Default false.
    #[serde(default)]
    pub use_identity_as_username: bool,
    /// `mqtt` (the default) or `websockets` (MQTT over WebSocket, subprotocol `mqtt`;
    /// over TLS too when `certfile` is set).
    #[serde(default)]
    pub protocol: ListenerProtocol,
    /// WebSocket listeners: the only request path served (e.g. `/mqtt`); absent (the
    /// default) accepts any path, as Mosquitto does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Listen on this Unix socket path instead of `host` and `port` (which are then
    /// ignored). A stale socket file is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix_socket: Option<PathBuf>,
}

/// What a listener speaks on top of TCP (Mosquitto's `protocol` option).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ListenerProtocol {
    #[default]
    Mqtt,
    Websockets,
}

impl ListenerConfig {
    pub fn new(host: impl Into<String>, port: u16) -> ListenerConfig {
        ListenerConfig {
            host: host.into(),
            port,
            certfile: None,
            keyfile: None,
            cafile: None,
            keyfile_password: None,
            tls_version: None,
            ciphers: None,
            require_certificate: false,
            request_certificate: false,
            alpn_protocols: Vec::new(),
            use_identity_as_username: false,
            protocol: ListenerProtocol::Mqtt,
            path: None,
            unix_socket: None,
        }
    }

    /// The WebSocket settings of a WebSocket listener; `None` for plain MQTT.
    pub fn websocket_settings(&self) -> Option<WsServerSettings> {
        (self.protocol == ListenerProtocol::Websockets).then(|| WsServerSettings {
            path: self.path.clone(),
            ..WsServerSettings::default()
        })
    }

    /// The TLS settings of a TLS listener; `None` for plain TCP.
    pub fn tls_settings(&self) -> Option<TlsServerSettings> {
        let (cert_file, key_file) = (self.certfile.clone()?, self.keyfile.clone()?);
        Some(TlsServerSettings {
            cert_file,
            key_file,
            ca_file: self.cafile.clone(),
            client_certificates: if self.require_certificate {
                ClientCertificates::Required
            } else if self.request_certificate {
                ClientCertificates::Optional
            } else {
                ClientCertificates::NotRequested
            },
            // Checked by `validate`.
            min_version: self
                .tls_version
                .as_deref()
                .and_then(|name| TlsVersion::from_mosquitto_name(name).ok())
                .unwrap_or_default(),
            alpn_protocols: self
                .alpn_protocols
                .iter()
                .map(|protocol| protocol.as_bytes().to_vec())
                .collect(),
            ciphers: self.ciphers.clone(),
            key_password: self.keyfile_password.clone(),
        })
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listeners: vec![ListenerConfig::new("127.0.0.1", 1883)],
            max_connections: -1,
            max_connections_per_address: -1,
            max_connection_rate: 0,
            max_subscriptions_per_client: 0,
            max_topic_levels: 200,
            max_keepalive: 65535,
            max_packet_size: 0,
            max_queued_messages: 1000,
            max_inflight_messages: 20,
            sys_interval: 10,
            persistent_client_expiration: None,
            allow_zero_length_clientid: true,
            retain_available: true,
            max_topic_alias: 10,
            connect_timeout: 10,
            message_size_limit: 0,
            queue_qos0_messages: false,
            allow_anonymous: true,
            password_file: None,
            acl_file: None,
            login_failure_delay_ms: 100,
        }
    }
}

/// A configuration that cannot be used, naming where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}:{line}: {key}: {message}")]
    Parse {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    #[error("cannot read {file}: {message}")]
    Read { file: String, message: String },
    /// A `mosquitto.conf` with directives ferromqtt refuses: every one, with its line.
    #[error("{0}")]
    MosquittoConf(String),
    #[error("invalid value for {key}: {message}")]
    Invalid { key: String, message: String },
}

impl BrokerConfig {
    /// Parses TOML text; `file_name` only labels errors.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<BrokerConfig, ConfigError> {
        let config: BrokerConfig = toml::from_str(text).map_err(|error| {
            let (line, key) = match error.span() {
                Some(span) => locate(text, span.start),
                None => (0, String::new()),
            };
            ConfigError::Parse {
                file: file_name.to_owned(),
                line,
                key,
                message: error.message().trim().to_owned(),
            }
        })?;
        config.validate().map_err(|error| match error {
            ConfigError::Invalid { key, message } => ConfigError::Parse {
                file: file_name.to_owned(),
                line: line_of_key(text, &key),
                key,
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Reads a TOML file, or a `mosquitto.conf` (by the `.conf` extension or its content),
    /// returning the directives Mosquitto would honour and ferromqtt ignores, as warnings
    /// with their line numbers.
    pub fn from_file(path: &Path) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let is_conf = path.extension().is_some_and(|e| e == "conf")
            || crate::auth::mosquitto_conf::MosquittoConf::looks_like_mosquitto_conf(&text);
        if !is_conf {
            return Ok((BrokerConfig::from_toml_str(&text, &file)?, Vec::new()));
        }
        let conf = crate::auth::mosquitto_conf::MosquittoConf::parse(&text, &file)
            .map_err(|error| ConfigError::MosquittoConf(error.to_string()))?;
        let config = super::mosquitto_config::broker_config(&conf, &file)?;
        let warnings = conf
            .warnings
            .iter()
            .map(|warning| format!("{file}: {warning}"))
            .collect();
        Ok((config, warnings))
    }

    pub fn from_toml_file(path: &Path) -> Result<BrokerConfig, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
        BrokerConfig::from_toml_str(&text, &file)
    }

    /// Checks the values; the error names the first bad option.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if self.listeners.is_empty() {
            return invalid("listeners", "at least one listener is needed");
        }
        for listener in &self.listeners {
            if listener.host.trim().is_empty() {
                return invalid("host", "listener host must not be empty");
            }
            if listener.certfile.is_some() != listener.keyfile.is_some() {
                return invalid("certfile", "a TLS listener needs both certfile and keyfile");
            }
            if let Some(name) = &listener.tls_version {
                if let Err(message) = TlsVersion::from_mosquitto_name(name) {
                    return invalid("tls_version", &message);
                }
            }
            if let Some(list) = &listener.ciphers {
                if let Err(error) = crate::transport::tls::cipher_suites(list) {
                    return invalid("ciphers", &error.to_string());
                }
            }
            if listener.certfile.is_none()
                && (listener.require_certificate || listener.use_identity_as_username)
            {
                return invalid(
                    "require_certificate",
                    "client certificates need a TLS listener (certfile and keyfile)",
                );
            }
            if listener.path.is_some() && listener.protocol != ListenerProtocol::Websockets {
                return invalid("path", "path is for protocol = \"websockets\" listeners");
            }
            if listener.require_certificate && listener.cafile.is_none() {
                return invalid("cafile", "require_certificate needs a cafile");
            }
            if listener.request_certificate && listener.cafile.is_none() {
                return invalid("cafile", "request_certificate needs a cafile");
            }
            if listener.certfile.is_none() && listener.request_certificate {
                return invalid(
                    "request_certificate",
                    "client certificates need a TLS listener (certfile and keyfile)",
                );
            }
            if listener.certfile.is_none() && !listener.alpn_protocols.is_empty() {
                return invalid(
                    "alpn_protocols",
                    "ALPN needs a TLS listener (certfile and keyfile)",
                );
            }
            // A protocol id is 1 to 255 bytes (RFC 7301, section 3.1).
            if let Some(bad) = listener
                .alpn_protocols
                .iter()
                .find(|protocol| protocol.is_empty() || protocol.len() > 255)
            {
                return invalid(
                    "alpn_protocols",
                    &format!("{bad:?} is not a protocol name of 1 to 255 bytes"),
                );
            }
        }
        if self.max_connections < -1 || self.max_connections == 0 {
            return invalid("max_connections", "must be -1 (no limit) or positive");
        }
        if self.max_connections_per_address < -1
            || self.max_connections_per_address == 0
            || self.max_connections_per_address > i64::from(u32::MAX)
        {
            return invalid(
                "max_connections_per_address",
                "must be -1 (no limit) or a positive number of connections",
            );
        }
        if self.max_packet_size != 0 && self.max_packet_size < 20 {
            return invalid(
                "max_packet_size",
                "must be 0 (the MQTT maximum) or at least 20 bytes",
            );
        }
        if self.max_packet_size > crate::protocol::MAX_PACKET_SIZE {
            return invalid("max_packet_size", "exceeds the MQTT maximum 268435460");
        }
        if self.max_queued_messages == 0 {
            return invalid("max_queued_messages", "must be at least 1");
        }
        if self.connect_timeout == 0 {
            return invalid("connect_timeout", "must be at least 1 second");
        }
        if self.max_keepalive == 0 {
            return invalid("max_keepalive", "must be at least 1 second");
        }
        Ok(())
    }

    /// The largest packet accepted, 0 resolved to the MQTT maximum.
    pub fn effective_max_packet_size(&self) -> u32 {
        if self.max_packet_size == 0 {
            crate::protocol::MAX_PACKET_SIZE
        } else {
            self.max_packet_size
        }
    }

    /// The 3.x outgoing window and the advertised Receive Maximum, 0 resolved to 65535.
    pub fn effective_max_inflight(&self) -> u16 {
        if self.max_inflight_messages == 0 {
            u16::MAX
        } else {
            self.max_inflight_messages
        }
    }

    /// `max_connections_per_address` as a count, 0 for no limit.
    pub fn effective_max_connections_per_address(&self) -> u32 {
        u32::try_from(self.max_connections_per_address).unwrap_or(0)
    }

    pub fn connect_timeout_duration(&self) -> Duration {
        Duration::from_secs(self.connect_timeout)
    }
}

/// The 1-based line of byte offset `offset` and the key written on that line.
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line_number = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_number - 1).unwrap_or("");
    let key = match line.split_once('=') {
        Some((key, _)) => key.trim().trim_matches('"').to_owned(),
        None => line.trim().trim_matches(['[', ']']).to_owned(),
    };
    (line_number, key)
}

fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            line.split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        })
        .map_or(0, |index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let config = BrokerConfig::default();
        assert_eq!(
            config.listeners,
            vec![ListenerConfig::new("127.0.0.1", 1883)]
        );
        assert_eq!(config.max_queued_messages, 1000);
        assert_eq!(config.max_inflight_messages, 20);
        assert_eq!(config.sys_interval, 10);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn abuse_limits_default_to_off_except_topic_levels_and_are_checked() {
        let config = BrokerConfig::default();
        assert_eq!(config.max_connections_per_address, -1);
        assert_eq!(config.effective_max_connections_per_address(), 0);
        assert_eq!(config.max_connection_rate, 0);
        assert_eq!(config.max_subscriptions_per_client, 0);
        assert_eq!(config.max_topic_levels, 200);
        let text = "max_connections_per_address = 0\n";
        let error = BrokerConfig::from_toml_str(text, "l.toml").unwrap_err();
        assert!(
            matches!(&error, ConfigError::Parse { line: 1, key, .. } if key == "max_connections_per_address"),
            "{error:?}"
        );
        let text = "max_connections_per_address = 4\nmax_connection_rate = 10\n\
                    max_subscriptions_per_client = 100\nmax_topic_levels = 0\n";
        let config = BrokerConfig::from_toml_str(text, "l.toml").unwrap();
        assert_eq!(config.effective_max_connections_per_address(), 4);
        assert_eq!(
            (
                config.max_connection_rate,
                config.max_subscriptions_per_client,
                config.max_topic_levels
            ),
            (10, 100, 0)
        );
    }

    #[test]
    fn toml_sets_listeners_and_options() {
        let text = "max_connections = 5\nsys_interval = 0\n\n[[listeners]]\nhost = \"::1\"\nport = 0\n\n[[listeners]]\nhost = \"127.0.0.1\"\nport = 1884\n";
        let config = BrokerConfig::from_toml_str(text, "b.toml").unwrap();
        assert_eq!(config.max_connections, 5);
        assert_eq!(config.sys_interval, 0);
        assert_eq!(config.listeners.len(), 2);
        assert_eq!(config.listeners[1].port, 1884);
        assert_eq!(config.max_topic_alias, 10);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "sys_interval = 5\nmax_conections = 3\n";
        let error = BrokerConfig::from_toml_str(text, "b.toml").unwrap_err();
        match &error {
            ConfigError::Parse {
                file, line, key, ..
            } => {
                assert_eq!(file, "b.toml");
                assert_eq!(*line, 2);
                assert_eq!(key, "max_conections");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(error.to_string().starts_with("b.toml:2: max_conections"));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let error =
            BrokerConfig::from_toml_str("\n\nmax_keepalive = \"x\"\n", "c.toml").unwrap_err();
        assert!(
            matches!(&error, ConfigError::Parse { line: 3, key, .. } if key == "max_keepalive"),
            "{error:?}"
        );
    }

    #[test]
    fn bad_value_names_the_key() {
        let error = BrokerConfig::from_toml_str("max_queued_messages = 0\n", "d.toml").unwrap_err();
        assert!(
            matches!(&error, ConfigError::Parse { line: 1, key, .. } if key == "max_queued_messages"),
            "{error:?}"
        );
        let config = BrokerConfig {
            max_connections: 0,
            ..BrokerConfig::default()
        };
        assert!(
            matches!(config.validate(), Err(ConfigError::Invalid { key, .. }) if key == "max_connections")
        );
    }
    #[test]
    fn optional_client_certificates_and_alpn_reach_the_tls_settings() {
        let text = "[[listeners]]\nhost = \"127.0.0.1\"\nport = 0\ncertfile = \"s.pem\"\n\
                    keyfile = \"s.key\"\ncafile = \"ca.pem\"\nrequest_certificate = true\n\
                    alpn_protocols = [\"mqtt\", \"x-amzn-mqtt-ca\"]\n";
        let config = BrokerConfig::from_toml_str(text, "t.toml").unwrap();
        let settings = config.listeners[0].tls_settings().unwrap();
        assert_eq!(settings.client_certificates, ClientCertificates::Optional);
        assert_eq!(
            settings.alpn_protocols,
            vec![b"mqtt".to_vec(), b"x-amzn-mqtt-ca".to_vec()]
        );
        let with = |change: fn(&mut ListenerConfig)| {
            let mut listener = ListenerConfig::new("127.0.0.1", 0);
            change(&mut listener);
            BrokerConfig {
                listeners: vec![listener],
                ..BrokerConfig::default()
            }
            .validate()
        };
        let key_of = |result: Result<(), ConfigError>| match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        };
        // Without TLS, without a CA, or with an empty protocol name: each names its key.
        assert_eq!(
            key_of(with(|l| l.alpn_protocols = vec!["mqtt".into()])),
            "alpn_protocols"
        );
        fn tls(l: &mut ListenerConfig) {
            l.certfile = Some("s.pem".into());
            l.keyfile = Some("s.key".into());
        }
        assert_eq!(
            key_of(with(|l| {
                tls(l);
                l.request_certificate = true;
            })),
            "cafile"
        );
        assert_eq!(
            key_of(with(|l| {
                tls(l);
                l.alpn_protocols = vec![String::new()];
            })),
            "alpn_protocols"
        );
        assert!(with(|l| {
            tls(l);
            l.alpn_protocols = vec!["mqtt".into()];
        })
        .is_ok());
    }
}
