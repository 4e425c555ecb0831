//! Broker-side observation for tests and notebooks: who is connected, who subscribed to
//! what, what is retained, and a bounded log of the last messages routed. `Broker`'s
//! query methods send a `Query` through the router's inbox; the router answers from its
//! own state with a snapshot, so nothing here locks or shares the router's maps.

use super::{Router, SessionEntry};
use crate::broker::queue::Message;
use crate::broker::Broker;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How many routed messages the traffic log keeps. Its records (and their topic strings)
/// are reused once it is full, so logging costs no allocation in the steady state.
pub const TRAFFIC_LOG_SIZE: usize = 1000;

/// A question for the router; the answer comes back on the sender.
#[derive(Debug)]
pub enum Query {
    Clients(oneshot::Sender<Vec<ClientSnapshot>>),
    Subscriptions(oneshot::Sender<Vec<SubscriptionSnapshot>>),
    Retained(oneshot::Sender<Vec<(String, Bytes)>>),
    Traffic(usize, oneshot::Sender<Vec<TrafficRecord>>),
    /// Answered when a client with this id is connected (at once if it already is).
    WaitForClient(Arc<str>, oneshot::Sender<ClientSnapshot>),
}

/// A connected client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSnapshot {
    pub client_id: String,
    pub address: Option<SocketAddr>,
    /// The protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5.
    pub protocol_version: u8,
    pub username: Option<String>,
}

/// One subscription of one session (connected or not). Shared subscriptions keep their
/// `$share/{group}/` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    pub client_id: String,
    pub filter: String,
    pub qos: u8,
}

/// One message the router routed.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficRecord {
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
    /// The publishing client; `None` for wills (and when its session has already ended).
    pub client_id: Option<Arc<str>>,
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload_len: usize,
}

/// A ring of the last `TRAFFIC_LOG_SIZE` routed messages (`$SYS` topics left out).
#[derive(Debug, Default)]
pub struct TrafficLog {
    records: Vec<(Instant, TrafficRecord)>,
    /// Where the next record goes once the ring is full.
    next: usize,
}

impl TrafficLog {
    fn record(&mut self, message: &Message, client_id: Option<Arc<str>>, now: Instant) {
        let qos = message.qos as u8;
        let topic = message.topic.as_str();
        if self.records.len() < TRAFFIC_LOG_SIZE {
            let record = TrafficRecord {
                timestamp: 0.0,
                client_id,
                topic: topic.to_owned(),
                qos,
                retain: message.retain,
                payload_len: message.payload.len(),
            };
            self.records.push((now, record));
            return;
        }
        let Some((at, record)) = self.records.get_mut(self.next) else {
            return;
        };
        *at = now;
        record.client_id = client_id;
        record.topic.clear();
        record.topic.push_str(topic);
        record.qos = qos;
        record.retain = message.retain;
        record.payload_len = message.payload.len();
        self.next = (self.next + 1) % TRAFFIC_LOG_SIZE;
    }

    /// The last `n` records, oldest first, stamped with wall-clock time.
    fn last(&self, n: usize) -> Vec<TrafficRecord> {
        let (older, newer) = self.records.split_at(self.next.min(self.records.len()));
        let ordered = newer.iter().chain(older.iter());
        let skip = self.records.len().saturating_sub(n);
        let (wall, mono) = (SystemTime::now(), Instant::now());
        ordered
            .skip(skip)
            .map(|(at, record)| {
                let when = wall
                    .checked_sub(mono.saturating_duration_since(*at))
                    .unwrap_or(wall);
                let timestamp = when
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_secs_f64();
                TrafficRecord {
                    timestamp,
                    ..record.clone()
                }
            })
            .collect()
    }
}

/// What the router keeps for observers: the traffic log and clients being waited for.
#[derive(Debug, Default)]
pub struct Observer {
    traffic: TrafficLog,
    waiters: Vec<(Arc<str>, oneshot::Sender<ClientSnapshot>)>,
}

fn snapshot(entry: &SessionEntry) -> Option<ClientSnapshot> {
    let online = entry.connection.as_ref()?;
    Some(ClientSnapshot {
        client_id: entry.client_id.to_string(),
        address: entry.address,
        protocol_version: online.version.level(),
        username: entry.username.as_deref().map(str::to_owned),
    })
}

impl Router {
    pub(super) fn answer(&mut self, query: Query) {
        match query {
            Query::Clients(reply) => {
                let mut clients: Vec<ClientSnapshot> =
                    self.sessions.values().filter_map(|e| snapshot(e)).collect();
                clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
                let _ = reply.send(clients);
            }
            Query::Subscriptions(reply) => {
                let mut found = Vec::new();
                self.tree.for_each_subscription(|filter, subscriber| {
                    if let Some(entry) = self.sessions.get(&subscriber.session) {
                        found.push(SubscriptionSnapshot {
                            client_id: entry.client_id.to_string(),
                            filter,
                            qos: subscriber.options.qos as u8,
                        });
                    }
                });
                found.sort_by(|a, b| (&a.client_id, &a.filter).cmp(&(&b.client_id, &b.filter)));
                let _ = reply.send(found);
            }
            Query::Retained(reply) => {
                let now = Instant::now();
                let mut retained: Vec<(String, Bytes)> = self
                    .retained
                    .iter()
                    .filter(|m| !m.is_expired(now) && !m.topic.as_str().starts_with("$SYS/"))
                    .map(|m| (m.topic.as_str().to_owned(), m.payload.clone()))
                    .collect();
                retained.sort_by(|a, b| a.0.cmp(&b.0));
                let _ = reply.send(retained);
            }
            Query::Traffic(n, reply) => {
                let _ = reply.send(self.observer.traffic.last(n));
            }
            Query::WaitForClient(client_id, reply) => {
                let connected = self
                    .by_client_id
                    .get(&self.sessions, &client_id)
                    .and_then(|session| self.sessions.get(&session))
                    .and_then(|entry| snapshot(entry));
                match connected {
                    Some(client) => {
                        let _ = reply.send(client);
                    }
                    None => {
                        // Waiters that gave up are dropped here, so the list stays small.
                        self.observer.waiters.retain(|(_, w)| !w.is_closed());
                        self.observer.waiters.push((client_id, reply));
                    }
                }
            }
        }
    }

    /// Called once a connection has its session: wakes whoever waits for that client.
    pub(super) fn observe_connected(&mut self, client_id: &str) {
        if self.observer.waiters.is_empty() {
            return;
        }
        let Some(client) = self
            .by_client_id
            .get(&self.sessions, client_id)
            .and_then(|session| self.sessions.get(&session))
            .and_then(|entry| snapshot(entry))
        else {
            return;
        };
        let waiters = std::mem::take(&mut self.observer.waiters);
        for (wanted, reply) in waiters {
            if &*wanted == client_id {
                let _ = reply.send(client.clone());
            } else if !reply.is_closed() {
                self.observer.waiters.push((wanted, reply));
            }
        }
    }

    /// Called for every message routed (not for `$SYS` ones).
    pub(super) fn observe_routed(&mut self, message: &Message, now: Instant) {
        if message.topic.as_str().starts_with("$SYS") {
            return;
        }
        let client_id = message
            .publisher
            .and_then(|session| self.sessions.get(&session))
            .map(|entry| entry.client_id.clone());
        self.observer.traffic.record(message, client_id, now);
    }
}

impl Broker {
    async fn ask<T>(&self, query: impl FnOnce(oneshot::Sender<T>) -> Query) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.router
            .send(super::RouterCommand::Observe(query(reply)))
            .await
            .ok()?;
        answer.await.ok()
    }

    /// The connected clients, by client id.
    pub async fn clients(&self) -> Vec<ClientSnapshot> {
        self.ask(Query::Clients).await.unwrap_or_default()
    }

    /// Every subscription, by client id then filter.
    pub async fn subscriptions(&self) -> Vec<SubscriptionSnapshot> {
        self.ask(Query::Subscriptions).await.unwrap_or_default()
    }

    /// The retained messages (`$SYS` ones left out), by topic.
    pub async fn retained(&self) -> Vec<(String, Bytes)> {
        self.ask(Query::Retained).await.unwrap_or_default()
    }

    /// The last `n` messages routed (at most `TRAFFIC_LOG_SIZE`), oldest first.
    pub async fn traffic(&self, n: usize) -> Vec<TrafficRecord> {
        self.ask(|reply| Query::Traffic(n, reply))
            .await
            .unwrap_or_default()
    }

    /// Waits until a client with this id is connected; `None` if the broker stops first.
    /// Callers bound it with a timeout.
    pub async fn wait_for_client(&self, client_id: &str) -> Option<ClientSnapshot> {
        self.ask(|reply| Query::WaitForClient(client_id.into(), reply))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Properties, QoS, TopicName};

    fn message(topic: &str, len: usize) -> Message {
        Message {
            topic: TopicName::new(topic).unwrap(),
            payload: Bytes::from(vec![0u8; len]),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::new(),
            expires_at: None,
            publisher: None,
        }
    }

    #[test]
    fn traffic_log_keeps_the_last_records_oldest_first() {
        let mut log = TrafficLog::default();
        let now = Instant::now();
        for i in 0..TRAFFIC_LOG_SIZE + 5 {
            log.record(&message(&format!("t/{i}"), i), None, now);
        }
        let last = log.last(3);
        let topics: Vec<&str> = last.iter().map(|r| r.topic.as_str()).collect();
        let n = TRAFFIC_LOG_SIZE;
        assert_eq!(
            topics,
            [
                format!("t/{}", n + 2),
                format!("t/{}", n + 3),
                format!("t/{}", n + 4)
            ]
        );
        assert_eq!(last[2].payload_len, n + 4);
        assert_eq!(last[2].qos, 1);
        assert_eq!(log.last(usize::MAX).len(), TRAFFIC_LOG_SIZE);
        assert!(last[0].timestamp > 1.6e9);
    }

    #[test]
    fn traffic_log_before_it_is_full() {
        let mut log = TrafficLog::default();
        assert!(log.last(10).is_empty());
        log.record(&message("a", 1), Some("c1".into()), Instant::now());
        log.record(&message("b", 2), None, Instant::now());
        let all = log.last(10);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].topic, "a");
        assert_eq!(all[0].client_id.as_deref(), Some("c1"));
        assert_eq!(log.last(1)[0].topic, "b");
    }
}
