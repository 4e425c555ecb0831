//! How a connection ends: `CloseReason` (which decides whether the will is published),
//! the keep-alive deadline, the client's DISCONNECT (and the session expiry it may
//! change), and the DISCONNECT the broker sends before it closes.

use super::{Action, Session};
use crate::protocol::{Disconnect, Packet, Properties, Property, ReasonCode};
use std::time::Duration;
use tokio::time::Instant;

/// Why a connection ended; decides whether the will is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// DISCONNECT from the client; `with_will` for MQTT 5 reason 0x04.
    ClientDisconnect {
        with_will: bool,
    },
    /// The client broke the protocol; the reason is what an MQTT 5 client was told.
    ProtocolError(ReasonCode),
    KeepAliveTimeout,
    /// The socket closed or failed without a DISCONNECT.
    ConnectionLost,
    /// Another connection took the session over.
    TakenOver,
    /// The broker is stopping.
    ServerShutdown,
}

impl CloseReason {
    /// Whether the will is published ([MQTT-3.1.2-8], [MQTT 5.0 §3.14.2.1] 0x04).
    pub fn publishes_will(&self) -> bool {
        !matches!(self, CloseReason::ClientDisconnect { with_will: false })
    }
}

impl Session {
    /// When the keep-alive expires: 1.5 times the keep-alive after the last packet
    /// ([MQTT-3.1.2-24]); `None` without keep-alive.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.keep_alive == 0 {
            return None;
        }
        Some(self.last_received + Duration::from_millis(u64::from(self.keep_alive) * 1500))
    }

    /// Counts as having heard from the client at `now` (used after the broker itself
    /// paused reading).
    pub fn touch(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// Checks the keep-alive at `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.next_deadline().is_some_and(|deadline| now >= deadline) {
            self.close_with(ReasonCode::KeepAliveTimeout, "keep alive timeout", out);
            if let Some(Action::Close(reason)) = out.last_mut() {
                *reason = CloseReason::KeepAliveTimeout;
            }
        }
    }

    /// Sends an MQTT 5 DISCONNECT with `reason` (3.x: nothing) and closes.
    pub fn close_with(&self, reason: ReasonCode, text: &str, out: &mut Vec<Action>) {
        if self.version.is_v5() {
            out.push(Action::Send(self.disconnect_packet(reason, text)));
        }
        out.push(Action::Close(CloseReason::ProtocolError(reason)));
    }

    /// A DISCONNECT for this client, with a reason string if it fits its maximum size.
    pub fn disconnect_packet(&self, reason: ReasonCode, text: &str) -> Packet {
        let mut properties = Properties::new();
        // A reason string is always allowed on DISCONNECT ([MQTT-3.1.2-29]) but must fit
        // the client's Maximum Packet Size ([MQTT-3.14.2-3]).
        if !text.is_empty() && text.len() + 16 <= self.client_max_packet_size as usize {
            properties.push(Property::ReasonString(text.to_owned()));
        }
        Packet::Disconnect(Disconnect {
            reason_code: reason,
            properties,
        })
    }

    pub(super) fn handle_disconnect(&mut self, disconnect: Disconnect, out: &mut Vec<Action>) {
        if let Some(expiry) = disconnect.properties.session_expiry_interval() {
            // [MQTT-3.14.2-2]: a session that expired at disconnect cannot be revived here.
            if self.session_expiry == 0 && expiry != 0 {
                return self.close_with(
                    ReasonCode::ProtocolError,
                    "session expiry set on DISCONNECT after 0 in CONNECT",
                    out,
                );
            }
            self.session_expiry = expiry;
        }
        let with_will = disconnect.reason_code == ReasonCode::DisconnectWithWillMessage;
        out.push(Action::Close(CloseReason::ClientDisconnect { with_will }));
    }
}
