//! Mosquitto's `mosquitto.conf`, read into typed settings that the broker's own config is
//! filled from: global limits, security settings (global, or per listener with
//! `per_listener_settings true`) and listeners (`listener PORT [ADDRESS]` starts one; its
//! TLS and protocol directives follow it). Every directive ferromqtt does not implement is
//! reported with its line: as a warning when ignoring it cannot weaken security or change
//! what clients may do, otherwise as an error (see [`unsupported_severity`]).

use super::{AuthError, FileAuthenticator};
use crate::transport::tls::TlsVersion;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One problem found in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfProblem {
    pub line: usize,
    pub directive: String,
    pub message: String,
}

impl std::fmt::Display for ConfProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}: {}: {}",
            self.line, self.directive, self.message
        )
    }
}

/// Why a file was refused: every error found, with the file name.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfError {
    pub file: String,
    pub errors: Vec<ConfProblem>,
}

/// Security settings (Mosquitto's per-listener-capable ones). `None`: not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecuritySettings {
    pub allow_anonymous: Option<bool>,
    pub password_file: Option<PathBuf>,
    pub acl_file: Option<PathBuf>,
    pub allow_zero_length_clientid: Option<bool>,
}

/// Broker-wide settings. `None`: not set (the broker's default applies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalSettings {
    pub max_keepalive: Option<u16>,
    pub max_packet_size: Option<u32>,
    /// 0: unlimited.
    pub max_queued_messages: Option<u32>,
    /// 0: unlimited.
    pub max_inflight_messages: Option<u16>,
    /// 0: unlimited.
    pub message_size_limit: Option<u32>,
    /// `None` with `persistent_client_expiration` absent: sessions never expire.
    pub persistent_client_expiration: Option<Duration>,
    pub sys_interval: Option<Duration>,
    pub retain_available: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListenerProtocol {
    #[default]
    Mqtt,
    WebSockets,
}

/// One `listener` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerSettings {
    /// Line of the `listener` directive (0 for settings given before any listener).
    pub line: usize,
    pub port: u16,
    /// Address or host to bind; `None`: all interfaces.
    pub bind_address: Option<String>,
    /// `listener 0 /path`: a Unix socket.
    pub unix_socket: Option<PathBuf>,
    pub protocol: ListenerProtocol,
    pub cafile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    pub require_certificate: bool,
    pub use_identity_as_username: bool,
    pub tls_version: Option<TlsVersion>,
    /// `ciphers` and `ciphers_tls1.3`, joined into one OpenSSL cipher list.
    pub ciphers: Option<String>,
    /// `None` (or -1 in the file): unlimited.
    pub max_connections: Option<u32>,
    /// Used only with `per_listener_settings true`.
    pub security: SecuritySettings,
}

/// A parsed `mosquitto.conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MosquittoConf {
    pub per_listener_settings: bool,
    pub global: GlobalSettings,
    /// Security settings when `per_listener_settings` is false.
    pub security: SecuritySettings,
    /// Listener directives given before any `listener` (Mosquitto's default listener,
    /// on `port`, 1883 unless set); `None` when there were none.
    pub default_listener: Option<ListenerSettings>,
    pub listeners: Vec<ListenerSettings>,
    /// Directives read but ignored, with why.
    pub warnings: Vec<ConfProblem>,
}

/// How an unsupported directive is reported: `Some(false)` a warning (ignoring it cannot
/// weaken security or change what clients may do: logging, persistence, tuning),
/// `Some(true)` an error (authentication plugins, PSK, bridges, includes, ...), `None` not a
/// Mosquitto directive at all (also an error, as Mosquitto makes it).
pub fn unsupported_severity(directive: &str) -> Option<bool> {
    const WARNINGS: &[&str] = &[
        "autosave_interval",
        "autosave_on_changes",
        "check_retain_source",
        "clientid_prefixes",
        "connection_messages",
        "dhparamfile",
        "http_dir",
        "log_dest",
        "log_facility",
        "log_timestamp",
        "log_timestamp_format",
        "log_type",
        "max_queued_bytes",
        "memory_limit",
        "persistence",
        "persistence_file",
        "persistence_location",
        "pid_file",
        "queue_qos0_messages",
        "set_tcp_nodelay",
        "socket_domain",
        "upgrade_outgoing_qos",
        "user",
        "websockets_headers_size",
        "websockets_log_level",
        "max_topic_alias",
    ];
    const ERRORS: &[&str] = &[
        "acl_file_mode",
        "auth_plugin",
        "auth_plugin_deny_special_chars",
        "auto_id_prefix",
        "bind_address",
        "bind_interface",
        "capath",
        "connection",
        "crlfile",
        "include_dir",
        "mount_point",
        "plugin",
        "psk_file",
        "psk_hint",
        "tls_engine",
        "tls_engine_kpass_sha1",
        "tls_keyform",
        "use_subject_as_username",
        "use_username_as_clientid",
        "password_file_mode",
        "allow_duplicate_messages",
        "global_plugin",
        "enable_control_api",
    ];
    if WARNINGS.contains(&directive) {
        Some(false)
    } else if ERRORS.contains(&directive)
        || directive.starts_with("auth_opt_")
        || directive.starts_with("plugin_opt_")
    {
        Some(true)
    } else {
        None
    }
}

enum Scope {
    /// Before any `listener`.
    Default,
    Listener(usize),
}

impl MosquittoConf {
    /// Parses the text of a config file; `file_name` is used in errors.
    pub fn parse(text: &str, file_name: &str) -> Result<MosquittoConf, ConfError> {
        let mut conf = MosquittoConf::default();
        let mut errors = Vec::new();
        let mut scope = Scope::Default;
        let mut security_seen_at: Option<usize> = None;
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (directive, value) = match trimmed.split_once([' ', '\t']) {
                Some((directive, value)) => (directive, value.trim()),
                None => (trimmed, ""),
            };
            let problem = |message: String| ConfProblem {
                line,
                directive: directive.to_string(),
                message,
            };
            let result = conf.apply(directive, value, line, &mut scope, &mut security_seen_at);
            match result {
                Ok(None) => {}
                Ok(Some(warning)) => conf.warnings.push(problem(warning)),
                Err(message) => errors.push(problem(message)),
            }
        }
        if errors.is_empty() {
            Ok(conf)
        } else {
            Err(ConfError {
                file: file_name.to_string(),
                errors,
            })
        }
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<MosquittoConf, ConfError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfError {
            file: path.display().to_string(),
            errors: vec![ConfProblem {
                line: 0,
                directive: String::new(),
                message: format!("cannot read: {error}"),
            }],
        })?;
        MosquittoConf::parse(&text, &path.display().to_string())
    }

    /// Whether text looks like `mosquitto.conf` rather than TOML/JSON: its first directive
    /// line has no `=` / `{` / `[` and starts with a word.
    pub fn looks_like_mosquitto_conf(text: &str) -> bool {
        text.lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with('#'))
            .is_some_and(|line| {
                !line.contains('=')
                    && !line.starts_with(['{', '['])
                    && line.starts_with(|c: char| c.is_ascii_lowercase())
            })
    }

    /// The security settings in force on `listener` (an index into `listeners`; `None`
    /// for the default listener).
    pub fn security_for(&self, listener: Option<usize>) -> &SecuritySettings {
        if !self.per_listener_settings {
            return &self.security;
        }
        match listener {
            Some(index) => self
                .listeners
                .get(index)
                .map_or(&self.security, |l| &l.security),
            None => self
                .default_listener
                .as_ref()
                .map_or(&self.security, |l| &l.security),
        }
    }

    /// Mosquitto 2.0's "local only mode": a file without any listener makes Mosquitto
    /// listen on the loopback interface, port 1883, and allow anonymous clients by default.
    pub fn is_local_only(&self) -> bool {
        self.listeners.is_empty() && self.default_listener.is_none()
    }

    /// Builds the authenticator for `listener`, loading its password and ACL files.
    /// `allow_anonymous` defaults to false as in Mosquitto 2.0, true in local only mode
    /// (an explicit `allow_anonymous false` is honoured there too).
    pub fn authenticator_for(
        &self,
        listener: Option<usize>,
    ) -> Result<FileAuthenticator, AuthError> {
        let security = self.security_for(listener);
        FileAuthenticator::from_files(
            security.allow_anonymous.unwrap_or(self.is_local_only()),
            security.password_file.as_deref(),
            security.acl_file.as_deref(),
        )
    }

    fn current_listener<'a>(&'a mut self, scope: &Scope) -> &'a mut ListenerSettings {
        match *scope {
            Scope::Listener(index) if index < self.listeners.len() => &mut self.listeners[index],
            _ => self
                .default_listener
                .get_or_insert_with(|| ListenerSettings {
                    port: 1883,
                    ..Default::default()
                }),
        }
    }

    fn current_security<'a>(&'a mut self, scope: &Scope) -> &'a mut SecuritySettings {
        if self.per_listener_settings {
            &mut self.current_listener(scope).security
        } else {
            &mut self.security
        }
    }

    /// Applies one directive: `Ok(Some(_))` a warning, `Err(_)` an error.
    fn apply(
        &mut self,
        directive: &str,
        value: &str,
        line: usize,
        scope: &mut Scope,
        security_seen_at: &mut Option<usize>,
    ) -> Result<Option<String>, String> {
        let is_security = matches!(
            directive,
            "allow_anonymous" | "password_file" | "acl_file" | "allow_zero_length_clientid"
        );
        if is_security && security_seen_at.is_none() {
            *security_seen_at = Some(line);
        }
        match directive {
            "per_listener_settings" => {
                self.per_listener_settings = parse_bool(value)?;
                if let Some(first) = *security_seen_at {
                    return Ok(Some(format!(
                        "comes after a security directive (line {first}); Mosquitto applies \
                         it only to directives that follow it"
                    )));
                }
            }
            "listener" => {
                let mut parts = value.split_whitespace();
                let port = parts
                    .next()
                    .ok_or("missing port")?
                    .parse::<u16>()
                    .map_err(|_| format!("invalid port {value:?}"))?;
                let address = parts.next().map(str::to_string);
                if parts.next().is_some() {
                    return Err("expected `listener PORT [ADDRESS]`".to_string());
                }
                let (bind_address, unix_socket) = match address {
                    Some(path) if port == 0 => (None, Some(PathBuf::from(path))),
                    None if port == 0 => return Err("port 0 needs a Unix socket path".to_string()),
                    other => (other, None),
                };
                self.listeners.push(ListenerSettings {
                    line,
                    port,
                    bind_address,
                    unix_socket,
                    ..Default::default()
                });
                *scope = Scope::Listener(self.listeners.len() - 1);
            }
            "port" => {
                let port = parse_number::<u16>(value)?;
                self.current_listener(&Scope::Default).port = port;
                return Ok(Some(
                    "deprecated: prefer `listener PORT`; applied to the default listener"
                        .to_string(),
                ));
            }
            "protocol" => {
                self.current_listener(scope).protocol = match value {
                    "mqtt" => ListenerProtocol::Mqtt,
                    "websockets" => ListenerProtocol::WebSockets,
                    other => {
                        return Err(format!("unknown protocol {other:?} (mqtt or websockets)"))
                    }
                }
            }
            "cafile" => self.current_listener(scope).cafile = Some(parse_path(value)?),
            "certfile" => self.current_listener(scope).certfile = Some(parse_path(value)?),
            "keyfile" => self.current_listener(scope).keyfile = Some(parse_path(value)?),
            "require_certificate" => {
                self.current_listener(scope).require_certificate = parse_bool(value)?
            }
            "use_identity_as_username" => {
                self.current_listener(scope).use_identity_as_username = parse_bool(value)?
            }
            "tls_version" => {
                self.current_listener(scope).tls_version =
                    Some(TlsVersion::from_mosquitto_name(value)?)
            }
            "ciphers" | "ciphers_tls1.3" => {
                crate::transport::tls::cipher_suites(value).map_err(|e| e.to_string())?;
                let listener = self.current_listener(scope);
                listener.ciphers = Some(match listener.ciphers.take() {
                    Some(list) => format!("{list}:{value}"),
                    None => value.to_string(),
                });
            }
            "max_connections" => {
                let limit = parse_number::<i64>(value)?;
                self.current_listener(scope).max_connections = if limit < 0 {
                    None
                } else {
                    Some(u32::try_from(limit).map_err(|_| format!("{limit} is too large"))?)
                };
            }
            "allow_anonymous" => {
                self.current_security(scope).allow_anonymous = Some(parse_bool(value)?)
            }
            "allow_zero_length_clientid" => {
                self.current_security(scope).allow_zero_length_clientid = Some(parse_bool(value)?)
            }
            "password_file" => {
                self.current_security(scope).password_file = Some(parse_path(value)?)
            }
            "acl_file" => self.current_security(scope).acl_file = Some(parse_path(value)?),
            "max_keepalive" => self.global.max_keepalive = Some(parse_number(value)?),
            "max_packet_size" => {
                let size = parse_number::<u32>(value)?;
                if !(20..=268_435_455).contains(&size) {
                    return Err(format!("{size} is outside 20..=268435455"));
                }
                self.global.max_packet_size = Some(size);
            }
            "max_queued_messages" => self.global.max_queued_messages = Some(parse_number(value)?),
            "max_inflight_messages" => {
                self.global.max_inflight_messages = Some(parse_number(value)?)
            }
            "message_size_limit" => self.global.message_size_limit = Some(parse_number(value)?),
            "persistent_client_expiration" => {
                self.global.persistent_client_expiration = Some(parse_expiration(value)?)
            }
            "sys_interval" => {
                self.global.sys_interval = Some(Duration::from_secs(parse_number(value)?))
            }
            "retain_available" => self.global.retain_available = Some(parse_bool(value)?),
            other => {
                return match unsupported_severity(other) {
                    Some(false) => Ok(Some("not supported by ferromqtt; ignored".to_string())),
                    Some(true) => Err(
                        "not supported by ferromqtt, and ignoring it would change who may \
                         connect or what they may do"
                            .to_string(),
                    ),
                    None => Err("unknown directive".to_string()),
                }
            }
        }
        Ok(None)
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("expected true or false, not {other:?}")),
    }
}

fn parse_number<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .parse::<T>()
        .map_err(|_| format!("invalid number {value:?}"))
}

fn parse_path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("missing path".to_string());
    }
    Ok(PathBuf::from(value))
}

/// `NUMBER` followed by h, d, w, m (months of 30 days) or y (365 days), as Mosquitto reads.
fn parse_expiration(value: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {value:?} (a number followed by h, d, w, m or y)");
    let unit = value.chars().last().ok_or_else(invalid)?;
    let number: u64 = value[..value.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| invalid())?;
    let hours = match unit {
        'h' => 1,
        'd' => 24,
        'w' => 24 * 7,
        'm' => 24 * 30,
        'y' => 24 * 365,
        _ => return Err(invalid()),
    };
    Ok(Duration::from_secs(number.saturating_mul(hours * 3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
# global
per_listener_settings false
max_keepalive 120
max_packet_size 1048576
max_queued_messages 500
max_inflight_messages 10
message_size_limit 0
persistent_client_expiration 2d
sys_interval 5
retain_available false
log_dest stdout
allow_anonymous false
password_file /etc/mosquitto/passwd

listener 1883 127.0.0.1
max_connections 100

listener 8883
certfile /etc/certs/server.pem
keyfile /etc/certs/server.key
cafile /etc/certs/ca.pem
require_certificate true
use_identity_as_username true
tls_version tlsv1.3
acl_file /etc/mosquitto/acl

listener 9001
protocol websockets
max_connections -1

listener 0 /run/mosquitto.sock
";

    #[test]
    fn a_typical_file_fills_global_security_and_listeners() {
        let conf = MosquittoConf::parse(EXAMPLE, "mosquitto.conf").unwrap();
        assert!(!conf.per_listener_settings);
        assert_eq!(conf.global.max_keepalive, Some(120));
        assert_eq!(conf.global.max_packet_size, Some(1_048_576));
        assert_eq!(conf.global.max_queued_messages, Some(500));
        assert_eq!(conf.global.max_inflight_messages, Some(10));
        assert_eq!(conf.global.message_size_limit, Some(0));
        assert_eq!(
            conf.global.persistent_client_expiration,
            Some(Duration::from_secs(2 * 86_400))
        );
        assert_eq!(conf.global.sys_interval, Some(Duration::from_secs(5)));
        assert_eq!(conf.global.retain_available, Some(false));
        // Without per_listener_settings, security directives are global wherever they are.
        assert_eq!(conf.security.allow_anonymous, Some(false));
        assert_eq!(
            conf.security.acl_file.as_deref(),
            Some(Path::new("/etc/mosquitto/acl"))
        );
        assert_eq!(conf.security_for(Some(1)), &conf.security);
        assert_eq!(conf.listeners.len(), 4);
        let plain = &conf.listeners[0];
        assert_eq!(
            (plain.port, plain.bind_address.as_deref()),
            (1883, Some("127.0.0.1"))
        );
        assert_eq!(plain.max_connections, Some(100));
        assert!(plain.certfile.is_none() && plain.keyfile.is_none());
        let secure = &conf.listeners[1];
        assert_eq!(secure.line, 18);
        assert!(secure.certfile.is_some() && secure.keyfile.is_some());
        assert!(secure.require_certificate);
        assert_eq!(secure.tls_version, Some(TlsVersion::Tls13));
        assert!(secure.use_identity_as_username);
        assert_eq!(conf.listeners[2].protocol, ListenerProtocol::WebSockets);
        assert_eq!(conf.listeners[2].max_connections, None);
        assert_eq!(
            conf.listeners[3].unix_socket.as_deref(),
            Some(Path::new("/run/mosquitto.sock"))
        );
        assert_eq!(conf.warnings.len(), 1);
        assert_eq!(conf.warnings[0].line, 11);
        assert_eq!(conf.warnings[0].directive, "log_dest");
        assert!(conf.default_listener.is_none());
    }

    #[test]
    fn per_listener_settings_scopes_security_to_each_listener() {
        let text = "\
per_listener_settings true
listener 1883
allow_anonymous true
listener 1884
allow_anonymous false
password_file /p
acl_file /a
";
        let conf = MosquittoConf::parse(text, "c").unwrap();
        assert_eq!(conf.security_for(Some(0)).allow_anonymous, Some(true));
        assert_eq!(conf.security_for(Some(0)).password_file, None);
        assert_eq!(conf.security_for(Some(1)).allow_anonymous, Some(false));
        assert_eq!(
            conf.security_for(Some(1)).password_file.as_deref(),
            Some(Path::new("/p"))
        );
        assert_eq!(conf.security, SecuritySettings::default());
    }

    #[test]
    fn per_listener_settings_late_in_the_file_is_warned_about() {
        let conf = MosquittoConf::parse("allow_anonymous true\nper_listener_settings true\n", "c")
            .unwrap();
        assert_eq!(conf.warnings.len(), 1);
        assert!(conf.warnings[0].message.contains("line 1"));
    }

    #[test]
    fn listener_directives_before_any_listener_go_to_the_default_listener() {
        let conf = MosquittoConf::parse("port 1884\nmax_connections 5\n", "c").unwrap();
        let default = conf.default_listener.unwrap();
        assert_eq!((default.port, default.max_connections), (1884, Some(5)));
        assert!(conf.warnings[0].message.contains("deprecated"));
    }

    #[test]
    fn a_file_without_listeners_is_local_only_and_open_by_default() {
        use crate::auth::Authenticator;
        let conf = MosquittoConf::parse("max_keepalive 30\n", "c").unwrap();
        assert!(conf.is_local_only());
        let auth = conf.authenticator_for(None).unwrap();
        assert!(auth.authenticate("c", None, None, None).is_allowed());
        let conf = MosquittoConf::parse("allow_anonymous false\n", "c").unwrap();
        let auth = conf.authenticator_for(None).unwrap();
        assert!(!auth.authenticate("c", None, None, None).is_allowed());
        let conf = MosquittoConf::parse("listener 1883\n", "c").unwrap();
        assert!(!conf.is_local_only());
        let auth = conf.authenticator_for(Some(0)).unwrap();
        assert!(!auth.authenticate("c", None, None, None).is_allowed());
    }

    #[test]
    fn errors_name_every_bad_line() {
        let text = "\
allow_anonymous maybe
listener notaport
max_packet_size 10
frobnicate on
psk_file /etc/psk
auth_opt_backend http
persistent_client_expiration 3x
listener 0
tls_version tlsv1.1
protocol carrier-pigeon
log_type all
";
        let error = MosquittoConf::parse(text, "broker.conf").unwrap_err();
        let lines: Vec<usize> = error.errors.iter().map(|p| p.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let message = error.to_string();
        assert!(message.starts_with("broker.conf: line 1: allow_anonymous: expected true or false"));
        assert!(
            message.contains("line 4: frobnicate: unknown directive"),
            "{message}"
        );
        assert!(
            message.contains("line 5: psk_file: not supported"),
            "{message}"
        );
    }

    #[test]
    fn every_unsupported_directive_has_a_documented_severity() {
        assert_eq!(unsupported_severity("log_type"), Some(false));
        assert_eq!(unsupported_severity("plugin"), Some(true));
        assert_eq!(unsupported_severity("plugin_opt_x"), Some(true));
        assert_eq!(unsupported_severity("allow_anonymous_typo"), None);
    }

    #[test]
    fn mosquitto_conf_is_told_apart_from_toml_and_json() {
        assert!(MosquittoConf::looks_like_mosquitto_conf(
            "# c\nlistener 1883\n"
        ));
        assert!(!MosquittoConf::looks_like_mosquitto_conf(
            "[broker]\nport = 1883\n"
        ));
        assert!(!MosquittoConf::looks_like_mosquitto_conf("port = 1883\n"));
        assert!(!MosquittoConf::looks_like_mosquitto_conf(
            "{\"port\": 1883}"
        ));
    }

    #[test]
    fn authenticator_for_loads_the_listener_files() {
        let dir = std::env::temp_dir().join(format!("ferromqtt-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut passwords = crate::auth::PasswordFile::new();
        passwords.set_password("u", b"p").unwrap();
        passwords.save(dir.join("passwd")).unwrap();
        std::fs::write(dir.join("acl"), "user u\ntopic read t\n").unwrap();
        let text = format!(
            "per_listener_settings true\nlistener 1883\nallow_anonymous true\n\
             listener 1884\npassword_file {0}/passwd\nacl_file {0}/acl\n",
            dir.display()
        );
        let conf = MosquittoConf::parse(&text, "c").unwrap();
        use crate::auth::{Access, Authenticator};
        let open = conf.authenticator_for(Some(0)).unwrap();
        assert!(open.authenticate("c", None, None, None).is_allowed());
        let closed = conf.authenticator_for(Some(1)).unwrap();
        assert!(!closed.authenticate("c", None, None, None).is_allowed());
        assert!(closed
            .authenticate("c", Some("u"), Some(b"p"), None)
            .is_allowed());
        assert!(closed.authorize("c", Some("u"), "t", Access::Read));
        assert!(!closed.authorize("c", Some("u"), "t", Access::Write));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics_the_parser(text in "(.{0,40}\n){0,8}") {
            let _ = MosquittoConf::parse(&text, "fuzz");
            let _ = MosquittoConf::looks_like_mosquitto_conf(&text);
        }
    }
}
