//! What the session's `OutgoingQueue` hands its connection: control messages (the
//! router's answer to a PUBLISH, which frees its acknowledgement; a request to close
//! for a takeover or a shutdown) and deliveries, drained in bounded batches and encoded
//! into the write buffer.

use super::acks::AckState;
use super::ConnectionTask;
use crate::broker::queue::Control;
use crate::broker::stats::Counters;
use tokio::time::Instant;

/// Deliveries taken from the queue per wake-up, so one busy session cannot starve reads.
const DRAIN_BATCH: usize = 256;

impl ConnectionTask {
    pub(super) fn handle_control(&mut self) {
        let mut controls = Vec::new();
        self.queue.take_control(&mut controls);
        for control in controls {
            match control {
                Control::PublishDone {
                    packet_id,
                    reason,
                    wait_for,
                } => {
                    let pending = self.acks.iter_mut().find(|ack| {
                        matches!(ack.state, AckState::AwaitingRouter) && ack.packet_id == packet_id
                    });
                    if let Some(ack) = pending {
                        ack.state = AckState::Waiting(reason, wait_for);
                    }
                }
                Control::Close(code) => self.close_by_broker(code),
            }
        }
    }

    pub(super) fn pump_deliveries(&mut self, now: Instant) {
        let budget = self.session.send_budget();
        let mut deliveries = Vec::new();
        self.queue.drain(&mut deliveries, DRAIN_BATCH, budget);
        self.more_pending = deliveries.len() == DRAIN_BATCH;
        let version = self.version();
        let mut sent = 0;
        for delivery in deliveries {
            match self.session.deliver(delivery, now) {
                Some(packet) => {
                    self.io.encode(&packet, version);
                    sent += 1;
                }
                None => Counters::add(&self.io.shared.counters.messages_dropped, 1),
            }
        }
        Counters::add(&self.io.shared.counters.messages_sent, sent);
    }
}
