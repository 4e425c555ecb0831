//! The inbound QoS flows: a PUBLISH from the server (its topic alias resolved), PUBREC
//! for QoS 2 and delivery on PUBREL, and the PUBACK/PUBCOMP the application's `ack()`
//! sends once it has the message.

use std::time::Instant;

use crate::protocol::{Packet, Publish, PublishResponse, QoS};

use super::{Action, ClientState, CloseReason, Event};

impl ClientState {
    /// Acknowledges a delivered inbound message: PUBACK for QoS 1, PUBCOMP for QoS 2.
    /// Called after the application's callback returned (or by its `ack()`).
    pub fn ack(&mut self, packet_id: u16, qos: QoS, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.is_open() {
            return actions;
        }
        let response = PublishResponse::new(packet_id);
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(Packet::PubAck(response), now, &mut actions),
            QoS::ExactlyOnce => self.send(Packet::PubComp(response), now, &mut actions),
        }
        actions
    }

    pub(super) fn handle_publish(
        &mut self,
        mut publish: Publish,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        if let Some(alias) = publish.properties.topic_alias() {
            let Some(link) = self.link.as_mut() else {
                return;
            };
            if publish.topic.is_empty() {
                match link.incoming_aliases.get(&alias) {
                    Some(topic) => publish.topic = topic.clone(),
                    None => {
                        let message = format!("PUBLISH with unknown topic alias {alias}");
                        return self.close(CloseReason::ProtocolError(message), actions);
                    }
                }
            } else {
                link.incoming_aliases.insert(alias, publish.topic.clone());
            }
        }
        match publish.qos {
            QoS::AtMostOnce | QoS::AtLeastOnce => {
                actions.push(Action::Deliver(Event::Message(publish)))
            }
            QoS::ExactlyOnce => {
                let packet_id = publish.packet_id;
                self.incoming_qos2.entry(packet_id).or_insert(publish);
                self.send(
                    Packet::PubRec(PublishResponse::new(packet_id)),
                    now,
                    actions,
                );
            }
        }
    }

    pub(super) fn handle_pubrel(
        &mut self,
        response: PublishResponse,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        match self.incoming_qos2.remove(&response.packet_id) {
            // PUBCOMP follows from `ack()` once the application has the message.
            Some(publish) => actions.push(Action::Deliver(Event::Message(publish))),
            // Unknown (e.g. delivered before a restart): complete it so the server stops.
            None => {
                let packet = Packet::PubComp(PublishResponse::new(response.packet_id));
                self.send(packet, now, actions);
            }
        }
    }
}
