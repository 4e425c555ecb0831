//! `mosquitto.conf` as a `BrokerConfig`: the file is parsed by `crate::auth::mosquitto_conf`
//! (which reports every directive ferromqtt does not implement, with its line) and the
//! shared directives are mapped here. What a `BrokerConfig` cannot express (security that
//! differs between listeners, per-listener connection limits across several listeners,
//! TLS 1.3 only) is refused with the line of the listener, never approximated.

use super::config::{BrokerConfig, ConfigError, ListenerConfig, ListenerProtocol};
use crate::auth::mosquitto_conf::{self, ListenerSettings, MosquittoConf};
use crate::transport::tls::TlsVersion;

/// A `BrokerConfig` from a parsed `mosquitto.conf`; `file` labels errors. The file's
/// warnings (ignored directives) stay in `conf.warnings` for the caller to report.
pub fn broker_config(conf: &MosquittoConf, file: &str) -> Result<BrokerConfig, ConfigError> {
    let error = |line: usize, key: &str, message: &str| ConfigError::Parse {
        file: file.to_owned(),
        line,
        key: key.to_owned(),
        message: message.to_owned(),
    };
    let mut config = BrokerConfig::default();
    let sections: Vec<(Option<usize>, &ListenerSettings)> = conf
        .default_listener
        .iter()
        .map(|listener| (None, listener))
        .chain(conf.listeners.iter().enumerate().map(|(i, l)| (Some(i), l)))
        .collect();
    if conf.is_local_only() {
        // Mosquitto 2.0's local only mode: loopback, port 1883.
        config.listeners = vec![ListenerConfig::new("127.0.0.1", 1883)];
    } else {
        config.listeners = Vec::with_capacity(sections.len());
        for (_, settings) in &sections {
            config.listeners.push(listener_config(settings));
        }
    }
    // One security setting for the whole broker: every listener must agree.
    let first = conf.security_for(sections.first().and_then(|(index, _)| *index));
    for (index, settings) in &sections {
        if conf.security_for(*index) != first {
            return Err(error(
                settings.line,
                "per_listener_settings",
                "listeners with different security settings are not supported",
            ));
        }
    }
    config.allow_anonymous = first.allow_anonymous.unwrap_or(conf.is_local_only());
    config.password_file = first.password_file.clone();
    config.acl_file = first.acl_file.clone();
    if let Some(allow) = first.allow_zero_length_clientid {
        config.allow_zero_length_clientid = allow;
    }
    let limited: Vec<_> = sections
        .iter()
        .filter_map(|(_, l)| l.max_connections.map(|n| (l.line, n)))
        .collect();
    match (limited.as_slice(), sections.len()) {
        ([], _) => {}
        ([(_, limit)], 1) => config.max_connections = i64::from(*limit),
        ([(line, _), ..], _) => {
            return Err(error(
                *line,
                "max_connections",
                "a per-listener limit with several listeners is not supported",
            ))
        }
    }
    let global = &conf.global;
    if let Some(value) = global.max_keepalive {
        config.max_keepalive = value;
    }
    if let Some(value) = global.max_packet_size {
        config.max_packet_size = value;
    }
    if let Some(value) = global.max_queued_messages {
        // 0 is Mosquitto's "no limit".
        config.max_queued_messages = if value == 0 {
            u32::MAX as usize
        } else {
            value as usize
        };
    }
    if let Some(value) = global.max_inflight_messages {
        config.max_inflight_messages = value;
    }
    if let Some(value) = global.message_size_limit {
        config.message_size_limit = value;
    }
    if let Some(value) = global.persistent_client_expiration {
        config.persistent_client_expiration = Some(value.as_secs());
    }
    if let Some(value) = global.sys_interval {
        config.sys_interval = value.as_secs();
    }
    if let Some(value) = global.retain_available {
        config.retain_available = value;
    }
    config.validate().map_err(|e| match e {
        ConfigError::Invalid { key, message } => error(0, &key, &message),
        other => other,
    })?;
    Ok(config)
}

fn listener_config(settings: &ListenerSettings) -> ListenerConfig {
    let mut listener = ListenerConfig::new(
        settings.bind_address.as_deref().unwrap_or("0.0.0.0"),
        settings.port,
    );
    listener.unix_socket = settings.unix_socket.clone();
    listener.certfile = settings.certfile.clone();
    listener.keyfile = settings.keyfile.clone();
    listener.cafile = settings.cafile.clone();
    listener.tls_version = settings.tls_version.map(|version| {
        match version {
            TlsVersion::Tls13 => "tlsv1.3",
            TlsVersion::Tls12 | TlsVersion::Tls12Only => "tlsv1.2",
        }
        .to_string()
    });
    listener.ciphers = settings.ciphers.clone();
    listener.require_certificate = settings.require_certificate;
    listener.use_identity_as_username = settings.use_identity_as_username;
    listener.protocol = match settings.protocol {
        mosquitto_conf::ListenerProtocol::Mqtt => ListenerProtocol::Mqtt,
        mosquitto_conf::ListenerProtocol::WebSockets => ListenerProtocol::Websockets,
    };
    listener
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(text: &str) -> Result<BrokerConfig, ConfigError> {
        broker_config(&MosquittoConf::parse(text, "m.conf").unwrap(), "m.conf")
    }

    #[test]
    fn shared_directives_are_mapped() {
        let config = convert(
            "allow_anonymous false\npassword_file /p\nacl_file /a\nmax_keepalive 30\n\
             max_queued_messages 0\nlistener 8883 127.0.0.1\ncertfile /c\nkeyfile /k\n\
             cafile /ca\nrequire_certificate true\nuse_identity_as_username true\n\
             tls_version tlsv1.3\nciphers_tls1.3 TLS_AES_256_GCM_SHA384\n\
             listener 9001\nprotocol websockets\n",
        )
        .unwrap();
        assert!(!config.allow_anonymous);
        assert_eq!(config.password_file.as_deref(), Some("/p".as_ref()));
        assert_eq!(config.acl_file.as_deref(), Some("/a".as_ref()));
        assert_eq!(config.max_keepalive, 30);
        assert_eq!(config.max_queued_messages, u32::MAX as usize);
        let tls = &config.listeners[0];
        assert_eq!((tls.host.as_str(), tls.port), ("127.0.0.1", 8883));
        assert!(tls.require_certificate && tls.use_identity_as_username);
        let settings = tls.tls_settings().unwrap();
        assert_eq!(settings.min_version, TlsVersion::Tls13);
        assert_eq!(settings.ciphers.as_deref(), Some("TLS_AES_256_GCM_SHA384"));
        let ws = &config.listeners[1];
        assert_eq!(
            (ws.host.as_str(), ws.protocol),
            ("0.0.0.0", ListenerProtocol::Websockets)
        );
    }

    #[test]
    fn a_file_without_listeners_is_local_only_and_anonymous() {
        let config = convert("max_keepalive 60\n").unwrap();
        assert_eq!(
            config.listeners,
            vec![ListenerConfig::new("127.0.0.1", 1883)]
        );
        assert!(config.allow_anonymous);
    }

    #[test]
    fn listeners_with_different_security_are_refused_with_the_line() {
        let error = convert(
            "per_listener_settings true\nlistener 1883\nallow_anonymous true\n\
             listener 1884\nallow_anonymous false\n",
        )
        .unwrap_err();
        assert!(
            matches!(&error, ConfigError::Parse { line: 4, .. }),
            "{error:?}"
        );
    }
}
