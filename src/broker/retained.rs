//! The retained-message store: the last retained message of each topic, owned by the
//! router. Filled by PUBLISH with the retain flag, cleared by an empty payload, read
//! when a subscription asks for retained messages.
//!
//! A filter without wildcards is a direct lookup; a wildcard filter scans the store.

use super::queue::Message;
use crate::protocol::topic::matches;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct RetainedStore {
    messages: HashMap<Box<str>, Arc<Message>>,
}

impl RetainedStore {
    pub fn new() -> RetainedStore {
        RetainedStore::default()
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Every stored message, expired or not, in no particular order (for observers).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Message>> {
        self.messages.values()
    }

    /// Stores `message` for its topic, or clears the topic when the payload is empty
    /// ([MQTT-3.3.1-6], [MQTT-3.3.1-7]).
    pub fn store(&mut self, message: Arc<Message>) {
        let topic = message.topic.as_str();
        if message.payload.is_empty() {
            self.messages.remove(topic);
        } else {
            self.messages.insert(topic.into(), message);
        }
    }

    /// Every unexpired retained message matching `filter` (a shared subscription's inner
    /// filter must not be passed: shared subscriptions get no retained messages).
    pub fn matching(&mut self, filter: &str, now: Instant) -> Vec<Arc<Message>> {
        self.messages.retain(|_, message| !message.is_expired(now));
        if !filter.contains(['+', '#']) {
            return self.messages.get(filter).cloned().into_iter().collect();
        }
        let mut found: Vec<Arc<Message>> = self
            .messages
            .iter()
            .filter(|(topic, _)| matches(filter, topic))
            .map(|(_, message)| message.clone())
            .collect();
        found.sort_by(|a, b| a.topic.cmp(&b.topic));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Properties, QoS, TopicName};
    use bytes::Bytes;
    use std::time::Duration;

    fn message(topic: &str, payload: &'static [u8], expires_at: Option<Instant>) -> Arc<Message> {
        Arc::new(Message {
            topic: TopicName::new(topic).unwrap(),
            payload: Bytes::from_static(payload),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Properties::new(),
            expires_at,
            publisher: None,
        })
    }

    #[test]
    fn store_replace_and_clear() {
        let now = Instant::now();
        let mut store = RetainedStore::new();
        store.store(message("a/b", b"1", None));
        store.store(message("a/b", b"2", None));
        store.store(message("a/c", b"3", None));
        store.store(message("$SYS/x", b"4", None));
        assert_eq!(store.len(), 3);
        assert_eq!(
            store.matching("a/b", now)[0].payload,
            Bytes::from_static(b"2")
        );
        let all: Vec<_> = store
            .matching("#", now)
            .iter()
            .map(|m| m.topic.to_string())
            .collect();
        assert_eq!(all, ["a/b", "a/c"]);
        store.store(message("a/b", b"", None));
        assert!(store.matching("a/b", now).is_empty());
        assert_eq!(store.matching("+/+", now).len(), 1);
    }

    #[test]
    fn expired_messages_are_not_delivered() {
        let now = Instant::now();
        let mut store = RetainedStore::new();
        store.store(message("a", b"1", Some(now + Duration::from_secs(5))));
        assert_eq!(store.matching("a", now).len(), 1);
        assert!(store.matching("a", now + Duration::from_secs(6)).is_empty());
        assert!(store.is_empty());
    }
}
