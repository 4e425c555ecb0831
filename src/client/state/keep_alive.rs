//! Keep-alive deadlines: when the IO layer must wake next, the PINGREQ after a quiet
//! `keep_alive`, and the close when no PINGRESP (or no CONNACK) arrives within another.
//! The clock is always the caller's `now`.

use std::time::Instant;

use crate::protocol::Packet;

use super::{Action, ClientState, CloseReason};

impl ClientState {
    /// When the IO layer must call `handle_timeout` next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let link = self.link.as_ref()?;
        if link.keep_alive.is_zero() || link.closing {
            return None;
        }
        if !link.connected {
            return Some(link.opened_at + link.keep_alive);
        }
        if let Some(ping_sent) = link.ping_sent {
            return Some(ping_sent + link.keep_alive);
        }
        Some(link.last_sent.min(link.last_received) + link.keep_alive)
    }

    /// Keep-alive: PINGREQ after `keep_alive` without traffic; no PINGRESP (or no CONNACK)
    /// within another `keep_alive` closes the connection.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(link) = self.link.as_mut() else {
            return actions;
        };
        if link.keep_alive.is_zero() || link.closing {
            return actions;
        }
        let keep_alive = link.keep_alive;
        if !link.connected {
            if now >= link.opened_at + keep_alive {
                self.close(CloseReason::KeepAliveTimeout, &mut actions);
            }
            return actions;
        }
        if let Some(ping_sent) = link.ping_sent {
            if now >= ping_sent + keep_alive {
                self.close(CloseReason::KeepAliveTimeout, &mut actions);
            }
            return actions;
        }
        if now >= link.last_sent + keep_alive || now >= link.last_received + keep_alive {
            link.ping_sent = Some(now);
            self.send(Packet::PingReq, now, &mut actions);
        }
        actions
    }
}
