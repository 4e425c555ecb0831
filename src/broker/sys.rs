//! `$SYS/broker/...`: the periodic figures (as Mosquitto publishes them, retained) and the
//! per-client connect/disconnect events. Pure functions from counters to topic/payload
//! pairs; the router publishes them.

use super::stats::BrokerStats;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exponentially damped per-minute rates over 1, 5 and 15 minutes, like Mosquitto's
/// `$SYS/broker/load/...`.
#[derive(Debug, Default, Clone)]
pub struct LoadAverages {
    last: Option<[u64; 4]>,
    /// [counter][window]: messages received/sent, bytes received/sent × 1/5/15 min.
    averages: [[f64; 3]; 4],
}

const WINDOWS: [(&str, f64); 3] = [("1min", 60.0), ("5min", 300.0), ("15min", 900.0)];
const LOAD_NAMES: [&str; 4] = [
    "messages/received",
    "messages/sent",
    "bytes/received",
    "bytes/sent",
];

impl LoadAverages {
    pub fn update(&mut self, stats: &BrokerStats, interval: Duration) {
        let now = [
            stats.messages_received,
            stats.messages_sent,
            stats.bytes_received,
            stats.bytes_sent,
        ];
        let seconds = interval.as_secs_f64().max(0.001);
        if let Some(last) = self.last {
            for (index, averages) in self.averages.iter_mut().enumerate() {
                let per_minute = now[index].saturating_sub(last[index]) as f64 * 60.0 / seconds;
                for (window, average) in WINDOWS.iter().zip(averages.iter_mut()) {
                    let decay = (-seconds / window.1).exp();
                    *average = *average * decay + per_minute * (1.0 - decay);
                }
            }
        }
        self.last = Some(now);
    }
}

/// Every periodic `$SYS` topic and its payload.
pub fn periodic_topics(stats: &BrokerStats, load: &LoadAverages) -> Vec<(String, String)> {
    let mut topics = vec![
        ("$SYS/broker/version".to_owned(), stats.version.clone()),
        (
            "$SYS/broker/uptime".to_owned(),
            format!("{} seconds", stats.uptime_seconds),
        ),
        (
            "$SYS/broker/clients/connected".to_owned(),
            stats.clients_connected.to_string(),
        ),
        (
            "$SYS/broker/clients/disconnected".to_owned(),
            stats.clients_disconnected.to_string(),
        ),
        (
            "$SYS/broker/clients/total".to_owned(),
            stats.clients_total.to_string(),
        ),
        (
            "$SYS/broker/clients/maximum".to_owned(),
            stats.clients_maximum.to_string(),
        ),
        (
            "$SYS/broker/messages/received".to_owned(),
            stats.messages_received.to_string(),
        ),
        (
            "$SYS/broker/messages/sent".to_owned(),
            stats.messages_sent.to_string(),
        ),
        (
            "$SYS/broker/bytes/received".to_owned(),
            stats.bytes_received.to_string(),
        ),
        (
            "$SYS/broker/bytes/sent".to_owned(),
            stats.bytes_sent.to_string(),
        ),
        (
            "$SYS/broker/publish/messages/dropped".to_owned(),
            stats.messages_dropped.to_string(),
        ),
        (
            "$SYS/broker/subscriptions/count".to_owned(),
            stats.subscriptions_count.to_string(),
        ),
        (
            "$SYS/broker/retained messages/count".to_owned(),
            stats.retained_messages_count.to_string(),
        ),
    ];
    for (name, averages) in LOAD_NAMES.iter().zip(load.averages.iter()) {
        for ((window, _), average) in WINDOWS.iter().zip(averages.iter()) {
            topics.push((
                format!("$SYS/broker/load/{name}/{window}"),
                format!("{average:.2}"),
            ));
        }
    }
    topics
}

/// The JSON payload of `$SYS/broker/clients/{client_id}/connected` and `.../disconnected`.
#[derive(Debug, Serialize)]
pub struct ClientEvent<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub address: Option<String>,
    /// Connect events only, as are `keepalive` and `clean_start`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clean_start: Option<bool>,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
    /// Why the client left (disconnect events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

pub fn unix_timestamp() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub fn address_text(address: Option<SocketAddr>) -> Option<String> {
    address.map(|a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::stats::Counters;

    #[test]
    fn periodic_topics_follow_mosquitto_names() {
        let counters = Counters::new();
        Counters::add(&counters.messages_received, 120);
        let mut load = LoadAverages::default();
        load.update(&counters.snapshot(), Duration::from_secs(10));
        Counters::add(&counters.messages_received, 60);
        let stats = counters.snapshot();
        load.update(&stats, Duration::from_secs(10));
        let topics = periodic_topics(&stats, &load);
        let get = |name: &str| {
            topics
                .iter()
                .find(|(t, _)| t == name)
                .map(|(_, p)| p.clone())
        };
        assert_eq!(get("$SYS/broker/messages/received").as_deref(), Some("180"));
        assert!(get("$SYS/broker/version")
            .unwrap()
            .starts_with("ferromqtt "));
        assert!(get("$SYS/broker/retained messages/count").is_some());
        // 60 messages in 10 s = 360/min; the 1-minute average moves part of the way there.
        let one_minute: f64 = get("$SYS/broker/load/messages/received/1min")
            .unwrap()
            .parse()
            .unwrap();
        assert!(one_minute > 0.0 && one_minute < 360.0, "{one_minute}");
    }
}
