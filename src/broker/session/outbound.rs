//! The outbound half of a session: the client's in-flight window, PUBLISH built from a
//! delivery (expiry, subscription identifiers, Maximum Packet Size), the QoS 1/2
//! acknowledgements from the client and the resend after a reconnect.

use super::state::{Outbound, Stage};
use super::{Action, Session};
use crate::broker::queue::Delivery;
use crate::protocol::{
    encoded_len, Packet, Properties, Property, Publish, PublishResponse, QoS, ReasonCode,
};
use tokio::time::Instant;

impl Session {
    pub(super) fn handle_puback(&mut self, response: PublishResponse) {
        if let Some(state) = self.state.existing_mut() {
            if let Some(entry) = state.outbound.get(&response.packet_id) {
                if matches!(entry.stage, Stage::Ack) {
                    state.outbound.remove(&response.packet_id);
                }
            }
        }
    }

    pub(super) fn handle_pubrec(&mut self, response: PublishResponse, out: &mut Vec<Action>) {
        let packet_id = response.packet_id;
        if let Some(state) = self.state.existing_mut() {
            if let Some(entry) = state.outbound.get_mut(&packet_id) {
                if matches!(entry.stage, Stage::Rec | Stage::Comp) {
                    if response.reason_code.is_failure() {
                        state.outbound.remove(&packet_id);
                        return;
                    }
                    entry.stage = Stage::Comp;
                    entry.delivery = None;
                    out.push(Action::Send(Packet::PubRel(PublishResponse::new(
                        packet_id,
                    ))));
                    return;
                }
            }
        }
        let mut release = PublishResponse::new(packet_id);
        if self.version.is_v5() {
            release.reason_code = ReasonCode::PacketIdentifierNotFound;
        }
        out.push(Action::Send(Packet::PubRel(release)));
    }

    pub(super) fn handle_pubcomp(&mut self, response: PublishResponse) {
        if let Some(state) = self.state.existing_mut() {
            if let Some(entry) = state.outbound.get(&response.packet_id) {
                if matches!(entry.stage, Stage::Comp) {
                    state.outbound.remove(&response.packet_id);
                }
            }
        }
    }

    /// QoS 1/2 deliveries the client can take now (its Receive Maximum minus in-flight).
    pub fn send_budget(&self) -> usize {
        usize::from(self.send_quota).saturating_sub(self.state.outbound.len())
    }

    /// The PUBLISH for a delivery, or `None` when it expired or exceeds the client's
    /// Maximum Packet Size ([MQTT-3.1.2-25]: dropped for that client).
    pub fn deliver(&mut self, delivery: Delivery, now: Instant) -> Option<Packet> {
        if delivery.message.is_expired(now) {
            return None;
        }
        let mut publish = self.publish_for(&delivery, now);
        if self.client_max_packet_size < crate::protocol::MAX_PACKET_SIZE {
            let packet = Packet::Publish(publish);
            let too_big = encoded_len(&packet, self.version)
                .map_or(true, |len| len > self.client_max_packet_size as usize);
            if too_big {
                return None;
            }
            let Packet::Publish(p) = packet else {
                return None;
            };
            publish = p;
        }
        if delivery.qos != QoS::AtMostOnce {
            let state = self.state.make_mut();
            let packet_id = state.allocate_packet_id()?;
            publish.packet_id = packet_id;
            let seq = state.next_seq;
            state.next_seq += 1;
            let stage = if delivery.qos == QoS::AtLeastOnce {
                Stage::Ack
            } else {
                Stage::Rec
            };
            state.outbound.insert(
                packet_id,
                Outbound {
                    seq,
                    stage,
                    delivery: Some(delivery),
                },
            );
        }
        Some(Packet::Publish(publish))
    }

    pub(super) fn publish_for(&self, delivery: &Delivery, now: Instant) -> Publish {
        let message = &delivery.message;
        let mut properties = Properties::new();
        if self.version.is_v5() {
            properties = message.properties.clone();
            if let Some(expires_at) = message.expires_at {
                let remaining = expires_at.saturating_duration_since(now);
                let seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
                properties.push(Property::MessageExpiryInterval(
                    u32::try_from(seconds).unwrap_or(u32::MAX),
                ));
            }
            for identifier in &delivery.subscription_ids {
                properties.push(Property::SubscriptionIdentifier(*identifier));
            }
        }
        Publish {
            dup: false,
            qos: delivery.qos,
            retain: delivery.retain,
            topic: message.topic.clone(),
            packet_id: 0,
            properties,
            payload: message.payload.clone(),
        }
    }

    /// Everything unacknowledged from a previous connection, in the order first sent:
    /// PUBLISH again with DUP set, or PUBREL ([MQTT-4.4.0-1]).
    pub fn resend_unacknowledged(&mut self, now: Instant) -> Vec<Packet> {
        let mut pending: Vec<(&u16, &Outbound)> = self.state.outbound.iter().collect();
        pending.sort_by_key(|(_, entry)| entry.seq);
        pending
            .into_iter()
            .map(|(packet_id, entry)| match (&entry.stage, &entry.delivery) {
                (Stage::Ack | Stage::Rec, Some(delivery)) => {
                    let mut publish = self.publish_for(delivery, now);
                    publish.dup = true;
                    publish.packet_id = *packet_id;
                    Packet::Publish(publish)
                }
                _ => Packet::PubRel(PublishResponse::new(*packet_id)),
            })
            .collect()
    }
}
