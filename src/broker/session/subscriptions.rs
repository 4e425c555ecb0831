//! SUBSCRIBE and UNSUBSCRIBE from the client: each filter checked (shared no-local, topic
//! levels, authorization, the subscription limit), recorded in `SessionState` as granted,
//! and handed to the router before the SUBACK/UNSUBACK goes out.

use super::state::SubscriptionRecord;
use super::{Action, RouteSubscription, Session};
use crate::broker::auth::Access;
use crate::protocol::{
    Packet, Properties, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use tokio::time::Instant;

impl Session {
    /// Handles a SUBSCRIBE whose filters the broker's hooks were asked about first:
    /// `refused[i]` refuses the i-th filter as the files would (missing entries allow).
    pub fn handle_subscribe_checked(
        &mut self,
        subscribe: Subscribe,
        refused: &[bool],
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.last_received = now;
        self.handle_subscribe(subscribe, refused, out);
    }

    pub(super) fn handle_subscribe(
        &mut self,
        subscribe: Subscribe,
        refused: &[bool],
        out: &mut Vec<Action>,
    ) {
        let identifier = subscribe.properties.subscription_identifiers().next();
        let mut reason_codes = Vec::with_capacity(subscribe.subscriptions.len());
        let mut routed = Vec::with_capacity(subscribe.subscriptions.len());
        for (index, subscription) in subscribe.subscriptions.into_iter().enumerate() {
            let shared = subscription.filter.shared().is_some();
            if shared && subscription.options.no_local && self.version.is_v5() {
                // [MQTT-3.8.3-4]
                return self.close_with(
                    ReasonCode::ProtocolError,
                    "no local on a shared subscription",
                    out,
                );
            }
            let refusal = if self
                .context
                .limits
                .has_too_many_levels(subscription.filter.match_filter())
            {
                Some(ReasonCode::TopicFilterInvalid)
            } else if !self.is_authorized(subscription.filter.as_str(), Access::Subscribe)
                || refused.get(index).copied().unwrap_or(false)
            {
                Some(ReasonCode::NotAuthorized)
            } else if self.context.limits.max_subscriptions != 0
                && self.state.subscriptions.len() >= self.context.limits.max_subscriptions
                && !self.state.subscriptions.contains_key(&subscription.filter)
            {
                Some(ReasonCode::QuotaExceeded)
            } else {
                None
            };
            if let Some(reason) = refusal {
                reason_codes.push(if self.version.is_v5() {
                    reason
                } else {
                    ReasonCode::UnspecifiedError
                });
                continue;
            }
            let options = subscription.options;
            let record = SubscriptionRecord {
                options,
                identifier,
            };
            let is_new = self
                .state
                .make_mut()
                .subscriptions
                .insert(subscription.filter.clone(), record)
                .is_none();
            let send_retained = !shared
                && match options.retain_handling {
                    RetainHandling::SendOnSubscribe => true,
                    RetainHandling::SendIfNewSubscription => is_new,
                    RetainHandling::DoNotSend => false,
                };
            reason_codes.push(match options.qos {
                QoS::AtMostOnce => ReasonCode::GRANTED_QOS0,
                QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
            });
            routed.push(RouteSubscription {
                filter: subscription.filter,
                options,
                identifier,
                send_retained,
            });
        }
        // The router gets the subscriptions before the SUBACK is written, so a message
        // published after the client saw its SUBACK is matched.
        if !routed.is_empty() {
            out.push(Action::Subscribe(routed));
        }
        out.push(Action::Send(Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            reason_codes,
            properties: Properties::new(),
        })));
    }

    pub(super) fn handle_unsubscribe(&mut self, unsubscribe: Unsubscribe, out: &mut Vec<Action>) {
        let mut reason_codes = Vec::new();
        for filter in &unsubscribe.filters {
            let existed = self
                .state
                .existing_mut()
                .is_some_and(|state| state.subscriptions.remove(filter).is_some());
            if self.version.is_v5() {
                reason_codes.push(if existed {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                });
            }
        }
        out.push(Action::Unsubscribe(unsubscribe.filters));
        out.push(Action::Send(Packet::UnsubAck(UnsubAck {
            packet_id: unsubscribe.packet_id,
            reason_codes,
            properties: Properties::new(),
        })));
    }
}
