//! SUBSCRIBE and UNSUBSCRIBE requests: each takes a packet id and records which
//! acknowledgement it waits for, so that `handle_incoming` delivers only the SUBACK or
//! UNSUBACK that answers one of ours. Nothing is queued while disconnected (as paho).

use std::time::Instant;

use crate::protocol::{Packet, Subscribe, Subscription, TopicFilter, Unsubscribe};

use super::{Action, ClientError, ClientState};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pending {
    Subscribe,
    Unsubscribe,
}

impl ClientState {
    /// SUBSCRIBE; refused when no connection is open (paho does not queue subscribes).
    pub fn subscribe(
        &mut self,
        subscriptions: Vec<Subscription>,
        properties: crate::protocol::Properties,
        now: Instant,
    ) -> Result<(u16, Vec<Action>), ClientError> {
        self.send_request(Pending::Subscribe, now, |packet_id| {
            Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions,
                properties,
            })
        })
    }

    pub fn unsubscribe(
        &mut self,
        filters: Vec<TopicFilter>,
        properties: crate::protocol::Properties,
        now: Instant,
    ) -> Result<(u16, Vec<Action>), ClientError> {
        self.send_request(Pending::Unsubscribe, now, |packet_id| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        })
    }

    /// SUBSCRIBE or UNSUBSCRIBE: a packet id, the acknowledgement it waits for, the packet.
    fn send_request(
        &mut self,
        pending: Pending,
        now: Instant,
        build: impl FnOnce(u16) -> Packet,
    ) -> Result<(u16, Vec<Action>), ClientError> {
        if !self.is_open() {
            return Err(ClientError::NotConnected);
        }
        let packet_id = self.allocate_packet_id()?;
        self.acks_pending.insert(packet_id, pending);
        let mut actions = Vec::with_capacity(1);
        self.send(build(packet_id), now, &mut actions);
        Ok((packet_id, actions))
    }
}
