//! The read path: reads what the socket has, decodes every complete packet, lets the
//! `Session` decide and carries out its actions: packets to send, PUBLISHes and
//! (un)subscriptions for the router, acknowledgements to queue, a close. Consecutive
//! PUBLISHes go through the publish hooks in batches.

use super::acks::{AckState, PendingAck};
use super::ConnectionTask;
use crate::broker::router::RouterCommand;
use crate::broker::session::{Action, CloseReason};
use crate::broker::stats::Counters;
use crate::protocol::{decode, Packet};
use bytes::BytesMut;
use tokio::time::Instant;

/// Consecutive PUBLISHes handed to the publish hooks in one question: one thread hop and
/// one interpreter lock for all of them (benches/broker_hooks.py).
const HOOK_BATCH: usize = 64;
/// Smallest read: big enough for many small packets, small enough for idle memory.
const READ_CHUNK: usize = 4096;

impl ConnectionTask {
    /// Reads what the socket has and handles every complete packet. Some(reason) when the
    /// connection ends at once (socket closed or failed).
    pub(super) async fn read_and_handle(&mut self) -> Option<CloseReason> {
        match self.io.try_read(READ_CHUNK) {
            Ok(Some(true)) => {}
            Ok(None) => return None,
            Ok(Some(false)) | Err(_) => {
                if let Some(buffers) = &mut self.io.buffers {
                    buffers.read = BytesMut::new();
                }
                return Some(CloseReason::ConnectionLost);
            }
        }
        self.handle_buffered().await;
        None
    }

    /// Handles every complete packet in the read buffer.
    pub(super) async fn handle_buffered(&mut self) {
        let now = Instant::now();
        let version = self.version();
        let max_packet_size = self.io.shared.session.limits.max_packet_size;
        let mut actions = Vec::new();
        // With publish hooks, consecutive PUBLISHes are handed to them in one question.
        let batch = if self.publish_hooks_installed() {
            HOOK_BATCH
        } else {
            1
        };
        let mut batched = 0;
        let mut decoded = 0;
        while self.closing.is_none() {
            let packet = decode(&mut self.io.buffers().read, version, max_packet_size);
            decoded += 1;
            match packet {
                Ok(Some(packet @ Packet::Publish(_))) => {
                    Counters::add(&self.io.shared.counters.messages_received, 1);
                    self.route_in_place = decoded == 1 && !self.io.has_unread();
                    self.session.handle_incoming(packet, now, &mut actions);
                    batched += 1;
                    let closes = matches!(actions.last(), Some(Action::Close(_)));
                    if batched >= batch || closes {
                        self.apply_actions(&mut actions).await;
                        batched = 0;
                    }
                }
                Ok(Some(packet)) => {
                    // The PUBLISHes before it are handled first, in order.
                    self.apply_actions(&mut actions).await;
                    batched = 0;
                    match packet {
                        Packet::Subscribe(subscribe) => {
                            let refused = self.subscribe_hooks(&subscribe).await;
                            self.session.handle_subscribe_checked(
                                subscribe,
                                &refused,
                                now,
                                &mut actions,
                            );
                        }
                        packet => self.session.handle_incoming(packet, now, &mut actions),
                    }
                    self.apply_actions(&mut actions).await;
                }
                Ok(None) => break,
                Err(error) => {
                    log::info!(
                        "Client {} disconnected due to malformed packet: {error}.",
                        self.session.client_id
                    );
                    self.apply_actions(&mut actions).await;
                    self.session
                        .close_with(error.reason_code(), &error.to_string(), &mut actions);
                    self.apply_actions(&mut actions).await;
                }
            }
        }
        self.apply_actions(&mut actions).await;
        if let Some(buffers) = &mut self.io.buffers {
            if buffers.read.is_empty() {
                // Release the read buffer between bursts: idle connections hold none.
                buffers.read = BytesMut::new();
            }
        }
    }

    /// Carries out (and empties) `actions`. Not a field: an idle connection keeps none.
    pub(super) async fn apply_actions(&mut self, actions: &mut Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        let version = self.version();
        if self.publish_hooks_installed() {
            *actions = self.publish_hooks(std::mem::take(actions)).await;
        }
        for action in actions.drain(..) {
            match action {
                Action::Send(packet) => self.io.encode(&packet, version),
                Action::Route { message, ack } => {
                    if let Some((packet_id, qos)) = ack {
                        self.acks.push_back(PendingAck {
                            packet_id,
                            qos,
                            state: AckState::AwaitingRouter,
                        });
                    }
                    let command = RouterCommand::Publish {
                        session: self.session.id,
                        message,
                        ack: ack.map(|(packet_id, _)| packet_id),
                    };
                    // A lone message may be routed at once; a burst goes to the router's
                    // task, which takes it in batches (and so writes to subscribers in
                    // batches).
                    let router = &self.io.shared.router;
                    let _ = if self.route_in_place {
                        router.send(command).await
                    } else {
                        router.queue(command).await
                    };
                }
                Action::Ack {
                    packet_id,
                    qos,
                    reason,
                } => self.acks.push_back(PendingAck {
                    packet_id,
                    qos,
                    state: AckState::Waiting(reason, Vec::new()),
                }),
                Action::Subscribe(subscriptions) => {
                    let command = RouterCommand::Subscribe {
                        session: self.session.id,
                        subscriptions,
                    };
                    let _ = self.io.shared.router.send(command).await;
                }
                Action::Unsubscribe(filters) => {
                    let command = RouterCommand::Unsubscribe {
                        session: self.session.id,
                        filters,
                    };
                    let _ = self.io.shared.router.send(command).await;
                }
                Action::Close(reason) => {
                    if self.closing.is_none() {
                        self.closing = Some(reason);
                    }
                }
            }
        }
    }
}
