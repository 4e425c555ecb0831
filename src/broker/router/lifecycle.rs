//! Session lifecycle in the router: CONNECT (new, resumed, taken over), disconnect,
//! wills (now or after their delay) and the end of a session (clean, expired, replaced).

use super::*;

impl Router {
    pub(super) fn handle_connect(&mut self, request: Box<ConnectRequest>, now: Instant) {
        if let Some(session) = self.by_client_id.get(&self.sessions, &request.client_id) {
            if let Some(entry) = self.sessions.get_mut(&session) {
                if entry.connection.is_some() {
                    // [MQTT-3.1.4-3] take over: close the old connection first; this
                    // CONNECT completes when it has handed the session back.
                    log::info!(
                        "Client {} already connected, closing old connection.",
                        request.client_id
                    );
                    entry
                        .queue
                        .push_control(Control::Close(ReasonCode::SessionTakenOver));
                    entry.pending_connect = Some(request);
                    return;
                }
            }
        }
        self.attach(*request, now);
    }

    /// Gives `request` its session: the stored one unless it asks for a clean start.
    pub(super) fn attach(&mut self, request: ConnectRequest, now: Instant) {
        let existing = self.by_client_id.get(&self.sessions, &request.client_id);
        let mut resumed = None;
        if let Some(session) = existing {
            if request.clean_start {
                self.end_session(session, None, now);
            } else if let Some(entry) = self.sessions.get_mut(&session) {
                // Reconnecting within the Will Delay Interval cancels the will
                // ([MQTT-3.1.3-9]).
                entry.pending_will = None;
                entry.generation += 1;
                entry.queue.clear_control();
                entry.username = request.username.clone();
                entry.address = request.address;
                let state = entry.state.take();
                resumed = Some((session, state, entry.queue.clone()));
                self.counters
                    .clients_disconnected
                    .fetch_sub(1, Ordering::Relaxed);
            }
        }
        let (session_id, session_present, state, queue) = match resumed {
            Some((session, state, queue)) => (session, true, state, queue),
            None => {
                let session = self.next_session;
                self.next_session += 1;
                let queue = Arc::new(OutgoingQueue::new(self.config.max_queued_messages));
                self.sessions.insert(
                    session,
                    Box::new(SessionEntry {
                        client_id: request.client_id.clone(),
                        username: request.username.clone(),
                        address: request.address,
                        queue: queue.clone(),
                        connection: None,
                        state: None,
                        generation: 0,
                        pending_will: None,
                        pending_connect: None,
                    }),
                );
                self.by_client_id
                    .insert(&self.sessions, &request.client_id, session);
                (session, false, None, queue)
            }
        };
        let reply = ConnectReply {
            session_id,
            session_present,
            state,
            queue,
        };
        if let Err(reply) = request.reply.send(reply) {
            // The connection went away while waiting: keep what it would have received.
            if let Some(entry) = self.sessions.get_mut(&session_id) {
                entry.state = Some(reply.state.unwrap_or_default());
            }
            if session_present {
                self.counters
                    .clients_disconnected
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                self.end_session(session_id, None, now);
            }
            return;
        }
        if let Some(entry) = self.sessions.get_mut(&session_id) {
            entry.queue.set_online(true);
            entry.connection = Some(Online {
                connection_id: request.connection_id,
                version: request.version,
            });
        }
        let connected = self
            .counters
            .clients_connected
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        self.counters
            .clients_maximum
            .fetch_max(connected, Ordering::Relaxed);
        let event = ClientEvent {
            client_id: &request.client_id,
            username: request.username.as_deref(),
            address: sys::address_text(request.address),
            protocol_version: Some(request.version.level()),
            keepalive: Some(request.keep_alive),
            clean_start: Some(request.clean_start),
            timestamp: sys::unix_timestamp(),
            reason: None,
        };
        let topic = format!("$SYS/broker/clients/{}/connected", request.client_id);
        self.publish_event(&topic, &event, now);
        self.observe_connected(&request.client_id);
    }

    pub(super) fn publish_event(&mut self, topic: &str, event: &ClientEvent<'_>, now: Instant) {
        let Ok(topic) = TopicName::new(topic) else {
            return; // a client id with wildcards or NUL cannot name a topic
        };
        let payload = serde_json::to_vec(event).unwrap_or_default();
        self.route(Arc::new(system_message(topic, payload.into(), false)), now);
    }

    pub(super) fn handle_disconnected(&mut self, report: DisconnectReport, now: Instant) {
        let session = report.session_id;
        let Some(entry) = self.sessions.get_mut(&session) else {
            return;
        };
        match &entry.connection {
            Some(online) if online.connection_id == report.connection_id => {}
            _ => return,
        }
        entry.connection = None;
        entry.queue.set_online(false);
        entry.generation += 1;
        self.counters
            .clients_connected
            .fetch_sub(1, Ordering::Relaxed);
        let client_id = entry.client_id.clone();
        let username = entry.username.clone();
        let address = entry.address;
        let pending = entry.pending_connect.take();
        let will = report.will.filter(|_| report.reason.publishes_will());
        let reason_text = format!("{:?}", report.reason);
        let event = ClientEvent {
            client_id: &client_id,
            username: username.as_deref(),
            address: sys::address_text(address),
            protocol_version: None,
            keepalive: None,
            clean_start: None,
            timestamp: sys::unix_timestamp(),
            reason: Some(&reason_text),
        };
        let topic = format!("$SYS/broker/clients/{client_id}/disconnected");
        if report.expiry == Expiry::AtDisconnect {
            if let Some(will) = will {
                self.publish_will(will, now);
            }
            self.end_session(session, report.state, now);
        } else {
            let generation = entry.generation;
            entry.state = Some(report.state.unwrap_or_default());
            self.counters
                .clients_disconnected
                .fetch_add(1, Ordering::Relaxed);
            if let Some(will) = will {
                let delay = will.properties.will_delay_interval().unwrap_or(0);
                if delay == 0 {
                    self.publish_will(will, now);
                } else {
                    let mut at = now + Duration::from_secs(u64::from(delay));
                    if let Expiry::After(expiry) = report.expiry {
                        at = at.min(now + expiry);
                    }
                    if let Some(entry) = self.sessions.get_mut(&session) {
                        entry.pending_will = Some(Box::new(will));
                    }
                    self.schedule(
                        at,
                        Timer::WillDelay {
                            session,
                            generation,
                        },
                    );
                }
            }
            if let Expiry::After(expiry) = report.expiry {
                self.schedule(
                    now + expiry,
                    Timer::SessionExpiry {
                        session,
                        generation,
                    },
                );
            }
        }
        self.publish_event(&topic, &event, now);
        if let Some(request) = pending {
            self.attach(*request, now);
        }
    }

    /// Ends a session: publishes a will still waiting, drops subscriptions and queue.
    pub(super) fn end_session(
        &mut self,
        session: SessionId,
        state: Option<Box<SessionState>>,
        now: Instant,
    ) {
        let Some(mut entry) = self.sessions.remove(&session) else {
            return;
        };
        self.by_client_id.remove(&entry.client_id, session);
        if entry.connection.is_none() && entry.state.is_some() {
            self.counters
                .clients_disconnected
                .fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(state) = state.or(entry.state.take()) {
            for filter in state.subscriptions.keys() {
                self.tree.unsubscribe(session, filter);
            }
        }
        self.update_subscription_count();
        entry.queue.clear();
        if let Some(pending) = entry.pending_connect.take() {
            drop(pending);
        }
        if let Some(will) = entry.pending_will.take() {
            self.publish_will(*will, now);
        }
    }

    pub(super) fn publish_will(&mut self, will: Will, now: Instant) {
        let expires_at = will
            .properties
            .message_expiry_interval()
            .map(|seconds| now + Duration::from_secs(u64::from(seconds)));
        let mut properties = will.properties;
        properties.0.retain(|p| {
            !matches!(
                p.identifier(),
                crate::protocol::properties::id::WILL_DELAY_INTERVAL
                    | crate::protocol::properties::id::MESSAGE_EXPIRY_INTERVAL
            )
        });
        let message = Message {
            topic: will.topic,
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties,
            expires_at,
            publisher: None,
        };
        self.publish(message, now);
    }
}
