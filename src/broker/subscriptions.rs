//! The `SubscriptionTree`: every session's topic filters, one trie level per topic level,
//! with `+`/`#` children and `$share/{group}/...` groups. Owned by the router alone.
//!
//! Matching walks only the branches a topic can reach (exact level, `+`, `#`), so its
//! cost follows the topic's depth, not the number of subscriptions.

use super::queue::SessionId;
use super::FastMap;
use crate::protocol::{SubscriptionOptions, TopicFilter};
use std::cell::Cell;

/// One session's subscription at a tree node.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscriber {
    pub session: SessionId,
    pub options: SubscriptionOptions,
    /// MQTT 5 Subscription Identifier, carried in every PUBLISH it causes.
    pub identifier: Option<u32>,
}

/// The members of one `$share/{group}/{filter}`; each message goes to one of them.
#[derive(Debug)]
pub struct SharedGroup {
    pub name: Box<str>,
    pub members: Vec<Subscriber>,
    cursor: Cell<usize>,
}

impl SharedGroup {
    /// The next member in round-robin order that `is_online`; if none is, the next member
    /// at all (its persistent session queues the message).
    pub fn pick(&self, is_online: impl Fn(SessionId) -> bool) -> Option<&Subscriber> {
        let count = self.members.len();
        if count == 0 {
            return None;
        }
        let start = self.cursor.get() % count;
        let chosen = (0..count)
            .map(|offset| (start + offset) % count)
            .find(|&index| is_online(self.members[index].session))
            .unwrap_or(start);
        self.cursor.set(chosen + 1);
        self.members.get(chosen)
    }
}

/// What a topic matched: a plain subscription, or a shared group to pick one member from.
pub enum Match<'a> {
    Subscriber(&'a Subscriber),
    Group(&'a SharedGroup),
}

#[derive(Debug, Default)]
struct Node {
    children: FastMap<Box<str>, Node>,
    subscribers: Vec<Subscriber>,
    groups: Vec<SharedGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subscribers.is_empty() && self.groups.is_empty()
    }

    fn emit<'a>(&'a self, f: &mut impl FnMut(Match<'a>)) {
        for subscriber in &self.subscribers {
            f(Match::Subscriber(subscriber));
        }
        for group in &self.groups {
            f(Match::Group(group));
        }
    }
}

#[derive(Debug, Default)]
pub struct SubscriptionTree {
    root: Node,
    count: usize,
}

impl SubscriptionTree {
    pub fn new() -> SubscriptionTree {
        SubscriptionTree::default()
    }

    /// Number of subscriptions (shared memberships included).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds or replaces `session`'s subscription to `filter`. True if it is new.
    pub fn subscribe(
        &mut self,
        session: SessionId,
        filter: &TopicFilter,
        options: SubscriptionOptions,
        identifier: Option<u32>,
    ) -> bool {
        let mut node = &mut self.root;
        for level in filter.match_filter().split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        let subscriber = Subscriber {
            session,
            options,
            identifier,
        };
        let list = match filter.shared() {
            Some((group_name, _)) => {
                let position = node.groups.iter().position(|g| &*g.name == group_name);
                let index = match position {
                    Some(index) => index,
                    None => {
                        node.groups.push(SharedGroup {
                            name: group_name.into(),
                            members: Vec::new(),
                            cursor: Cell::new(0),
                        });
                        node.groups.len() - 1
                    }
                };
                &mut node.groups[index].members
            }
            None => &mut node.subscribers,
        };
        match list.iter_mut().find(|s| s.session == session) {
            Some(existing) => {
                *existing = subscriber;
                false
            }
            None => {
                list.push(subscriber);
                self.count += 1;
                true
            }
        }
    }

    /// Removes `session`'s subscription to `filter`. True if it existed.
    pub fn unsubscribe(&mut self, session: SessionId, filter: &TopicFilter) -> bool {
        let levels: Vec<&str> = filter.match_filter().split('/').collect();
        let group = filter.shared().map(|(group, _)| group);
        let removed = remove(&mut self.root, &levels, group, session);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Calls `f` for every subscription and shared group whose filter matches `topic`.
    /// Filters starting with a wildcard do not match `$` topics ([MQTT-4.7.2-1]).
    pub fn for_each_match<'a>(&'a self, topic: &str, mut f: impl FnMut(Match<'a>)) {
        let system = topic.starts_with('$');
        walk(&self.root, topic.split('/'), system, &mut f);
    }
}

impl SubscriptionTree {
    /// Calls `f` with every subscription and its full filter (`$share/{group}/...` for
    /// members of a shared group), for observers; not on any message path.
    pub fn for_each_subscription(&self, mut f: impl FnMut(String, &Subscriber)) {
        let mut path = Vec::new();
        visit(&self.root, &mut path, &mut f);
    }
}

fn visit<'a>(node: &'a Node, path: &mut Vec<&'a str>, f: &mut impl FnMut(String, &Subscriber)) {
    if !node.subscribers.is_empty() || !node.groups.is_empty() {
        let filter = path.join("/");
        for subscriber in &node.subscribers {
            f(filter.clone(), subscriber);
        }
        for group in &node.groups {
            for member in &group.members {
                f(format!("$share/{}/{filter}", group.name), member);
            }
        }
    }
    for (level, child) in &node.children {
        path.push(level);
        visit(child, path, f);
        path.pop();
    }
}

fn walk<'a>(
    node: &'a Node,
    mut levels: std::str::Split<'_, char>,
    skip_wildcards: bool,
    f: &mut impl FnMut(Match<'a>),
) {
    let Some(level) = levels.next() else {
        node.emit(f);
        // "a/#" also matches "a" ([MQTT-4.7.1-2]).
        if let Some(hash) = node.children.get("#") {
            hash.emit(f);
        }
        return;
    };
    if !skip_wildcards {
        if let Some(hash) = node.children.get("#") {
            hash.emit(f);
        }
        if let Some(plus) = node.children.get("+") {
            walk(plus, levels.clone(), false, f);
        }
    }
    if let Some(child) = node.children.get(level) {
        walk(child, levels, false, f);
    }
}

fn remove(node: &mut Node, levels: &[&str], group: Option<&str>, session: SessionId) -> bool {
    match levels.split_first() {
        None => match group {
            Some(name) => {
                let Some(index) = node.groups.iter().position(|g| &*g.name == name) else {
                    return false;
                };
                let members = &mut node.groups[index].members;
                let before = members.len();
                members.retain(|s| s.session != session);
                let removed = members.len() != before;
                if members.is_empty() {
                    node.groups.remove(index);
                }
                removed
            }
            None => {
                let before = node.subscribers.len();
                node.subscribers.retain(|s| s.session != session);
                node.subscribers.len() != before
            }
        },
        Some((level, rest)) => {
            let Some(child) = node.children.get_mut(*level) else {
                return false;
            };
            let removed = remove(child, rest, group, session);
            if child.is_empty() {
                node.children.remove(*level);
            }
            removed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::QoS;

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }

    fn options(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        }
    }

    fn matched(tree: &SubscriptionTree, topic: &str) -> Vec<SessionId> {
        let mut sessions = Vec::new();
        tree.for_each_match(topic, |m| match m {
            Match::Subscriber(s) => sessions.push(s.session),
            Match::Group(g) => sessions.extend(g.members.iter().map(|m| m.session + 1000)),
        });
        sessions.sort_unstable();
        sessions
    }

    #[test]
    fn wildcards_match_like_the_specification() {
        let mut tree = SubscriptionTree::new();
        tree.subscribe(1, &filter("sport/tennis/+"), options(QoS::AtMostOnce), None);
        tree.subscribe(2, &filter("sport/#"), options(QoS::AtMostOnce), None);
        tree.subscribe(3, &filter("#"), options(QoS::AtMostOnce), None);
        tree.subscribe(4, &filter("+/+"), options(QoS::AtMostOnce), None);
        tree.subscribe(5, &filter("sport"), options(QoS::AtMostOnce), None);
        assert_eq!(matched(&tree, "sport/tennis/player1"), [1, 2, 3]);
        assert_eq!(matched(&tree, "sport"), [2, 3, 5]);
        assert_eq!(matched(&tree, "sport/tennis"), [2, 3, 4]);
        assert_eq!(matched(&tree, "other/x/y"), [3]);
        assert_eq!(tree.len(), 5);
    }

    #[test]
    fn dollar_topics_skip_leading_wildcards() {
        let mut tree = SubscriptionTree::new();
        tree.subscribe(1, &filter("#"), options(QoS::AtMostOnce), None);
        tree.subscribe(
            2,
            &filter("+/broker/uptime"),
            options(QoS::AtMostOnce),
            None,
        );
        tree.subscribe(3, &filter("$SYS/#"), options(QoS::AtMostOnce), None);
        tree.subscribe(4, &filter("$SYS/+/uptime"), options(QoS::AtMostOnce), None);
        assert_eq!(matched(&tree, "$SYS/broker/uptime"), [3, 4]);
        assert_eq!(matched(&tree, "$SYS/broker/load"), [3]);
        assert_eq!(matched(&tree, "$SYS/x/uptime"), [3, 4]);
        assert_eq!(matched(&tree, "a/broker/uptime"), [1, 2]);
    }

    #[test]
    fn resubscribe_replaces_and_unsubscribe_prunes() {
        let mut tree = SubscriptionTree::new();
        assert!(tree.subscribe(1, &filter("a/b"), options(QoS::AtMostOnce), None));
        assert!(!tree.subscribe(1, &filter("a/b"), options(QoS::ExactlyOnce), Some(7)));
        assert_eq!(tree.len(), 1);
        let mut seen = Vec::new();
        tree.for_each_match("a/b", |m| {
            if let Match::Subscriber(s) = m {
                seen.push((s.options.qos, s.identifier));
            }
        });
        assert_eq!(seen, [(QoS::ExactlyOnce, Some(7))]);
        assert!(tree.unsubscribe(1, &filter("a/b")));
        assert!(!tree.unsubscribe(1, &filter("a/b")));
        assert!(tree.root.is_empty());
        assert!(tree.is_empty());
    }

    #[test]
    fn shared_groups_round_robin_over_online_members() {
        let mut tree = SubscriptionTree::new();
        for session in [1, 2, 3] {
            tree.subscribe(
                session,
                &filter("$share/g/s/+"),
                options(QoS::AtLeastOnce),
                None,
            );
        }
        tree.subscribe(9, &filter("s/+"), options(QoS::AtMostOnce), None);
        assert_eq!(matched(&tree, "s/1"), [9, 1001, 1002, 1003]);
        let mut picks = Vec::new();
        for _ in 0..4 {
            tree.for_each_match("s/1", |m| {
                if let Match::Group(g) = m {
                    picks.push(g.pick(|s| s != 2).map(|s| s.session));
                }
            });
        }
        assert_eq!(picks, [Some(1), Some(3), Some(1), Some(3)]);
        let mut offline = None;
        tree.for_each_match("s/1", |m| {
            if let Match::Group(g) = m {
                offline = g.pick(|_| false).map(|s| s.session);
            }
        });
        assert!(offline.is_some());
        assert!(tree.unsubscribe(2, &filter("$share/g/s/+")));
        assert!(!tree.unsubscribe(2, &filter("s/+")));
        assert_eq!(tree.len(), 3);
    }
}
