//! Broker-wide counters: connection tasks add bytes and messages, the router keeps the
//! client, subscription and retained figures. `BrokerStats` is the snapshot `Broker::stats()`
//! returns and `$SYS/broker/...` publishes.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// The figures Mosquitto publishes under `$SYS/broker/...`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerStats {
    pub version: String,
    pub uptime_seconds: u64,
    /// Clients with an open connection.
    pub clients_connected: u64,
    /// Persistent sessions whose client is offline.
    pub clients_disconnected: u64,
    /// Connected clients plus offline persistent sessions.
    pub clients_total: u64,
    /// Most clients connected at once since the start.
    pub clients_maximum: u64,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Messages not queued for a session because its queue was full (QoS 0, and QoS 1/2
    /// for offline sessions), or dropped for exceeding a client's Maximum Packet Size.
    pub messages_dropped: u64,
    pub subscriptions_count: u64,
    pub retained_messages_count: u64,
}

/// The live counters, shared by every task of one broker.
#[derive(Debug)]
pub struct Counters {
    pub started: Instant,
    pub clients_connected: AtomicU64,
    pub clients_disconnected: AtomicU64,
    pub clients_maximum: AtomicU64,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub messages_dropped: AtomicU64,
    pub subscriptions_count: AtomicU64,
    pub retained_messages_count: AtomicU64,
}

impl Counters {
    pub fn new() -> Counters {
        Counters {
            started: Instant::now(),
            clients_connected: AtomicU64::new(0),
            clients_disconnected: AtomicU64::new(0),
            clients_maximum: AtomicU64::new(0),
            messages_received: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            messages_dropped: AtomicU64::new(0),
            subscriptions_count: AtomicU64::new(0),
            retained_messages_count: AtomicU64::new(0),
        }
    }

    pub fn add(counter: &AtomicU64, value: u64) {
        if value != 0 {
            counter.fetch_add(value, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> BrokerStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let connected = get(&self.clients_connected);
        let disconnected = get(&self.clients_disconnected);
        BrokerStats {
            version: format!("ferromqtt {}", env!("CARGO_PKG_VERSION")),
            uptime_seconds: self.started.elapsed().as_secs(),
            clients_connected: connected,
            clients_disconnected: disconnected,
            clients_total: connected + disconnected,
            clients_maximum: get(&self.clients_maximum),
            messages_received: get(&self.messages_received),
            messages_sent: get(&self.messages_sent),
            bytes_received: get(&self.bytes_received),
            bytes_sent: get(&self.bytes_sent),
            messages_dropped: get(&self.messages_dropped),
            subscriptions_count: get(&self.subscriptions_count),
            retained_messages_count: get(&self.retained_messages_count),
        }
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}
