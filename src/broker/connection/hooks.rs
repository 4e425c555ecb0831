//! Where a connection asks the application's hooks: the `authorize` hook about each filter
//! of a SUBSCRIBE, and `authorize` and `on_message` about a batch of accepted PUBLISHes,
//! whose verdicts become the routed (maybe changed) messages or their refusals. A hook
//! that fails refuses.

use super::ConnectionTask;
use crate::auth::Access;
use crate::broker::hooks::{HookClient, HookMessage, MessageVerdict};
use crate::broker::queue::{Message, SessionId};
use crate::broker::session::{forwardable_properties, Action};
use crate::protocol::{QoS, ReasonCode, Subscribe};
use tokio::time::Instant;

impl ConnectionTask {
    /// The client as the hooks see it (only asked when the broker has hooks).
    pub(super) fn hook_client(&self) -> HookClient {
        match &self.hook_client {
            Some(client) => (**client).clone(),
            None => HookClient {
                client_id: self.session.client_id.clone(),
                username: self.session.username.clone(),
                address: None,
                version: self.session.version,
            },
        }
    }

    pub(super) fn publish_hooks_installed(&self) -> bool {
        self.io.shared.hooks.as_ref().is_some_and(|hooks| {
            let installed = hooks.installed();
            installed.authorize || installed.on_message
        })
    }

    /// Passes the PUBLISHes the session accepted (the `Route`s among `actions`) through
    /// the hooks, all in one question: each becomes the `Route` of the message as
    /// `on_message` left it, or the `Ack` of its refusal (success for a dropped message;
    /// nothing for QoS 0). A hook that fails refuses. Other actions keep their places.
    pub(super) async fn publish_hooks(&mut self, actions: Vec<Action>) -> Vec<Action> {
        let Some(broker_hooks) = self.io.shared.hooks.clone() else {
            return actions;
        };
        let installed = broker_hooks.installed();
        let mut received = Vec::new();
        let mut slots = Vec::with_capacity(actions.len());
        for action in actions {
            match action {
                Action::Route { message, ack } => {
                    let Message {
                        topic,
                        payload,
                        qos,
                        retain,
                        properties,
                        expires_at,
                        publisher,
                    } = message;
                    received.push(HookMessage {
                        topic,
                        payload,
                        qos,
                        retain,
                        properties,
                    });
                    slots.push(Slot::Route {
                        ack,
                        expires_at,
                        publisher,
                    });
                }
                other => slots.push(Slot::Other(other)),
            }
        }
        if received.is_empty() {
            return slots.into_iter().filter_map(Slot::into_other).collect();
        }
        let count = received.len();
        let client = self.hook_client();
        // Boxed: the question's future is needed only while the hooks are asked, and
        // this one is part of every read's.
        let asking = broker_hooks.ask(&self.io.token, move |hooks| {
            let mut verdicts = Vec::with_capacity(received.len());
            hooks.batch(&mut || {
                for message in received.drain(..) {
                    let topic = message.topic.as_str();
                    verdicts.push(
                        if installed.authorize && !hooks.authorize(&client, Access::Write, topic) {
                            MessageVerdict::Refuse(ReasonCode::NotAuthorized)
                        } else if installed.on_message {
                            hooks.on_message(&client, message)
                        } else {
                            MessageVerdict::Route(message)
                        },
                    );
                }
            });
            verdicts
        });
        let verdicts = Box::pin(asking)
            .await
            .filter(|verdicts| verdicts.len() == count);
        let mut verdicts = verdicts.map(Vec::into_iter);
        let retain_available = self.io.shared.session.limits.retain_available;
        let mut actions = Vec::with_capacity(slots.len());
        for slot in slots {
            let (ack, expires_at, publisher) = match slot {
                Slot::Other(action) => {
                    actions.push(action);
                    continue;
                }
                Slot::Route {
                    ack,
                    expires_at,
                    publisher,
                } => (ack, expires_at, publisher),
            };
            let verdict = verdicts.as_mut().and_then(Iterator::next);
            let reason = match verdict {
                Some(MessageVerdict::Route(changed)) => {
                    let mut properties = changed.properties;
                    forwardable_properties(&mut properties);
                    let message = Message {
                        topic: changed.topic,
                        payload: changed.payload,
                        qos: changed.qos,
                        retain: changed.retain && retain_available,
                        properties,
                        expires_at,
                        publisher,
                    };
                    actions.push(Action::Route { message, ack });
                    continue;
                }
                Some(MessageVerdict::Drop) => ReasonCode::Success,
                Some(MessageVerdict::Refuse(reason)) if reason.is_failure() => reason,
                Some(MessageVerdict::Refuse(_)) | None => ReasonCode::UnspecifiedError,
            };
            if let Some((packet_id, qos)) = ack {
                actions.push(Action::Ack {
                    packet_id,
                    qos,
                    reason,
                });
            }
        }
        actions
    }

    /// Which of a SUBSCRIBE's filters the `authorize` hook refuses (asked only for those
    /// the files allow); empty when no hook is set.
    pub(super) async fn subscribe_hooks(&mut self, subscribe: &Subscribe) -> Vec<bool> {
        let Some(broker_hooks) = &self.io.shared.hooks else {
            return Vec::new();
        };
        if !broker_hooks.installed().authorize {
            return Vec::new();
        }
        let asked: Vec<Option<String>> = subscribe
            .subscriptions
            .iter()
            .map(|s| {
                let filter = s.filter.as_str();
                self.session
                    .is_authorized(filter, Access::Subscribe)
                    .then(|| filter.to_owned())
            })
            .collect();
        let count = asked.len();
        let client = self.hook_client();
        // Boxed: the question's future is needed only while the hooks are asked, and
        // this one is part of every read's.
        let asking = broker_hooks.ask(&self.io.token, move |hooks| {
            asked
                .iter()
                .map(|filter| {
                    filter
                        .as_deref()
                        .is_some_and(|f| !hooks.authorize(&client, Access::Subscribe, f))
                })
                .collect::<Vec<bool>>()
        });
        let refused = Box::pin(asking).await;
        refused.unwrap_or_else(|| vec![true; count])
    }
}

/// An action around the hooks' question: a PUBLISH's place, or any other action.
enum Slot {
    Route {
        ack: Option<(u16, QoS)>,
        expires_at: Option<Instant>,
        publisher: Option<SessionId>,
    },
    Other(Action),
}

impl Slot {
    fn into_other(self) -> Option<Action> {
        match self {
            Slot::Other(action) => Some(action),
            Slot::Route { .. } => None,
        }
    }
}
