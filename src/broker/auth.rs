//! The authentication/authorization seam: one trait consulted at CONNECT, PUBLISH,
//! SUBSCRIBE and delivery. The default allows everything; password files, ACL files and
//! Python hooks plug in here without touching the session or the router.

use crate::protocol::{Connect, ReasonCode, TopicFilter, TopicName};
use std::net::SocketAddr;

/// Who is asking, as the broker knows them after CONNECT.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub address: Option<SocketAddr>,
}

/// Decides who may connect, publish, subscribe and receive. Methods must not block: they
/// run on the broker's tasks (a hook that needs IO should answer from a cache).
pub trait AuthHook: Send + Sync + 'static {
    /// Accept or refuse a CONNECT; the error is the CONNACK reason (3.x maps it).
    fn authenticate(&self, _connect: &Connect, _address: SocketAddr) -> Result<(), ReasonCode> {
        Ok(())
    }

    /// May this client publish to `topic`? Refused QoS 0 is dropped; QoS 1/2 is
    /// acknowledged with 0x87 (MQTT 5) or plainly (3.x) and not forwarded.
    fn authorize_publish(&self, _client: &ClientInfo<'_>, _topic: &TopicName) -> bool {
        true
    }

    /// May this client subscribe to `filter`? Refused: SUBACK 0x87 (MQTT 5) / 0x80 (3.x).
    fn authorize_subscribe(&self, _client: &ClientInfo<'_>, _filter: &TopicFilter) -> bool {
        true
    }

    /// May this message on `topic` be delivered to this client?
    fn authorize_delivery(&self, _client: &ClientInfo<'_>, _topic: &TopicName) -> bool {
        true
    }
}

/// The default hook: everyone may do everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl AuthHook for AllowAll {}

/// Plugs an [`Authenticator`](crate::auth::Authenticator) (Mosquitto's password and ACL
/// files, see `crate::auth`) into the broker: CONNECT goes to `authenticate`, PUBLISH to
/// `Write`, SUBSCRIBE to `Subscribe` and every delivery to `Read`.
pub struct AuthenticatorHook(pub std::sync::Arc<dyn crate::auth::Authenticator>);

impl AuthHook for AuthenticatorHook {
    fn authenticate(&self, connect: &Connect, address: SocketAddr) -> Result<(), ReasonCode> {
        let decision = self.0.authenticate(
            &connect.client_id,
            connect.username.as_deref(),
            connect.password.as_deref(),
            Some(address),
        );
        match decision.connack_reason() {
            None => Ok(()),
            Some(reason) => Err(reason),
        }
    }

    fn authorize_publish(&self, client: &ClientInfo<'_>, topic: &TopicName) -> bool {
        let access = crate::auth::Access::Write;
        self.0
            .authorize(client.client_id, client.username, topic.as_str(), access)
    }

    fn authorize_subscribe(&self, client: &ClientInfo<'_>, filter: &TopicFilter) -> bool {
        let access = crate::auth::Access::Subscribe;
        self.0
            .authorize(client.client_id, client.username, filter.as_str(), access)
    }

    fn authorize_delivery(&self, client: &ClientInfo<'_>, topic: &TopicName) -> bool {
        let access = crate::auth::Access::Read;
        self.0
            .authorize(client.client_id, client.username, topic.as_str(), access)
    }
}
