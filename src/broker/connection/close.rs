//! The end of a connection: closing for a broker shutdown or a takeover, then the
//! goodbye once `serve` returns: the last packets flushed, the hooks told, and the
//! session state and will handed back to the router before the socket shuts and the
//! connection's slot is freed.

use super::{ConnectionTask, CLOSE_FLUSH_DEADLINE};
use crate::broker::admission::ConnectionSlot;
use crate::broker::queue::Control;
use crate::broker::router::{DisconnectReport, Expiry, RouterCommand};
use crate::broker::session::{CloseReason, Session};
use crate::protocol::{ProtocolVersion, ReasonCode};
use std::time::Duration;
use tokio::time::timeout;

impl ConnectionTask {
    /// The broker is stopping or another connection took the session over.
    pub(super) fn cancelled(&mut self) {
        if self.closing.is_some() {
            return;
        }
        let mut reason = ReasonCode::ServerShuttingDown;
        let mut controls = Vec::new();
        self.queue.take_control(&mut controls);
        for control in controls {
            if let Control::Close(code) = control {
                reason = code;
            }
        }
        self.close_by_broker(reason);
    }

    /// Starts closing for a takeover (`SessionTakenOver`) or a shutdown: MQTT 5 clients
    /// are told why in a DISCONNECT. Once only: the first reason stands.
    pub(super) fn close_by_broker(&mut self, reason: ReasonCode) {
        if self.closing.is_some() {
            return;
        }
        if self.version().is_v5() {
            let packet = self.session.disconnect_packet(reason, "");
            self.io.encode(&packet, ProtocolVersion::V5);
        }
        self.closing = Some(if reason == ReasonCode::SessionTakenOver {
            CloseReason::TakenOver
        } else {
            CloseReason::ServerShutdown
        });
    }

    /// Closes the socket after writing what is due, and hands the session to the router.
    /// The connection's slot is given back before the close, so a client that saw the
    /// close may connect again at once.
    pub(super) async fn finish(mut self: Box<Self>, reason: CloseReason, slot: ConnectionSlot) {
        let _ = timeout(CLOSE_FLUSH_DEADLINE, self.io.flush_all()).await;
        let client_id = self.session.client_id.clone();
        match &reason {
            CloseReason::ClientDisconnect { .. } => log::info!("Client {client_id} disconnected."),
            CloseReason::ConnectionLost => log::info!("Client {client_id} closed its connection."),
            CloseReason::KeepAliveTimeout => {
                log::info!("Client {client_id} has exceeded timeout, disconnecting.")
            }
            CloseReason::ProtocolError(code) => {
                log::info!("Client {client_id} disconnected due to protocol error ({code:?}).")
            }
            CloseReason::TakenOver => log::debug!("Client {client_id} was taken over."),
            CloseReason::ServerShutdown => log::debug!("Client {client_id} closed for shutdown."),
        }
        if let Some(hooks) = &self.io.shared.hooks {
            hooks.disconnected(self.hook_client(), reason.clone()).await;
        }
        let session = self.session;
        let config = &self.io.shared.config;
        let expiry = if session.version.is_v5() {
            Expiry::from_v5(session.session_expiry)
        } else if session.clean_start {
            Expiry::AtDisconnect
        } else {
            config
                .persistent_client_expiration
                .map_or(Expiry::Never, |s| Expiry::After(Duration::from_secs(s)))
        };
        let Session {
            id, state, will, ..
        } = session;
        let report = DisconnectReport {
            connection_id: self.io.connection_id,
            session_id: id,
            state: state.into_inner(),
            will: will.map(|will| *will),
            reason,
            expiry,
        };
        let _ = self
            .io
            .shared
            .router
            .send(RouterCommand::Disconnected(Box::new(report)))
            .await;
        // The router has the session back before the client sees the close, so a client
        // reacting to the close finds the session stored.
        drop(slot);
        use tokio::io::AsyncWriteExt;
        let _ = timeout(CLOSE_FLUSH_DEADLINE, self.io.stream.shutdown()).await;
    }
}
