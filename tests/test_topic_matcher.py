"""Topic matching agrees with paho-mqtt 2.2's ``topic_matches_sub`` and ``MQTTMatcher``.

paho does not validate filters, so the table also holds invalid filters (``a/#/b``, ``a#``):
a drop-in replacement must answer as paho does for those too.
"""

import paho.mqtt.client as paho_client
import paho.mqtt.matcher as paho_matcher
import pytest

import ferromqtt._core as core
import ferromqtt.matcher as ferro_matcher

# (filter, topic)
CASES = [
    # exact names
    ("a/b/c", "a/b/c"),
    ("a/b/c", "a/b"),
    ("a/b", "a/b/c"),
    ("a/b/c", "a/b/d"),
    ("A/b", "a/b"),
    ("a", "a"),
    ("", ""),
    ("", "a"),
    ("a", ""),
    # single-level wildcard
    ("+", "a"),
    ("+", ""),
    ("+", "a/b"),
    ("+/b", "a/b"),
    ("+/b", "/b"),
    ("a/+", "a/b"),
    ("a/+", "a/"),
    ("a/+", "a"),
    ("a/+", "a/b/c"),
    ("a/+/c", "a/b/c"),
    ("a/+/c", "a//c"),
    ("a/+/c", "a/b/d"),
    ("+/+", "a/b"),
    ("+/+", "/"),
    ("+/+", "a"),
    ("+/+/+", "a/b"),
    ("/+", "/a"),
    ("/+", "a"),
    ("+/", "a/"),
    ("+/", "a"),
    ("+", "+"),
    # multi-level wildcard
    ("#", "a"),
    ("#", "a/b/c"),
    ("#", ""),
    ("#", "/"),
    ("#", "/a"),
    ("a/#", "a"),
    ("a/#", "a/"),
    ("a/#", "a/b"),
    ("a/#", "a/b/c"),
    ("a/#", "ab"),
    ("a/#", "b/a"),
    ("a/b/#", "a"),
    ("a/b/#", "a/b"),
    ("/#", "/a/b"),
    ("/#", "a"),
    ("/#", ""),
    ("+/#", "a"),
    ("+/#", "a/b/c"),
    ("+/#", ""),
    ("+/+/#", "a"),
    ("a/+/#", "a/b"),
    ("a/+/#", "a"),
    # empty levels, leading and trailing slashes
    ("/", "/"),
    ("/", ""),
    ("a//b", "a//b"),
    ("a//b", "a/b"),
    ("a/+/b", "a//b"),
    ("//", "//"),
    ("/a", "/a"),
    ("/a", "a"),
    ("a/", "a/"),
    ("a/", "a"),
    ("/a/b/", "/a/b/"),
    ("+/+/+", "//"),
    # $ topics [MQTT-4.7.2-1]
    ("#", "$SYS"),
    ("#", "$SYS/broker/load"),
    ("+", "$SYS"),
    ("+/broker/#", "$SYS/broker/load"),
    ("+/#", "$SYS/x"),
    ("$SYS/#", "$SYS/broker/load"),
    ("$SYS/#", "$SYS"),
    ("$SYS/+", "$SYS/uptime"),
    ("$SYS/+/load", "$SYS/broker/load"),
    ("$share/g/a", "$share/g/a"),
    ("a/$b", "a/$b"),
    ("a/+", "a/$b"),
    ("a/#", "a/$b/c"),
    ("$", "$"),
    ("+", "$"),
    ("#", "a$"),
    # invalid filters paho still answers for
    ("a/#/b", "a/x/b"),
    ("a/#/b", "a/#/b"),
    ("a#", "a#"),
    ("a#", "ab"),
    ("a+", "ab"),
    ("a+", "a+"),
    ("a/b#", "a/b"),
    ("#/a", "x/a"),
    ("#/#", "a/b"),
    ("++", "a"),
    # non-ASCII
    ("é/+", "é/ü"),
    ("é/#", "e/x"),
]


def paho_topic_matches_sub(sub, topic):
    return paho_client.topic_matches_sub(sub, topic)


def ferro_topic_matches_sub():
    """ferromqtt.client's topic_matches_sub once it exists, else the extension's."""
    try:
        import ferromqtt.client as client
    except ImportError:
        return core.topic_matches_sub
    return client.topic_matches_sub


def _case_params():
    for case in CASES:
        yield pytest.param(*case, id=f"{case[0]!r}-{case[1]!r}")


PLAIN_CASES = [pytest.param(*case, id=f"{case[0]!r}-{case[1]!r}") for case in CASES]


def test_the_table_is_large_and_covers_both_answers():
    assert len(CASES) >= 60
    answers = [paho_topic_matches_sub(sub, topic) for sub, topic in CASES]
    assert answers.count(True) >= 20 and answers.count(False) >= 20
    assert len(set(CASES)) == len(CASES), "duplicate cases"


@pytest.mark.parametrize(("sub", "topic"), list(_case_params()))
def test_topic_matches_sub_agrees_with_paho(sub, topic):
    expected = paho_topic_matches_sub(sub, topic)
    assert ferro_topic_matches_sub()(sub, topic) is expected


@pytest.mark.parametrize(("sub", "topic"), PLAIN_CASES)
def test_matcher_with_one_filter_agrees_with_paho(sub, topic):
    results = []
    for module in (paho_matcher, ferro_matcher):
        matcher = module.MQTTMatcher()
        matcher[sub] = sub
        results.append(list(matcher.iter_match(topic)))
    assert results[1] == results[0]


def test_matcher_with_every_filter_yields_the_same_values_in_the_same_order_as_paho():
    filters = sorted({sub for sub, _ in CASES})
    topics = sorted({topic for _, topic in CASES} | set(filters))
    matchers = []
    for module in (paho_matcher, ferro_matcher):
        matcher = module.MQTTMatcher()
        for index, sub in enumerate(filters):
            matcher[sub] = (index, sub)
        matchers.append(matcher)
    matched_somewhere = 0
    for topic in topics:
        expected = list(matchers[0].iter_match(topic))
        assert list(matchers[1].iter_match(topic)) == expected, topic
        matched_somewhere += bool(expected)
    assert matched_somewhere > len(topics) // 2


def test_matcher_iter_match_is_lazy_and_splits_eagerly():
    matcher = ferro_matcher.MQTTMatcher()
    matcher["a/#"] = 1
    matcher["a/b"] = 2
    iterator = matcher.iter_match("a/b")
    assert iter(iterator) is iterator
    assert next(iterator) == 2
    assert list(iterator) == [1]
    with pytest.raises(AttributeError):
        matcher.iter_match(None)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        paho_matcher.MQTTMatcher().iter_match(None)
