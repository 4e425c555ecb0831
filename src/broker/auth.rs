//! The broker's authentication/authorization seam is [`crate::auth::Authenticator`]: the
//! connection task asks it once per CONNECT, the session per PUBLISH (and will) and
//! SUBSCRIBE, the router per delivery (retained and will messages included). This module
//! only adds the default that allows everything and the choice made from `BrokerConfig`.

use super::config::BrokerConfig;
pub use crate::auth::{Access, AuthDecision, AuthError, Authenticator, FileAuthenticator};
use std::net::SocketAddr;
use std::sync::Arc;

/// The default: everyone may connect and do everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(
        &self,
        _client_id: &str,
        _username: Option<&str>,
        _password: Option<&[u8]>,
        _peer: Option<SocketAddr>,
    ) -> AuthDecision {
        AuthDecision::Allow
    }

    fn authorize(
        &self,
        _client_id: &str,
        _username: Option<&str>,
        _topic: &str,
        _access: Access,
    ) -> bool {
        true
    }
}

/// The authenticator the configuration asks for: Mosquitto's file-based security when
/// `allow_anonymous` is false or a password or ACL file is named, else [`AllowAll`].
pub fn from_config(config: &BrokerConfig) -> Result<Arc<dyn Authenticator>, AuthError> {
    if config.allow_anonymous && config.password_file.is_none() && config.acl_file.is_none() {
        return Ok(Arc::new(AllowAll));
    }
    Ok(Arc::new(FileAuthenticator::from_files(
        config.allow_anonymous,
        config.password_file.as_deref(),
        config.acl_file.as_deref(),
    )?))
}
