//! The QoS 1/2 acknowledgements a connection owes its client, in PUBLISH order: each waits
//! for the router's answer, then for room in the queues the message went to, so a slow
//! subscriber holds back the publisher (and its reading) rather than losing a message the
//! broker has acknowledged.

use super::ConnectionTask;
use crate::broker::queue::OutgoingQueue;
use crate::protocol::{QoS, ReasonCode};
use std::collections::VecDeque;
use std::sync::Arc;

pub(super) enum AckState {
    /// Routed; the router has not answered yet.
    AwaitingRouter,
    /// The router answered; the ack leaves once these queues have room.
    Waiting(ReasonCode, Vec<Arc<OutgoingQueue>>),
}

pub(super) struct PendingAck {
    pub(super) packet_id: u16,
    pub(super) qos: QoS,
    pub(super) state: AckState,
}

/// The acknowledgements in order, allocated while there are some: an idle connection
/// keeps 8 bytes instead of an empty `VecDeque`'s 32.
#[derive(Default)]
#[allow(clippy::box_collection)] // the box is the point: 8 bytes while there is none
pub(super) struct Acks(Option<Box<VecDeque<PendingAck>>>);

impl Acks {
    fn front(&self) -> Option<&PendingAck> {
        self.0.as_ref().and_then(|acks| acks.front())
    }

    fn front_mut(&mut self) -> Option<&mut PendingAck> {
        self.0.as_mut().and_then(|acks| acks.front_mut())
    }

    pub(super) fn push_back(&mut self, ack: PendingAck) {
        self.0.get_or_insert_with(Box::default).push_back(ack);
    }

    fn pop_front(&mut self) -> Option<PendingAck> {
        let acks = self.0.as_mut()?;
        let front = acks.pop_front();
        if acks.is_empty() {
            self.0 = None;
        }
        front
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut PendingAck> {
        self.0.iter_mut().flat_map(|acks| acks.iter_mut())
    }
}

impl ConnectionTask {
    /// The queue the front acknowledgement waits for, which pauses reading.
    pub(super) fn blocked_on(&self) -> Option<Arc<OutgoingQueue>> {
        match self.acks.front() {
            Some(PendingAck {
                state: AckState::Waiting(_, queues),
                ..
            }) => queues.iter().find(|q| !q.has_room()).cloned(),
            _ => None,
        }
    }

    /// The front acknowledgement was answered by the router and nothing holds it back.
    pub(super) fn front_ack_is_due(&self) -> bool {
        matches!(
            self.acks.front(),
            Some(PendingAck {
                state: AckState::Waiting(_, queues),
                ..
            }) if queues.iter().all(|q| q.has_room())
        )
    }

    /// Writes acknowledgements from the front while they are due.
    pub(super) fn send_ready_acks(&mut self) {
        let version = self.version();
        while let Some(front) = self.acks.front_mut() {
            let AckState::Waiting(reason, queues) = &mut front.state else {
                break;
            };
            queues.retain(|q| !q.has_room());
            if !queues.is_empty() {
                break;
            }
            let (packet_id, qos, reason) = (front.packet_id, front.qos, *reason);
            self.acks.pop_front();
            let packet = self.session.acknowledgement(packet_id, qos, reason);
            self.io.encode(&packet, version);
        }
    }
}
