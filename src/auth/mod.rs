//! Authentication and authorization with Mosquitto's file formats: password file, ACL file
//! and `mosquitto.conf`. The broker's connection task calls an [`Authenticator`] once per
//! CONNECT (`authenticate`) and its session per PUBLISH, SUBSCRIBE and delivery
//! (`authorize`); nothing here does network IO, and file loading happens only when a
//! [`FileAuthenticator`] is built (at start and on reload).

#![forbid(unsafe_code)]

pub mod acl;
pub mod login_delay;
pub mod mosquitto_conf;
pub mod password_file;

pub use acl::{Access, Acl, AclError};
pub use login_delay::LoginDelay;
pub use password_file::{PasswordFile, PasswordFileError};

use crate::protocol::ReasonCode;
use std::net::SocketAddr;
use std::path::Path;

/// The outcome of checking a CONNECT's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthDecision {
    Allow,
    /// A username was given and it is unknown or its password is wrong.
    /// CONNACK 0x86 (5.0) / 4 (3.x).
    BadUsernameOrPassword,
    /// No username, and anonymous clients are not allowed. CONNACK 0x87 (5.0) / 5 (3.x).
    NotAuthorized,
}

impl AuthDecision {
    pub fn is_allowed(self) -> bool {
        self == AuthDecision::Allow
    }

    /// The CONNACK reason of a refusal (`ReasonCode::to_connack_v3` gives the 3.x code);
    /// `None` for `Allow`. Mosquitto answers 0x87 / 5 to both refusals; the distinct code
    /// for a wrong password is the one MQTT 5.0 defines for it.
    pub fn connack_reason(self) -> Option<ReasonCode> {
        match self {
            AuthDecision::Allow => None,
            AuthDecision::BadUsernameOrPassword => Some(ReasonCode::BadUserNameOrPassword),
            AuthDecision::NotAuthorized => Some(ReasonCode::NotAuthorized),
        }
    }
}

/// What the broker asks about each client. Implementations are shared by every connection
/// task (`Arc<dyn Authenticator>`), so they must be cheap to call concurrently; a swap on
/// reload replaces the whole `Arc`.
pub trait Authenticator: Send + Sync {
    /// Checks a CONNECT. `username` is the CONNECT's, or the client certificate's CN when
    /// the listener has `use_identity_as_username`. `peer` is `None` on a Unix socket.
    fn authenticate(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
        peer: Option<SocketAddr>,
    ) -> AuthDecision;

    /// Whether the client may do `access` on `topic`: a topic name for `Read` (every
    /// delivery, retained and will messages included) and `Write` (every PUBLISH, will
    /// messages at CONNECT), a topic filter for `Subscribe`.
    fn authorize(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool;
}

/// Why a [`FileAuthenticator`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    PasswordFile(#[from] PasswordFileError),
    #[error(transparent)]
    Acl(#[from] AclError),
}

/// Mosquitto's built-in security: `allow_anonymous`, `password_file`, `acl_file`.
///
/// - No username: allowed only with `allow_anonymous`.
/// - A username with a password file: the password must verify.
/// - A username without a password file: nothing can check it, so it counts as anonymous.
/// - No ACL file: every topic is allowed, except writing to `$SYS` and using `$share/...`
///   as a topic name, which Mosquitto refuses whatever the configuration.
#[derive(Clone, Debug)]
pub struct FileAuthenticator {
    allow_anonymous: bool,
    passwords: Option<PasswordFile>,
    acl: Option<Acl>,
}

impl FileAuthenticator {
    pub fn new(allow_anonymous: bool) -> Self {
        FileAuthenticator {
            allow_anonymous,
            passwords: None,
            acl: None,
        }
    }

    pub fn with_passwords(mut self, passwords: PasswordFile) -> Self {
        self.passwords = Some(passwords);
        self
    }

    pub fn with_acl(mut self, acl: Acl) -> Self {
        self.acl = Some(acl);
        self
    }

    /// Loads the files named by a configuration (call again to reload, then swap the `Arc`).
    pub fn from_files(
        allow_anonymous: bool,
        password_file: Option<&Path>,
        acl_file: Option<&Path>,
    ) -> Result<Self, AuthError> {
        let mut authenticator = FileAuthenticator::new(allow_anonymous);
        if let Some(path) = password_file {
            authenticator.passwords = Some(PasswordFile::load(path)?);
        }
        if let Some(path) = acl_file {
            authenticator.acl = Some(Acl::load(path)?);
        }
        Ok(authenticator)
    }

    pub fn allow_anonymous(&self) -> bool {
        self.allow_anonymous
    }

    pub fn passwords(&self) -> Option<&PasswordFile> {
        self.passwords.as_ref()
    }

    pub fn acl(&self) -> Option<&Acl> {
        self.acl.as_ref()
    }
}

impl Authenticator for FileAuthenticator {
    fn authenticate(
        &self,
        _client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
        _peer: Option<SocketAddr>,
    ) -> AuthDecision {
        match (username, &self.passwords) {
            (Some(username), Some(passwords)) => match password {
                Some(password) if passwords.verify(username, password) => AuthDecision::Allow,
                _ => AuthDecision::BadUsernameOrPassword,
            },
            _ if self.allow_anonymous => AuthDecision::Allow,
            _ => AuthDecision::NotAuthorized,
        }
    }

    fn authorize(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        match &self.acl {
            Some(acl) => acl.check(client_id, username, topic, access),
            None => acl::system_topic_allows(topic, access),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords() -> PasswordFile {
        let mut passwords = PasswordFile::new();
        passwords.set_password("alice", b"right").unwrap();
        passwords
    }

    fn peer() -> Option<SocketAddr> {
        Some(SocketAddr::from(([127, 0, 0, 1], 50000)))
    }

    #[test]
    fn anonymous_clients_depend_on_allow_anonymous() {
        let open = FileAuthenticator::new(true).with_passwords(passwords());
        let closed = FileAuthenticator::new(false).with_passwords(passwords());
        assert_eq!(
            open.authenticate("c", None, None, peer()),
            AuthDecision::Allow
        );
        assert_eq!(
            closed.authenticate("c", None, None, peer()),
            AuthDecision::NotAuthorized
        );
        assert_eq!(
            closed.authenticate("c", None, Some(b"right"), None),
            AuthDecision::NotAuthorized
        );
    }

    #[test]
    fn usernames_are_checked_against_the_password_file() {
        for allow_anonymous in [true, false] {
            let auth = FileAuthenticator::new(allow_anonymous).with_passwords(passwords());
            let check = |user, password| auth.authenticate("c", Some(user), password, peer());
            assert_eq!(check("alice", Some(&b"right"[..])), AuthDecision::Allow);
            assert_eq!(
                check("alice", Some(&b"wrong"[..])),
                AuthDecision::BadUsernameOrPassword
            );
            assert_eq!(check("alice", None), AuthDecision::BadUsernameOrPassword);
            assert_eq!(
                check("mallory", Some(&b"right"[..])),
                AuthDecision::BadUsernameOrPassword
            );
        }
    }

    #[test]
    fn without_a_password_file_a_username_counts_as_anonymous() {
        let open = FileAuthenticator::new(true);
        let closed = FileAuthenticator::new(false);
        assert!(open
            .authenticate("c", Some("anyone"), Some(b"x"), peer())
            .is_allowed());
        assert_eq!(
            closed.authenticate("c", Some("anyone"), Some(b"x"), peer()),
            AuthDecision::NotAuthorized
        );
    }

    #[test]
    fn refusals_map_to_connack_reason_codes() {
        assert_eq!(AuthDecision::Allow.connack_reason(), None);
        let bad = AuthDecision::BadUsernameOrPassword
            .connack_reason()
            .unwrap();
        assert_eq!((bad.as_u8(), bad.to_connack_v3()), (0x86, 4));
        let denied = AuthDecision::NotAuthorized.connack_reason().unwrap();
        assert_eq!((denied.as_u8(), denied.to_connack_v3()), (0x87, 5));
    }

    #[test]
    fn authorization_uses_the_acl_or_only_the_system_topic_rules() {
        let none = FileAuthenticator::new(true);
        assert!(none.authorize("c", None, "any/topic", Access::Write));
        assert!(none.authorize("c", None, "$SYS/broker/uptime", Access::Read));
        assert!(!none.authorize("c", None, "$SYS/broker/uptime", Access::Write));
        assert!(none.authorize("c", None, "$share/g/t", Access::Subscribe));
        assert!(!none.authorize("c", None, "$share/g/t", Access::Write));

        let acl = Acl::parse("user alice\ntopic write in/#\n", "acl").unwrap();
        let auth = FileAuthenticator::new(true).with_acl(acl);
        assert!(auth.authorize("c", Some("alice"), "in/x", Access::Write));
        assert!(!auth.authorize("c", Some("alice"), "in/x", Access::Read));
        assert!(!auth.authorize("c", None, "in/x", Access::Write));
    }

    #[test]
    fn from_files_reports_the_failing_file() {
        let missing = Path::new("/nonexistent/ferromqtt/passwd");
        let error = FileAuthenticator::from_files(true, Some(missing), None).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/ferromqtt/passwd"),
            "{error}"
        );
        let error = FileAuthenticator::from_files(true, None, Some(missing)).unwrap_err();
        assert!(matches!(error, AuthError::Acl(AclError::Read { .. })));
    }

    #[test]
    fn authenticator_is_usable_as_a_shared_trait_object() {
        let shared: std::sync::Arc<dyn Authenticator> =
            std::sync::Arc::new(FileAuthenticator::new(false).with_passwords(passwords()));
        let worker = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                shared.authenticate("c", Some("alice"), Some(b"right"), None)
            })
        };
        assert_eq!(worker.join().unwrap(), AuthDecision::Allow);
    }
}
