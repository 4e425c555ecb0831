//! The handshake of a new connection: CONNECT within the connect timeout, its checks
//! (protocol name and level, authentication method, the files' and the hooks' verdicts,
//! client id), the router's
//! session and the CONNACK. Anything refused is answered as the version expects, then
//! closed.

use super::{Accepted, Connection, Identity, Peer, CONNECT_CHUNK};
use crate::auth::Access;
use crate::broker::hooks::HookClient;
use crate::broker::router::{ConnectReply, ConnectRequest, RouterCommand};
use crate::broker::session::{decide_client_id, owned_topic, refusal, Session};
use crate::protocol::{decode, DecodeError, Packet, PacketType, ProtocolVersion, ReasonCode};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::Instant;

impl Connection {
    /// Reads CONNECT within the connect timeout, checks it, asks the router for the
    /// session and writes CONNACK. `None` means the connection is to be closed.
    pub(super) async fn handshake(&mut self, address: Peer) -> Option<Accepted> {
        let deadline = Instant::now() + self.shared.config.connect_timeout_duration();
        let max_packet_size = self.shared.session.limits.max_packet_size;
        let connect = loop {
            let mut head = [0u8; 16];
            let read_buf = &mut self.buffers().read;
            let head_len = read_buf.len().min(head.len());
            head[..head_len].copy_from_slice(&read_buf[..head_len]);
            match decode(read_buf, ProtocolVersion::V311, max_packet_size) {
                Ok(Some(Packet::Connect(connect))) => break connect,
                Ok(Some(other)) => {
                    // [MQTT-3.1.0-1] the first packet must be CONNECT.
                    log::info!(
                        "Client {} sent {:?} before CONNECT, disconnecting.",
                        address,
                        other.packet_type()
                    );
                    return None;
                }
                Ok(None) => {}
                Err(error) => {
                    self.refuse_bad_connect(address, &error, &head[..head_len]);
                    return None;
                }
            }
            tokio::select! {
                _ = self.token.cancelled() => return None,
                _ = tokio::time::sleep_until(deadline) => {
                    log::info!("Client {} did not send CONNECT in time, disconnecting.", address);
                    return None;
                }
                ready = std::future::poll_fn(|cx| self.stream.poll_read_ready(cx)) => {
                    if ready.is_err() {
                        return None;
                    }
                    match self.try_read(CONNECT_CHUNK) {
                        Ok(Some(true)) | Ok(None) => {}
                        Ok(Some(false)) | Err(_) => return None,
                    }
                }
            }
        };
        // Boxed, apart from the wait above: a handshake's transient memory comes in two
        // smaller blocks rather than one of 2 KiB, which left holes among the lasting
        // allocations of the connections opened meanwhile (benches/README.md, idle
        // connections).
        Box::pin(self.accept(address, connect)).await
    }

    /// Waits out the growing delay for failed logins from this address (cut short by
    /// shutdown), so a password guesser gets few tries per second.
    async fn delay_refusal(&mut self, address: Peer) {
        let Some(address) = address.0 else {
            return;
        };
        let delay = self
            .shared
            .login_delay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record_failure(address.ip(), std::time::Instant::now());
        if !delay.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.token.cancelled() => {}
            }
        }
    }

    /// The hooks' verdict on a CONNECT the files allowed: `authenticate`, then
    /// `authorize` for its will topic. A hook that fails refuses (not authorized).
    async fn connect_hooks(
        &mut self,
        address: Peer,
        connect: &crate::protocol::Connect,
        client_id: &Arc<str>,
    ) -> Result<(), ReasonCode> {
        let Some(broker_hooks) = &self.shared.hooks else {
            return Ok(());
        };
        let installed = broker_hooks.installed();
        let will_topic = connect
            .will
            .as_ref()
            .filter(|_| installed.authorize)
            .map(|will| will.topic.as_str().to_owned());
        if !installed.authenticate && will_topic.is_none() {
            return Ok(());
        }
        let client = HookClient {
            client_id: client_id.clone(),
            username: connect.username.as_deref().map(Arc::from),
            address: address.0,
            version: connect.protocol_version,
        };
        let password = connect.password.clone();
        // Boxed: only a broker with hooks needs this future's room, and the handshake's
        // future is part of every new connection's memory.
        let asked = broker_hooks.ask(&self.token, move |hooks| {
            if installed.authenticate {
                hooks.authenticate(&client, password.as_deref())?;
            }
            match will_topic {
                Some(topic) if !hooks.authorize(&client, Access::Write, &topic) => {
                    Err(ReasonCode::NotAuthorized)
                }
                _ => Ok(()),
            }
        });
        let verdict = Box::pin(asked).await;
        match verdict {
            Some(Err(reason))
                if reason.is_failure() && reason.is_valid_for(PacketType::ConnAck) =>
            {
                Err(reason)
            }
            Some(Ok(())) => Ok(()),
            Some(Err(_)) | None => Err(ReasonCode::NotAuthorized),
        }
    }

    fn refuse_bad_connect(&mut self, address: Peer, error: &DecodeError, head: &[u8]) {
        log::info!("Bad CONNECT from {}: {error}", address);
        let level = connect_level(head);
        match error {
            DecodeError::InvalidProtocolName(_) | DecodeError::UnsupportedProtocolLevel(_) => {
                // [MQTT-3.1.2-2]: CONNACK 0x01 for 3.x, 0x84 for a v5 client, then close.
                if level == Some(5) {
                    self.encode(
                        &refusal(ReasonCode::UnsupportedProtocolVersion),
                        ProtocolVersion::V5,
                    );
                } else {
                    self.encode(
                        &refusal(ReasonCode::UnsupportedProtocolVersion),
                        ProtocolVersion::V311,
                    );
                }
            }
            _ if level == Some(5) => {
                self.encode(&refusal(error.reason_code()), ProtocolVersion::V5);
            }
            _ => {}
        }
    }

    async fn accept(
        &mut self,
        address: Peer,
        mut connect: Box<crate::protocol::Connect>,
    ) -> Option<Accepted> {
        let version = connect.protocol_version;
        let shared = self.shared.clone();
        // use_identity_as_username: the certificate's CN replaces the username and the
        // password is not checked (as in Mosquitto); no certificate, no connection.
        let certified = match self.stream.identity().clone() {
            Identity::NotUsed => false,
            Identity::Username(name) => {
                connect.username = Some(name);
                connect.password = None;
                true
            }
            Identity::Missing => {
                log::info!("Client {} has no certificate identity.", address);
                self.encode(&refusal(ReasonCode::NotAuthorized), version);
                return None;
            }
        };
        let refuse = |this: &mut Connection, reason: ReasonCode| {
            log::info!(
                "Refused connection from {} as {:?}: {:?}.",
                address,
                connect.client_id,
                reason
            );
            this.encode(&refusal(reason), version);
        };
        if version.is_v5() && connect.properties.authentication_method().is_some() {
            refuse(self, ReasonCode::BadAuthenticationMethod);
            return None;
        }
        if version.is_v5()
            && !shared.config.retain_available
            && connect.will.as_ref().is_some_and(|will| will.retain)
        {
            // [MQTT-3.2.2-13]
            refuse(self, ReasonCode::RetainNotSupported);
            return None;
        }
        let allowed = certified
            || shared
                .session
                .auth
                .authenticate(
                    &connect.client_id,
                    connect.username.as_deref(),
                    connect.password.as_deref(),
                    address.0,
                )
                .is_allowed();
        if !allowed {
            // Mosquitto answers 0x87 / 5 (not authorized) to a wrong password as well as
            // to a refused anonymous client; clients and scripts written against it (and
            // `mosquitto_pub`'s exit codes) see the same answer here.
            Box::pin(self.delay_refusal(address)).await;
            refuse(self, ReasonCode::NotAuthorized);
            return None;
        }
        if let Some(will) = &connect.will {
            if shared
                .session
                .limits
                .has_too_many_levels(will.topic.as_str())
            {
                // As a PUBLISH past the level limit: 5.0 is told 0x90, 3.x is closed.
                log::info!(
                    "Client {} sent a will topic with too many levels, disconnecting.",
                    address
                );
                if version.is_v5() {
                    self.encode(&refusal(ReasonCode::TopicNameInvalid), version);
                }
                return None;
            }
        }
        // Mosquitto refuses a CONNECT whose will the client may not publish.
        if let Some(will) = &connect.will {
            if !shared.session.auth.authorize(
                &connect.client_id,
                connect.username.as_deref(),
                will.topic.as_str(),
                Access::Write,
            ) {
                refuse(self, ReasonCode::NotAuthorized);
                return None;
            }
        }
        let decision = match decide_client_id(
            &connect,
            shared.config.allow_zero_length_clientid,
            assign_client_id,
        ) {
            Ok(decision) => decision,
            Err(reason) => {
                refuse(self, reason);
                return None;
            }
        };
        let client_id: Arc<str> = Arc::from(decision.client_id.as_str());
        if let Err(reason) = self.connect_hooks(address, &connect, &client_id).await {
            if self.token.is_cancelled() {
                return None; // the broker stopped while a hook was asked: no verdict
            }
            Box::pin(self.delay_refusal(address)).await;
            refuse(self, reason);
            return None;
        }
        if let Some(address) = address.0 {
            shared
                .login_delay
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record_success(address.ip());
        }
        let (reply, receiver) = oneshot::channel();
        let request = ConnectRequest {
            connection_id: self.connection_id,
            client_id: client_id.clone(),
            username: connect.username.as_deref().map(Arc::from),
            address: address.0,
            version,
            clean_start: connect.clean_start,
            keep_alive: connect.keep_alive,
            reply,
        };
        if shared
            .router
            .send(RouterCommand::Connect(Box::new(request)))
            .await
            .is_err()
        {
            return None;
        }
        let reply: ConnectReply = tokio::select! {
            reply = receiver => reply.ok()?,
            _ = self.token.cancelled() => return None,
        };
        let now = Instant::now();
        if let Some(will) = &mut connect.will {
            // Own copies: slices would keep the whole CONNECT read buffer alive for the
            // life of the connection.
            will.payload = Bytes::copy_from_slice(&will.payload);
            will.topic = owned_topic(&will.topic);
        }
        let mut session = Box::new(Session::new(
            reply.session_id,
            client_id,
            &connect,
            reply.state,
            shared.session.clone(),
            now,
        ));
        let connack = session.connack(reply.session_present, decision.assigned);
        self.encode(&connack, version);
        for packet in session.resend_unacknowledged(now) {
            self.encode(&packet, version);
        }
        log::info!(
            "New client connected from {} as {} (p{}, c{}, k{}{}).",
            address,
            session.client_id,
            match version {
                ProtocolVersion::V31 => 1,
                ProtocolVersion::V311 => 2,
                ProtocolVersion::V5 => 5,
            },
            u8::from(connect.clean_start),
            connect.keep_alive,
            connect
                .username
                .as_deref()
                .map(|u| format!(", u'{u}'"))
                .unwrap_or_default()
        );
        Some(Accepted {
            session,
            queue: reply.queue,
        })
    }
}

/// The protocol level byte of a CONNECT's first bytes, if they get that far.
fn connect_level(head: &[u8]) -> Option<u8> {
    let mut index = 1;
    loop {
        let byte = *head.get(index)?;
        index += 1;
        if byte & 0x80 == 0 || index > 4 {
            break;
        }
    }
    let name_len = usize::from(u16::from_be_bytes([
        *head.get(index)?,
        *head.get(index + 1)?,
    ]));
    head.get(index + 2 + name_len).copied()
}

/// A unique id for a client that sent an empty one.
fn assign_client_id() -> String {
    format!("auto-{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_level_is_read_from_the_raw_bytes() {
        let v5 = [0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02];
        assert_eq!(connect_level(&v5), Some(5));
        let v31 = [
            0x10, 0x10, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03,
        ];
        assert_eq!(connect_level(&v31), Some(3));
        assert_eq!(connect_level(&[0x10]), None);
    }

    #[test]
    fn assigned_ids_are_unique() {
        assert_ne!(assign_client_id(), assign_client_id());
    }
}
