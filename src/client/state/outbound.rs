//! The outbound QoS flows: the queue of QoS>0 publishes in publish order, the in-flight
//! window (ours and the server's Receive Maximum), sending with outgoing topic aliases
//! and the server's Maximum Packet Size, PUBACK/PUBREC/PUBCOMP from the server, and the
//! resend with DUP (or PUBREL) after a reconnect.

use std::time::Instant;

use crate::protocol::{Packet, Property, Publish, PublishResponse, QoS, ReasonCode, TopicName};

use super::{Action, ClientError, ClientState, Event};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OutState {
    /// Waiting for a connection or for room in the in-flight window.
    Pending,
    WaitPubAck,
    WaitPubRec,
    WaitPubComp,
    /// QoS 2 whose PUBREC arrived before the connection was lost: resend PUBREL.
    ResendPubRel,
}

pub(super) struct OutMessage {
    publish: Publish,
    state: OutState,
}

impl ClientState {
    fn window(&self) -> usize {
        let local = match self.limits.max_inflight {
            0 => usize::MAX,
            n => usize::from(n),
        };
        let server = self
            .link
            .as_ref()
            .map_or(usize::from(u16::MAX), |l| usize::from(l.receive_maximum));
        local.min(server)
    }

    /// paho resends every unacknowledged QoS>0 message after a reconnect, even with a clean
    /// session; a QoS 2 whose PUBREC arrived resumes with PUBREL unless the session is new.
    pub(super) fn reset_outgoing_for_resend(&mut self, clean: bool) {
        self.inflight = 0;
        self.unsent_from = 0;
        for message in self.outgoing.values_mut() {
            message.state = match message.state {
                OutState::Pending => OutState::Pending,
                OutState::WaitPubAck | OutState::WaitPubRec => {
                    message.publish.dup = true;
                    OutState::Pending
                }
                OutState::WaitPubComp | OutState::ResendPubRel if clean => {
                    message.publish.dup = true;
                    OutState::Pending
                }
                OutState::WaitPubComp | OutState::ResendPubRel => OutState::ResendPubRel,
            };
        }
    }

    /// The application publishes. Returns the packet id (paho's `mid`, also for QoS 0) and
    /// whether the message went to an open connection (`false`: QoS 0 dropped, QoS>0
    /// queued until connected).
    pub fn publish(
        &mut self,
        mut publish: Publish,
        now: Instant,
    ) -> Result<(u16, bool, Vec<Action>), ClientError> {
        if publish.qos == QoS::AtMostOnce {
            let packet_id = self.allocate_packet_id()?;
            // As paho: QoS 0 goes out as soon as the socket is open, even before CONNACK.
            if !self.is_open() {
                return Ok((packet_id, false, Vec::new()));
            }
            publish.packet_id = 0;
            let mut actions = Vec::with_capacity(1);
            self.send_publish(publish, now, &mut actions);
            return Ok((packet_id, true, actions));
        }
        if self.limits.max_queued > 0 && self.outgoing.len() >= self.limits.max_queued {
            return Err(ClientError::QueueFull);
        }
        let packet_id = self.allocate_packet_id()?;
        publish.packet_id = packet_id;
        publish.dup = false;
        self.outgoing.insert(
            packet_id,
            OutMessage {
                publish,
                state: OutState::Pending,
            },
        );
        self.order.push_back(packet_id);
        let mut actions = Vec::new();
        // As paho: sent at once when a socket is open (before CONNACK too); otherwise it
        // waits for the next accepted CONNACK.
        if self.is_open() {
            self.fill_window(now, &mut actions);
        }
        Ok((packet_id, self.is_open(), actions))
    }

    /// Sends pending messages (and PUBREL resends) in publish order while the window allows.
    pub(super) fn fill_window(&mut self, now: Instant, actions: &mut Vec<Action>) {
        let window = self.window();
        if self.inflight >= window {
            return;
        }
        let mut to_send = Vec::new();
        let mut index = self.unsent_from;
        while index < self.order.len() && self.inflight < window {
            let packet_id = &self.order[index];
            index += 1;
            let Some(message) = self.outgoing.get_mut(packet_id) else {
                continue;
            };
            match message.state {
                OutState::Pending => {
                    message.state = match message.publish.qos {
                        QoS::ExactlyOnce => OutState::WaitPubRec,
                        _ => OutState::WaitPubAck,
                    };
                    self.inflight += 1;
                    to_send.push(Packet::Publish(message.publish.clone()));
                }
                OutState::ResendPubRel => {
                    message.state = OutState::WaitPubComp;
                    self.inflight += 1;
                    to_send.push(Packet::PubRel(PublishResponse::new(*packet_id)));
                }
                _ => {}
            }
        }
        self.unsent_from = index;
        for packet in to_send {
            match packet {
                Packet::Publish(p) => self.send_publish(p, now, actions),
                other => self.send(other, now, actions),
            }
        }
    }

    /// Applies outgoing topic aliases within the server's Topic Alias Maximum and checks
    /// the server's Maximum Packet Size before sending.
    fn send_publish(&mut self, mut publish: Publish, now: Instant, actions: &mut Vec<Action>) {
        if let Some(link) = self.link.as_mut() {
            let user_alias = publish.properties.topic_alias().is_some();
            if link.topic_alias_maximum > 0 && !user_alias && !publish.topic.is_empty() {
                if let Some(&alias) = link.outgoing_aliases.get(&publish.topic) {
                    publish.topic = TopicName::empty();
                    publish.properties.push(Property::TopicAlias(alias));
                } else if link.outgoing_aliases.len() < usize::from(link.topic_alias_maximum) {
                    let alias = (link.outgoing_aliases.len() + 1) as u16;
                    link.outgoing_aliases.insert(publish.topic.clone(), alias);
                    publish.properties.push(Property::TopicAlias(alias));
                }
            }
            let size =
                crate::protocol::encoded_len(&Packet::Publish(publish.clone()), self.version);
            if let Ok(size) = size {
                if size > link.maximum_packet_size as usize {
                    let packet_id = publish.packet_id;
                    self.drop_too_large(packet_id, actions);
                    return;
                }
            }
        }
        self.send(Packet::Publish(publish), now, actions);
    }

    /// [MQTT-3.1.2-24] a packet over the server's Maximum Packet Size is not sent: it
    /// completes with "Packet too large" as if the server had refused it.
    fn drop_too_large(&mut self, packet_id: u16, actions: &mut Vec<Action>) {
        if packet_id == 0 {
            return;
        }
        if self.outgoing.remove(&packet_id).is_some() {
            self.order.retain(|id| *id != packet_id);
            self.unsent_from = 0;
            self.inflight = self.inflight.saturating_sub(1);
        }
        actions.push(Action::Deliver(Event::Published {
            packet_id,
            reason_code: ReasonCode::PacketTooLarge,
            properties: Default::default(),
        }));
    }

    /// Removes and returns every unacknowledged outgoing QoS>0 message (paho's
    /// `drop_out_messages`).
    pub fn drop_out_messages(&mut self) -> Vec<Publish> {
        let mut dropped = Vec::with_capacity(self.order.len());
        self.unsent_from = 0;
        for packet_id in self.order.drain(..) {
            if let Some(message) = self.outgoing.remove(&packet_id) {
                dropped.push(message.publish);
            }
        }
        self.outgoing.clear();
        self.inflight = 0;
        dropped
    }

    pub(super) fn handle_pubrec(
        &mut self,
        response: PublishResponse,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let packet_id = response.packet_id;
        let Some(message) = self.outgoing.get_mut(&packet_id) else {
            return;
        };
        if message.state != OutState::WaitPubRec && message.state != OutState::WaitPubComp {
            return;
        }
        // As paho: a failing PUBREC is not special-cased, PUBREL follows.
        message.state = OutState::WaitPubComp;
        self.send(
            Packet::PubRel(PublishResponse::new(packet_id)),
            now,
            actions,
        );
    }

    pub(super) fn complete(
        &mut self,
        response: PublishResponse,
        expected: OutState,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let packet_id = response.packet_id;
        match self.outgoing.get(&packet_id) {
            Some(message) if message.state == expected => {}
            _ => return,
        }
        self.outgoing.remove(&packet_id);
        let position = if self.order.front() == Some(&packet_id) {
            Some(0)
        } else {
            self.order.iter().position(|id| *id == packet_id)
        };
        if let Some(position) = position {
            self.order.remove(position);
            if position < self.unsent_from {
                self.unsent_from -= 1;
            }
        }
        self.inflight = self.inflight.saturating_sub(1);
        actions.push(Action::Deliver(Event::Published {
            packet_id,
            reason_code: response.reason_code,
            properties: response.properties,
        }));
        self.fill_window(now, actions);
    }
}
