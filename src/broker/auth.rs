//! The broker's authentication/authorization seam is [`crate::auth::Authenticator`]: the
//! connection task asks it once per CONNECT, the session per PUBLISH (and will) and
//! SUBSCRIBE, the router per delivery (retained and will messages included). This module
//! only adds the default that allows everything and the choice made from `BrokerConfig`
//! (its files held by [`ReloadableFiles`], which `Broker::reload` re-reads).

use super::config::BrokerConfig;
pub use crate::auth::{Access, AuthDecision, AuthError, Authenticator, FileAuthenticator};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

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
    Ok(match ReloadableFiles::from_config(config)? {
        Some(files) => files,
        None => Arc::new(AllowAll),
    })
}

/// The configuration's password and ACL files, re-read by `reload` (SIGHUP,
/// `Broker::reload`). Connections keep this `Arc`, so a reload applies to open connections
/// too; a file that fails to load leaves the previous contents in force.
#[derive(Debug)]
pub struct ReloadableFiles {
    allow_anonymous: bool,
    password_file: Option<PathBuf>,
    acl_file: Option<PathBuf>,
    // std RwLock, not tokio: held for one check, never across an .await.
    current: RwLock<Arc<FileAuthenticator>>,
}

impl ReloadableFiles {
    /// Loads the files; `None` when the configuration asks for no file-based security.
    pub fn from_config(config: &BrokerConfig) -> Result<Option<Arc<Self>>, AuthError> {
        if config.allow_anonymous && config.password_file.is_none() && config.acl_file.is_none() {
            return Ok(None);
        }
        let files = ReloadableFiles {
            allow_anonymous: config.allow_anonymous,
            password_file: config.password_file.clone(),
            acl_file: config.acl_file.clone(),
            current: RwLock::new(Arc::new(FileAuthenticator::new(config.allow_anonymous))),
        };
        files.reload()?;
        Ok(Some(Arc::new(files)))
    }

    /// Re-reads both files and swaps them in together; on error nothing changes.
    pub fn reload(&self) -> Result<(), AuthError> {
        let loaded = FileAuthenticator::from_files(
            self.allow_anonymous,
            self.password_file.as_deref(),
            self.acl_file.as_deref(),
        )?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    fn current(&self) -> Arc<FileAuthenticator> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Authenticator for ReloadableFiles {
    fn authenticate(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
        peer: Option<SocketAddr>,
    ) -> AuthDecision {
        // The password check (PBKDF2) runs outside the lock.
        self.current()
            .authenticate(client_id, username, password, peer)
    }

    fn authorize(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .authorize(client_id, username, topic, access)
    }
}
