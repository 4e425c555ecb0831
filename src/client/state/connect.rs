//! A connection's life as the session sees it: the CONNECT that opens it (and what a new
//! connection resets), the CONNACK that accepts or refuses it and the limits the server
//! grants in it, the application's DISCONNECT, and the socket going away.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::protocol::{ConnAck, Disconnect, Packet, ReasonCode, MAX_PACKET_SIZE};

use super::{Action, ClientState, CloseReason, Event, Link};

impl ClientState {
    /// A new connection: the CONNECT has been built by the caller. Outgoing QoS>0 messages
    /// are prepared for resend (DUP) once the CONNACK arrives; with a clean session the
    /// inbound QoS 2 state is forgotten.
    pub fn connection_opened(
        &mut self,
        connect: crate::protocol::Connect,
        now: Instant,
    ) -> Vec<Action> {
        let keep_alive = Duration::from_secs(u64::from(connect.keep_alive));
        if connect.clean_start {
            self.incoming_qos2.clear();
        }
        self.reset_outgoing_for_resend(connect.clean_start);
        self.link = Some(Link {
            connected: false,
            keep_alive,
            opened_at: now,
            last_sent: now,
            last_received: now,
            ping_sent: None,
            receive_maximum: u16::MAX,
            maximum_packet_size: MAX_PACKET_SIZE,
            topic_alias_maximum: 0,
            outgoing_aliases: HashMap::new(),
            incoming_aliases: HashMap::new(),
            closing: false,
        });
        vec![Action::Send(Packet::Connect(Box::new(connect)))]
    }

    /// The socket is gone. Returns nothing: the IO layer reports the reason.
    pub fn connection_closed(&mut self) {
        self.link = None;
        self.inflight = 0;
        self.acks_pending.clear();
    }

    pub(super) fn handle_connack(
        &mut self,
        connack: ConnAck,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let refused =
            connack.reason_code.is_failure() || connack.reason_code != ReasonCode::Success;
        if let Some(link) = self.link.as_mut() {
            let properties = &connack.properties;
            if let Some(keep_alive) = properties.server_keep_alive() {
                link.keep_alive = Duration::from_secs(u64::from(keep_alive));
            }
            if let Some(receive_maximum) = properties.receive_maximum() {
                link.receive_maximum = receive_maximum.max(1);
            }
            if let Some(size) = properties.maximum_packet_size() {
                link.maximum_packet_size = size;
            }
            link.topic_alias_maximum = properties.topic_alias_maximum().unwrap_or(0);
            link.connected = !refused;
        }
        if let Some(id) = connack.properties.assigned_client_identifier() {
            self.assigned_client_id = Some(id);
        }
        let reason = connack.reason_code;
        actions.push(Action::Deliver(Event::ConnAck(connack)));
        if refused {
            self.close(CloseReason::Refused(reason), actions);
        } else {
            self.fill_window(now, actions);
        }
    }

    /// The application disconnects: DISCONNECT, then close.
    pub fn disconnect(&mut self, disconnect: Disconnect, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.is_open() {
            return actions;
        }
        self.send(Packet::Disconnect(disconnect), now, &mut actions);
        if let Some(link) = self.link.as_mut() {
            link.closing = true;
        }
        actions.push(Action::Close(CloseReason::Requested));
        actions
    }
}
