//! Topic names (where a PUBLISH goes) and topic filters (what a SUBSCRIBE asks for),
//! their validation ([MQTT 5.0 §4.7], [MQTT 3.1.1 §4.7]) and the matcher both sides use.
//!
//! Both wrap a `ByteString`: a UTF-8 view of `Bytes`, so a topic decoded from the read
//! buffer is shared with every subscriber by reference count, never copied.

use bytestring::ByteString;
use std::fmt;

/// Longest topic in bytes: a UTF-8 string on the wire has a 16-bit length.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a topic name or filter is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic must not be empty")]
    Empty,
    #[error("topic is longer than 65535 bytes")]
    TooLong,
    #[error("topic must not contain U+0000")]
    NullCharacter,
    #[error("wildcards '+' and '#' are not allowed in a topic name")]
    WildcardInName,
    #[error("'#' must be the last character of a topic filter and occupy a whole level")]
    MisplacedMultiLevelWildcard,
    #[error("'+' must occupy a whole level of a topic filter")]
    MisplacedSingleLevelWildcard,
    #[error("shared subscription must be $share/{{group}}/{{filter}} with a non-empty group free of '+', '#' and '/'")]
    InvalidSharedSubscription,
}

fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if s.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// A topic a message is published to: non-empty, no wildcards.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(ByteString);

impl TopicName {
    /// Validates `s` as a topic name ([MQTT-3.3.2-2], [MQTT-4.7.3-1]).
    pub fn new(s: impl Into<ByteString>) -> Result<Self, TopicError> {
        let s = s.into();
        check_common(&s)?;
        if s.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(TopicName(s))
    }

    /// For the codec, which has checked `s` in its single pass over the PUBLISH topic
    /// (non-empty, no U+0000, no wildcards; the 16-bit length prefix bounds the size).
    pub(crate) fn from_checked(s: ByteString) -> Self {
        debug_assert!(TopicName::new(s.clone()).is_ok());
        TopicName(s)
    }

    /// The empty topic of an MQTT 5 PUBLISH that names its topic by a Topic Alias only.
    pub fn empty() -> Self {
        TopicName(ByteString::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_inner(self) -> ByteString {
        self.0
    }

    /// True for topics beginning with `$` (e.g. `$SYS/...`), which filters starting with a
    /// wildcard do not match ([MQTT-4.7.2-1]).
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }
}

/// A subscription's topic filter: may hold `+` and `#` in well-formed places, and may be a
/// shared subscription `$share/{group}/{filter}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(ByteString);

impl TopicFilter {
    /// Validates `s` as a topic filter ([MQTT-4.7.1-1..3], [MQTT-4.8.2-1,2]).
    pub fn new(s: impl Into<ByteString>) -> Result<Self, TopicError> {
        let s = s.into();
        check_common(&s)?;
        validate_filter_levels(&s)?;
        if let Some(rest) = s.strip_prefix("$share/") {
            match rest.split_once('/') {
                Some((group, filter))
                    if !group.is_empty() && !group.contains(['+', '#']) && !filter.is_empty() => {}
                _ => return Err(TopicError::InvalidSharedSubscription),
            }
        } else if s == "$share" {
            return Err(TopicError::InvalidSharedSubscription);
        }
        Ok(TopicFilter(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> ByteString {
        self.0
    }

    /// `Some((group, filter))` for `$share/{group}/{filter}`.
    pub fn shared(&self) -> Option<(&str, &str)> {
        self.0.strip_prefix("$share/")?.split_once('/')
    }

    /// The filter that topics are matched against (without a `$share/{group}/` prefix).
    pub fn match_filter(&self) -> &str {
        self.shared().map_or(self.as_str(), |(_, filter)| filter)
    }

    pub fn has_wildcards(&self) -> bool {
        self.match_filter().contains(['+', '#'])
    }

    /// Whether `topic` matches this filter (for a shared filter, its inner filter).
    pub fn matches(&self, topic: &str) -> bool {
        matches(self.match_filter(), topic)
    }
}

fn validate_filter_levels(s: &str) -> Result<(), TopicError> {
    let mut levels = s.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// Whether `topic` matches `filter`: `+` matches exactly one level, `#` the remaining levels
/// including the parent (`a/#` matches `a`), and a filter starting with a wildcard does not
/// match a topic starting with `$` ([MQTT-4.7.2-1]). Does not validate either argument, as
/// paho's `topic_matches_sub`.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            // '#' matches the rest only where it ends the filter. Elsewhere (an invalid
            // filter) it is compared as text, as paho's matcher does.
            (Some("#"), topic_level) => {
                if filter_levels.clone().next().is_none() {
                    return true;
                }
                if topic_level != Some("#") {
                    return false;
                }
            }
            (Some(f), Some(t)) => {
                if f != "+" && f != t {
                    return false;
                }
            }
            (None, None) => return true,
            (Some(_), None) | (None, Some(_)) => return false,
        }
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicName({:?})", &*self.0)
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicFilter({:?})", &*self.0)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        TopicName::new(s)
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, TopicError> {
        TopicFilter::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_the_specification_says() {
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches("sport/#", "sport"));
        assert!(matches("#", "a/b/c"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(!matches("#", "$SYS/uptime"));
        assert!(!matches("+/monitor", "$SYS/monitor"));
        assert!(matches("$SYS/#", "$SYS/monitor"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/#/b", "a/x/b"));
        assert!(!matches("#/#", "a/b"));
    }

    #[test]
    fn filters_reject_misplaced_wildcards() {
        for bad in [
            "a/#/b",
            "a#",
            "a/b#",
            "a+",
            "a/+b",
            "",
            "$share/g",
            "$share//a",
            "$share/g+/a",
        ] {
            assert!(TopicFilter::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "#",
            "+",
            "a/+/b",
            "a/#",
            "+/+",
            "/",
            "$share/g/a/#",
            "$SYS/#",
        ] {
            assert!(TopicFilter::new(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn names_reject_wildcards_nul_and_empty() {
        for bad in ["", "a/+", "#", "a\0b"] {
            assert!(TopicName::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(TopicName::new("a/b").is_ok());
    }

    #[test]
    fn shared_filter_exposes_group_and_inner_filter() {
        let f = TopicFilter::new("$share/g1/sensors/+/t").unwrap();
        assert_eq!(f.shared(), Some(("g1", "sensors/+/t")));
        assert!(f.matches("sensors/a/t"));
    }
}
