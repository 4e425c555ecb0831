//! Mosquitto's `acl_file`: who may publish to (write) and receive from (read) which topics.
//!
//! Format, as Mosquitto reads it: `user NAME` starts a user's section; `topic [ACCESS] TOPIC`
//! adds a rule to the current section (lines before any `user` form the anonymous section,
//! used by clients without a username); `pattern [ACCESS] TOPIC` adds a rule for every client,
//! with `%c` replaced by the client id and `%u` by the username. ACCESS is `read`, `write`,
//! `readwrite` (the default) or `deny`. Lines starting with `#` are comments.
//!
//! Evaluation follows Mosquitto 2.0: the client's own section first, then the patterns; in
//! each, a matching `deny` refuses before any grant is looked at; no matching grant refuses.
//! `$`-topics match only rules that start with `$`; nobody writes to `$SYS` (but bridge
//! state topics). Subscriptions: see [`Access::Subscribe`].

use crate::protocol::topic::{matches, TopicFilter};
use std::path::Path;

/// What a client wants to do with a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Receive a message published to this topic name. Checked per delivery, retained and
    /// will messages included, as Mosquitto does.
    Read,
    /// Publish to this topic name.
    Write,
    /// Subscribe with this topic filter (a `$share/GROUP/` prefix is looked through).
    /// Mosquitto 2.0 grants every subscription and filters deliveries by [`Access::Read`];
    /// here a subscription is refused (SUBACK 0x80/0x87) when no message could ever be
    /// delivered through it: no read grant overlaps the filter, or a deny rule covers the
    /// whole filter. Deliveries through a granted subscription are still checked one by one
    /// with `Read`, so the messages a client receives are exactly those Mosquitto delivers.
    Subscribe,
}

/// A rule's permission, as written in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Permission {
    fn grants_read(self) -> bool {
        matches!(self, Permission::Read | Permission::ReadWrite)
    }

    fn grants_write(self) -> bool {
        matches!(self, Permission::Write | Permission::ReadWrite)
    }
}

/// One `topic` or `pattern` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub permission: Permission,
    pub topic: String,
    /// 1-based line in the file.
    pub line: usize,
}

/// Why an ACL file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    #[error("{file}:{line}: {reason}")]
    Parse {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("cannot read ACL file {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A parsed ACL file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    /// Sections in file order; `None` is the anonymous section. Deny rules first in each,
    /// as Mosquitto stores them.
    sections: Vec<(Option<String>, Vec<Rule>)>,
    /// `pattern` rules, deny rules first.
    patterns: Vec<Rule>,
}

impl Acl {
    /// Parses an ACL file's text; `file_name` is used in errors.
    pub fn parse(text: &str, file_name: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::default();
        let mut current_user: Option<String> = None;
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let error = |reason: String| AclError::Parse {
                file: file_name.to_string(),
                line,
                reason,
            };
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (keyword, rest) = split_word(trimmed);
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(error("missing username after 'user'".to_string()));
                    }
                    current_user = Some(rest.to_string());
                }
                "topic" | "pattern" => {
                    let (first, after) = split_word(rest);
                    // As in Mosquitto, a single word is the topic; `topic read` is a rule
                    // for the topic "read".
                    let (permission, topic) = if after.is_empty() {
                        (Permission::ReadWrite, first)
                    } else {
                        let permission = match first {
                            "read" => Permission::Read,
                            "write" => Permission::Write,
                            "readwrite" => Permission::ReadWrite,
                            "deny" => Permission::Deny,
                            other => {
                                return Err(error(format!(
                                "invalid access {other:?} (expected read, write, readwrite or deny)"
                            )))
                            }
                        };
                        (permission, after)
                    };
                    if topic.is_empty() {
                        return Err(error(format!("missing topic after '{keyword}'")));
                    }
                    TopicFilter::new(topic.to_string())
                        .map_err(|e| error(format!("invalid topic {topic:?}: {e}")))?;
                    let rule = Rule {
                        permission,
                        topic: topic.to_string(),
                        line,
                    };
                    if keyword == "pattern" {
                        insert_rule(&mut acl.patterns, rule);
                    } else {
                        let section = match acl
                            .sections
                            .iter_mut()
                            .position(|(user, _)| *user == current_user)
                        {
                            Some(position) => &mut acl.sections[position].1,
                            None => {
                                acl.sections.push((current_user.clone(), Vec::new()));
                                let last = acl.sections.len() - 1;
                                &mut acl.sections[last].1
                            }
                        };
                        insert_rule(section, rule);
                    }
                }
                other => {
                    return Err(error(format!(
                        "unknown keyword {other:?} (expected user, topic or pattern)"
                    )))
                }
            }
        }
        Ok(acl)
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Acl, AclError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| AclError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Acl::parse(&text, &path.display().to_string())
    }

    /// The rules of `user`'s section (`None`: the anonymous section).
    pub fn user_rules(&self, user: Option<&str>) -> &[Rule] {
        self.sections
            .iter()
            .find(|(name, _)| name.as_deref() == user)
            .map(|(_, rules)| rules.as_slice())
            .unwrap_or(&[])
    }

    pub fn patterns(&self) -> &[Rule] {
        &self.patterns
    }

    /// Whether the client may do `access` on `topic` (a topic name for Read/Write, a topic
    /// filter for Subscribe).
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        let topic = match access {
            Access::Subscribe => match shared_inner_filter(topic) {
                Some(inner) => inner,
                None if topic.starts_with("$share/") => return false,
                None => topic,
            },
            Access::Read | Access::Write => topic,
        };
        if !system_topic_allows(topic, access) {
            return false;
        }
        for rule in self.user_rules(username) {
            // A `$` topic is matched only by rules that start with `$`.
            if topic.starts_with('$') && !rule.topic.starts_with('$') {
                continue;
            }
            if let Some(decision) = rule_decision(rule.permission, &rule.topic, topic, access) {
                return decision;
            }
        }
        if self.patterns.is_empty() {
            return false;
        }
        // A username or client id with a wildcard could widen a pattern to other clients'
        // topics: Mosquitto refuses such clients everything the patterns would decide.
        if username.is_some_and(|u| u.contains(['+', '#'])) || client_id.contains(['+', '#']) {
            return false;
        }
        for rule in &self.patterns {
            if rule.topic.contains("%u") && username.is_none() {
                continue;
            }
            let expanded = expand_pattern(&rule.topic, client_id, username);
            if let Some(decision) = rule_decision(rule.permission, &expanded, topic, access) {
                return decision;
            }
        }
        false
    }
}

/// Mosquitto keeps deny rules ahead of grants, so a deny anywhere in a section wins.
fn insert_rule(rules: &mut Vec<Rule>, rule: Rule) {
    if rule.permission == Permission::Deny {
        let first_grant = rules
            .iter()
            .position(|r| r.permission != Permission::Deny)
            .unwrap_or(rules.len());
        rules.insert(first_grant, rule);
    } else {
        rules.push(rule);
    }
}

fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(' ') {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

/// `Some(true)` grant, `Some(false)` deny, `None` this rule does not decide.
fn rule_decision(
    permission: Permission,
    rule_topic: &str,
    topic: &str,
    access: Access,
) -> Option<bool> {
    match access {
        Access::Read | Access::Write => {
            if !matches(rule_topic, topic) {
                return None;
            }
            if permission == Permission::Deny {
                return Some(false);
            }
            let granted = match access {
                Access::Read => permission.grants_read(),
                _ => permission.grants_write(),
            };
            granted.then_some(true)
        }
        Access::Subscribe => {
            if permission == Permission::Deny {
                return filter_covers(rule_topic, topic).then_some(false);
            }
            (permission.grants_read() && filters_overlap(rule_topic, topic)).then_some(true)
        }
    }
}

fn expand_pattern(pattern: &str, client_id: &str, username: Option<&str>) -> String {
    let mut expanded = pattern.replace("%c", client_id);
    if let Some(username) = username {
        expanded = expanded.replace("%u", username);
    }
    expanded
}

/// For `$share/GROUP/FILTER`, FILTER.
fn shared_inner_filter(filter: &str) -> Option<&str> {
    let rest = filter.strip_prefix("$share/")?;
    let (group, inner) = rest.split_once('/')?;
    (!group.is_empty() && !inner.is_empty()).then_some(inner)
}

/// Mosquitto's rules for `$` topics, applied whatever the ACL says: `$SYS` is never written
/// (but `$SYS/broker/connection/+/state`, a bridge's status); `$share/...` is only ever a
/// subscription, never a topic name.
pub fn system_topic_allows(topic: &str, access: Access) -> bool {
    if topic.starts_with("$SYS") {
        return access != Access::Write || matches("$SYS/broker/connection/+/state", topic);
    }
    if topic.starts_with("$share") {
        return access == Access::Subscribe;
    }
    true
}

fn first_level_is_wildcard(levels: &[&str]) -> bool {
    matches!(levels.first(), Some(&"+") | Some(&"#"))
}

fn first_level_is_system(levels: &[&str]) -> bool {
    levels.first().is_some_and(|level| level.starts_with('$'))
}

/// Whether every topic that matches `filter` also matches `rule`.
fn filter_covers(rule: &str, filter: &str) -> bool {
    let rule_levels: Vec<&str> = rule.split('/').collect();
    let filter_levels: Vec<&str> = filter.split('/').collect();
    // [MQTT-4.7.2-1] a leading wildcard does not match `$` topics.
    if first_level_is_wildcard(&rule_levels) && first_level_is_system(&filter_levels) {
        return false;
    }
    let mut index = 0;
    loop {
        match (rule_levels.get(index), filter_levels.get(index)) {
            (Some(&"#"), _) => return index + 1 == rule_levels.len(),
            (Some(_), Some(&"#")) => return false,
            (Some(&"+"), Some(_)) => {}
            (Some(_), Some(&"+")) => return false,
            (Some(r), Some(f)) if r == f => {}
            (Some(_), Some(_)) => return false,
            (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
        }
        index += 1;
    }
}

/// Whether some topic matches both filters.
fn filters_overlap(a: &str, b: &str) -> bool {
    let a_levels: Vec<&str> = a.split('/').collect();
    let b_levels: Vec<&str> = b.split('/').collect();
    if (first_level_is_wildcard(&a_levels) && first_level_is_system(&b_levels))
        || (first_level_is_wildcard(&b_levels) && first_level_is_system(&a_levels))
    {
        return false;
    }
    let mut index = 0;
    loop {
        match (a_levels.get(index), b_levels.get(index)) {
            (Some(&"#"), _) | (_, Some(&"#")) => return true,
            (Some(&"+"), Some(_)) | (Some(_), Some(&"+")) => {}
            (Some(x), Some(y)) if x == y => {}
            (Some(_), Some(_)) => return false,
            (None, None) => return true,
            // `a/#` also matches `a`, handled above; any other extra level cannot match.
            (None, Some(_)) | (Some(_), None) => return false,
        }
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# anonymous clients
topic read public/#
topic write anon/in

user alice
topic readwrite a/#
topic deny a/secret
topic read shared/+/status
topic read $SYS/broker/#
topic write $SYS/forbidden

user bob
topic b/rw
topic write b/w
topic read b/+/r

# a second alice section adds to the first
user alice
topic write late/alice

pattern readwrite clients/%c/#
pattern read users/%u/inbox
pattern deny clients/%c/locked
";

    fn acl() -> Acl {
        Acl::parse(FILE, "acl").unwrap()
    }

    use Access::{Read, Subscribe, Write};

    #[test]
    fn decisions_follow_mosquitto_semantics() {
        let acl = acl();
        // (client id, username, topic, access, allowed)
        let table: &[(&str, Option<&str>, &str, Access, bool)] = &[
            // anonymous section
            ("c1", None, "public/news", Read, true),
            ("c1", None, "public/news", Write, false),
            ("c1", None, "anon/in", Write, true),
            ("c1", None, "anon/in", Read, false),
            ("c1", None, "a/x", Read, false),
            // a user section does not inherit the anonymous one
            ("c2", Some("alice"), "public/news", Read, false),
            ("c2", Some("alice"), "a/x", Read, true),
            ("c2", Some("alice"), "a/x/y", Write, true),
            ("c2", Some("alice"), "a", Write, true),
            ("c2", Some("alice"), "a/secret", Read, false),
            ("c2", Some("alice"), "a/secret", Write, false),
            ("c2", Some("alice"), "a/secret/deeper", Read, true),
            ("c2", Some("alice"), "shared/x/status", Read, true),
            ("c2", Some("alice"), "shared/x/status", Write, false),
            ("c2", Some("alice"), "shared/x/y/status", Read, false),
            ("c2", Some("alice"), "late/alice", Write, true),
            // $SYS: readable where granted, never writable
            ("c2", Some("alice"), "$SYS/broker/uptime", Read, true),
            ("c2", Some("alice"), "$SYS/forbidden", Write, false),
            ("c1", None, "$SYS/broker/uptime", Read, false),
            // bob: default readwrite, write-only, read-only
            ("c3", Some("bob"), "b/rw", Read, true),
            ("c3", Some("bob"), "b/rw", Write, true),
            ("c3", Some("bob"), "b/w", Write, true),
            ("c3", Some("bob"), "b/w", Read, false),
            ("c3", Some("bob"), "b/x/r", Read, true),
            ("c3", Some("bob"), "b/x/r", Write, false),
            // unknown user: only patterns
            ("c4", Some("carol"), "a/x", Read, false),
            ("c4", Some("carol"), "users/carol/inbox", Read, true),
            ("c4", Some("carol"), "users/carol/inbox", Write, false),
            ("c4", Some("carol"), "users/alice/inbox", Read, false),
            // patterns apply to everyone, anonymous included (%u rules skipped without one)
            ("c1", None, "clients/c1/x", Write, true),
            ("c1", None, "clients/c2/x", Write, false),
            ("c2", Some("alice"), "clients/c2/status", Read, true),
            ("c1", None, "users//inbox", Read, false),
            // a pattern deny
            ("c1", None, "clients/c1/locked", Write, false),
            // wildcards in the client id or username disable patterns
            ("c+", None, "clients/c+/x", Write, false),
            ("c#", Some("x"), "clients/c#/x", Read, false),
            ("c9", Some("u#"), "users/u#/inbox", Read, false),
            // but not the user's own rules
            ("#", Some("alice"), "a/x", Read, true),
            // subscriptions: granted when a read grant overlaps the filter
            ("c1", None, "public/#", Subscribe, true),
            ("c1", None, "#", Subscribe, true),
            ("c1", None, "public/+/x", Subscribe, true),
            ("c1", None, "anon/in", Subscribe, false),
            ("c1", None, "private/#", Subscribe, false),
            ("c2", Some("alice"), "a/+", Subscribe, true),
            ("c2", Some("alice"), "a/secret", Subscribe, false),
            ("c2", Some("alice"), "+/secret", Subscribe, true),
            ("c2", Some("alice"), "$SYS/#", Subscribe, true),
            ("c2", Some("alice"), "#", Subscribe, true),
            ("c1", None, "$SYS/#", Subscribe, false),
            ("c2", Some("alice"), "$share/g/a/x", Subscribe, true),
            ("c2", Some("alice"), "$share/g/b/x", Subscribe, false),
            ("c2", Some("alice"), "$share/g", Subscribe, false),
            ("c3", Some("bob"), "b/w", Subscribe, false),
            ("c3", Some("bob"), "b/+/r", Subscribe, true),
            ("c1", None, "clients/c1/#", Subscribe, true),
            ("c1", None, "clients/c1/locked", Subscribe, false),
            // $share is never a topic name
            ("c2", Some("alice"), "$share/g/a/x", Write, false),
        ];
        for &(client_id, username, topic, access, allowed) in table {
            assert_eq!(
                acl.check(client_id, username, topic, access),
                allowed,
                "{client_id} {username:?} {topic} {access:?}"
            );
        }
    }

    #[test]
    fn a_deny_after_a_grant_still_wins() {
        let acl = Acl::parse("topic readwrite x/#\ntopic deny x/y\n", "acl").unwrap();
        assert!(!acl.check("c", None, "x/y", Write));
        assert!(acl.check("c", None, "x/z", Write));
        assert_eq!(acl.user_rules(None)[0].permission, Permission::Deny);
        assert_eq!(acl.user_rules(None)[0].line, 2);
    }

    #[test]
    fn a_deny_covering_the_whole_filter_refuses_the_subscription() {
        let acl = Acl::parse("topic read x/#\ntopic deny x/y/#\n", "acl").unwrap();
        assert!(!acl.check("c", None, "x/y/#", Subscribe));
        assert!(!acl.check("c", None, "x/y/+", Subscribe));
        assert!(acl.check("c", None, "x/+/z", Subscribe));
        assert!(!acl.check("c", None, "x/y/z", Read));
    }

    #[test]
    fn an_empty_file_denies_everything() {
        let acl = Acl::parse("# nothing\n", "acl").unwrap();
        assert!(!acl.check("c", None, "t", Read));
        assert!(!acl.check("c", Some("u"), "t", Write));
        assert!(!acl.check("c", Some("u"), "#", Subscribe));
    }

    #[test]
    fn a_single_word_after_topic_is_the_topic_with_readwrite_access() {
        let acl = Acl::parse("topic read\n", "acl").unwrap();
        assert!(acl.check("c", None, "read", Write));
        let acl = Acl::parse("topic   read    with space/x  \n", "acl").unwrap();
        assert!(acl.check("c", None, "with space/x", Read));
        assert!(!acl.check("c", None, "with space/x", Write));
    }

    #[test]
    fn bad_lines_are_reported_with_file_and_line_number() {
        let cases = [
            ("\nuser\n", 2, "missing username"),
            ("topic\n", 1, "missing topic"),
            ("topic sometimes a/b\n", 1, "invalid access \"sometimes\""),
            ("topic read a/#/b\n", 1, "invalid topic"),
            ("pattern read a+\n", 1, "invalid topic"),
            ("\n\ntopics read a\n", 3, "unknown keyword \"topics\""),
        ];
        for (text, line, needle) in cases {
            let message = Acl::parse(text, "aclfile").unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("aclfile:{line}: ")),
                "{text:?}: {message}"
            );
            assert!(message.contains(needle), "{text:?}: {message}");
        }
    }

    #[test]
    fn cover_and_overlap_relations() {
        assert!(filter_covers("a/#", "a"));
        assert!(filter_covers("a/#", "a/+/c"));
        assert!(filter_covers("+/b", "x/b"));
        assert!(!filter_covers("a/b", "a/+"));
        assert!(!filter_covers("#", "$SYS/x"));
        assert!(filter_covers("$SYS/#", "$SYS/x"));
        assert!(filters_overlap("a/+", "+/b"));
        assert!(filters_overlap("a/#", "a"));
        assert!(!filters_overlap("a/b", "a/c"));
        assert!(!filters_overlap("a/b", "a/b/c"));
        assert!(!filters_overlap("#", "$SYS/#"));
        assert!(filters_overlap("$SYS/+", "$SYS/#"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn topic() -> impl Strategy<Value = String> {
            (
                prop::sample::select(vec!["a", "b", "$SYS", "c"]),
                prop::collection::vec(prop::sample::select(vec!["a", "b", "c", ""]), 0..4),
            )
                .prop_map(|(first, rest)| {
                    std::iter::once(first)
                        .chain(rest)
                        .collect::<Vec<_>>()
                        .join("/")
                })
        }

        fn filter() -> impl Strategy<Value = String> {
            (
                prop::sample::select(vec!["a", "b", "+", "$SYS", "#"]),
                prop::collection::vec(prop::sample::select(vec!["a", "b", "+", ""]), 0..4),
                any::<bool>(),
            )
                .prop_map(|(first, rest, hash)| {
                    let mut levels: Vec<&str> = std::iter::once(first).chain(rest).collect();
                    if levels[0] == "#" {
                        levels.truncate(1);
                    } else if hash {
                        levels.push("#");
                    }
                    levels.join("/")
                })
        }

        proptest! {
            #[test]
            fn covering_filters_match_every_topic_of_the_covered(
                rule in filter(), inner in filter(), topic in topic()
            ) {
                if filter_covers(&rule, &inner) && matches(&inner, &topic) {
                    prop_assert!(matches(&rule, &topic));
                }
            }

            #[test]
            fn filters_matching_a_common_topic_overlap(
                a in filter(), b in filter(), topic in topic()
            ) {
                if matches(&a, &topic) && matches(&b, &topic) {
                    prop_assert!(filters_overlap(&a, &b));
                }
            }

            /// A subscription is refused only when nothing could be delivered through it.
            #[test]
            fn a_refused_subscription_would_deliver_nothing(
                user in prop::sample::select(vec![None, Some("alice"), Some("bob"), Some("carol")]),
                filter in filter(),
                topic in topic(),
            ) {
                let acl = acl();
                if matches(&filter, &topic) && acl.check("c1", user, &topic, Read) {
                    prop_assert!(acl.check("c1", user, &filter, Subscribe));
                }
            }

            #[test]
            fn arbitrary_input_never_panics(text in ".{0,200}", topic in ".{0,40}") {
                let _ = Acl::parse(&text, "fuzz");
                let acl = acl();
                for access in [Read, Write, Subscribe] {
                    let _ = acl.check(&topic, Some(&topic), &topic, access);
                }
            }
        }
    }
}
