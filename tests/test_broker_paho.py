"""The in-process broker driven by the real paho-mqtt client, in MQTT 3.1, 3.1.1 and 5.0."""

from __future__ import annotations

import queue
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ferromqtt.broker import Broker
from paho_peer import TIMEOUT, VERSION_IDS, VERSIONS, PahoPeer, sync_point

pytestmark = pytest.mark.interop


@pytest.fixture
def broker():
    with Broker(port=0, sys_interval=1) as b:
        yield b


@pytest.fixture(params=VERSIONS, ids=VERSION_IDS)
def version(request):
    return request.param


def peer(broker, version, client_id, **kwargs):
    return PahoPeer(broker.port, version, client_id, **kwargs)


def test_broker_reports_its_bound_port(broker):
    assert broker.port > 0
    assert broker.host == "127.0.0.1"


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_message_is_delivered_at_each_qos(broker, version, qos):
    sub = peer(broker, version, f"sub-{qos}")
    pub = peer(broker, version, f"pub-{qos}")
    assert sub.connect()[1] == 0
    assert pub.connect()[1] == 0
    granted = sub.subscribe("sensors/+/temp", qos)
    assert granted[0] == qos
    pub.publish("sensors/kitchen/temp", b"21.5", qos=qos)
    message = sub.receive()
    assert (message.topic, message.payload, message.qos) == ("sensors/kitchen/temp", b"21.5", qos)
    assert message.retain is False
    sub.disconnect()
    pub.disconnect()


def test_qos_is_downgraded_to_the_granted_qos(broker, version):
    sub, pub = peer(broker, version, "sub"), peer(broker, version, "pub")
    sub.connect(), pub.connect()
    sub.subscribe("a/b", 0)
    pub.publish("a/b", b"x", qos=2)
    assert sub.receive().qos == 0


def test_retained_message_is_delivered_on_subscribe_and_cleared_by_empty_payload(broker, version):
    pub = peer(broker, version, "pub")
    pub.connect()
    pub.publish("status/door", b"open", qos=1, retain=True)
    pub.publish("status/door", b"closed", qos=1, retain=True)
    first = peer(broker, version, "first")
    first.connect()
    first.subscribe("status/#", 1)
    message = first.receive()
    assert (message.payload, message.retain) == (b"closed", True)
    pub.publish("status/door", b"", qos=1, retain=True)
    live = first.receive()
    assert live.payload == b"" and live.retain is False
    second = peer(broker, version, "second")
    second.connect()
    second.subscribe("status/#", 1)
    second.assert_nothing_received()


def test_will_is_published_when_the_socket_dies(broker, version):
    watcher = peer(broker, version, "watcher")
    watcher.connect()
    watcher.subscribe("wills/#", 1)
    doomed = peer(
        broker,
        version,
        "doomed",
        will={"topic": "wills/doomed", "payload": b"gone", "qos": 1, "retain": False},
    )
    doomed.connect()
    doomed.kill()
    message = watcher.receive()
    assert (message.topic, message.payload) == ("wills/doomed", b"gone")


def test_will_is_not_published_after_a_normal_disconnect(broker, version):
    watcher = peer(broker, version, "watcher")
    watcher.connect()
    watcher.subscribe("wills/#", 1)
    polite = peer(broker, version, "polite", will={"topic": "wills/polite", "payload": b"x"})
    polite.connect()
    polite.disconnect()
    other = peer(broker, version, "other")
    other.connect()
    sync_point(watcher, other)
    watcher.assert_nothing_received()


def test_persistent_session_keeps_subscriptions_and_queues_messages(broker, version):
    kwargs = {"clean": False}
    if version == paho.MQTTv5:
        kwargs["session_expiry"] = 300
    sleeper = peer(broker, version, "sleeper", **kwargs)
    assert sleeper.connect()[0] is False
    sleeper.subscribe("inbox/#", 1)
    sleeper.disconnect()
    pub = peer(broker, version, "pub")
    pub.connect()
    for i in range(5):
        pub.publish(f"inbox/{i}", str(i).encode(), qos=1)
    back = peer(broker, version, "sleeper", **kwargs)
    session_present, rc, _ = back.connect()
    assert rc == 0 and session_present is True
    received = [back.receive().payload for _ in range(5)]
    assert received == [b"0", b"1", b"2", b"3", b"4"]


def test_clean_session_discards_subscriptions(broker, version):
    kwargs = {"clean": False}
    if version == paho.MQTTv5:
        kwargs["session_expiry"] = 300
    first = peer(broker, version, "forgetful", **kwargs)
    first.connect()
    first.subscribe("inbox/#", 1)
    first.disconnect()
    again = peer(broker, version, "forgetful", clean=True)
    session_present, _, _ = again.connect()
    assert session_present is False
    pub = peer(broker, version, "pub")
    pub.connect()
    pub.publish("inbox/x", b"1", qos=1)
    again.assert_nothing_received()


def test_second_connection_with_same_id_takes_the_session_over(broker, version):
    first = peer(broker, version, "twin")
    first.connect()
    second = peer(broker, version, "twin")
    second.connect()
    first.disconnects.get(timeout=TIMEOUT)
    second.subscribe("t", 0)
    pub = peer(broker, version, "pub")
    pub.connect()
    pub.publish("t", b"to the new one", qos=1)
    assert second.receive().payload == b"to the new one"


def test_unsubscribe_stops_delivery(broker, version):
    sub, pub = peer(broker, version, "sub"), peer(broker, version, "pub")
    sub.connect(), pub.connect()
    sub.subscribe("u/#", 1)
    done = queue.Queue()
    sub.client.on_unsubscribe = lambda *args: done.put(args)
    sub.client.unsubscribe("u/#")
    done.get(timeout=TIMEOUT)
    pub.publish("u/1", b"x", qos=1)
    sub.assert_nothing_received()


def test_shared_subscription_delivers_each_message_to_one_member(broker, version):
    members = [peer(broker, version, f"m{i}") for i in range(2)]
    for m in members:
        m.connect()
        m.subscribe("$share/workers/jobs/#", 1)
    pub = peer(broker, version, "pub")
    pub.connect()
    for i in range(10):
        pub.publish(f"jobs/{i}", str(i).encode(), qos=1)
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < 10 and time.monotonic() < deadline:
        for m in members:
            try:
                got.append((m, m.receive(timeout=0.05).payload))
            except queue.Empty:
                pass
    assert sorted(p for _, p in got) == sorted(str(i).encode() for i in range(10))
    assert {m for m, _ in got} == set(members), "round robin should use both members"


def test_sys_topics_report_the_broker(broker, version):
    watcher = peer(broker, version, "sys-watcher")
    watcher.connect()
    watcher.subscribe("$SYS/broker/version", 0)
    message = watcher.receive(timeout=TIMEOUT)
    assert b"ferromqtt" in message.payload


def test_plain_hash_does_not_match_sys_topics(broker, version):
    watcher = peer(broker, version, "hash-watcher")
    watcher.connect()
    watcher.subscribe("#", 0)
    pub = peer(broker, version, "pub")
    pub.connect()
    pub.publish("visible", b"1", qos=1)
    message = watcher.receive()
    assert message.topic == "visible"
    watcher.assert_nothing_received(within=1.5)


def test_client_connect_event_is_published_under_sys(broker, version):
    watcher = peer(broker, version, "event-watcher")
    watcher.connect()
    watcher.subscribe("$SYS/broker/clients/+/connected", 0)
    newcomer = peer(broker, version, "newcomer")
    newcomer.connect()
    message = watcher.receive()
    assert message.topic == "$SYS/broker/clients/newcomer/connected"
    assert b'"newcomer"' in message.payload


def test_delayed_publish_arrives_after_the_delay(broker, version):
    sub, pub = peer(broker, version, "sub"), peer(broker, version, "pub")
    sub.connect(), pub.connect()
    sub.subscribe("later/#", 1)
    sent = time.monotonic()
    pub.publish("$delayed/1/later/x", b"late", qos=1)
    message = sub.receive(timeout=TIMEOUT)
    assert (message.topic, message.payload) == ("later/x", b"late")
    assert time.monotonic() - sent >= 0.9


def test_stats_count_clients_and_messages(broker, version):
    sub, pub = peer(broker, version, "sub"), peer(broker, version, "pub")
    sub.connect(), pub.connect()
    sub.subscribe("s", 1)
    pub.publish("s", b"x", qos=1)
    sub.receive()
    stats = broker.stats()
    assert stats["clients_connected"] >= 2
    assert stats["messages_received"] >= 1
    assert stats["messages_sent"] >= 1


# --- MQTT 5 only ----------------------------------------------------------------------


def v5(broker, client_id, **kwargs):
    return PahoPeer(broker.port, paho.MQTTv5, client_id, **kwargs)


def test_v5_properties_are_forwarded_unchanged(broker):
    sub, pub = v5(broker, "sub"), v5(broker, "pub")
    sub.connect(), pub.connect()
    sub.subscribe("rpc/request", 1)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "rpc/response"
    props.CorrelationData = b"\x01\x02"
    props.ContentType = "application/json"
    props.PayloadFormatIndicator = 1
    props.UserProperty = ("trace", "abc")
    props.UserProperty = ("trace", "def")
    pub.publish("rpc/request", b"{}", qos=1, properties=props)
    got = sub.receive().properties
    assert got.ResponseTopic == "rpc/response"
    assert got.CorrelationData == b"\x01\x02"
    assert got.ContentType == "application/json"
    assert got.PayloadFormatIndicator == 1
    assert got.UserProperty == [("trace", "abc"), ("trace", "def")]


def test_v5_subscription_identifier_is_sent_with_matching_messages(broker):
    sub, pub = v5(broker, "sub"), v5(broker, "pub")
    sub.connect(), pub.connect()
    props = Properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = 42
    sub.subscribe("ids/#", 1, properties=props)
    pub.publish("ids/x", b"1", qos=1)
    assert sub.receive().properties.SubscriptionIdentifier == [42]


def test_v5_no_local_suppresses_own_messages(broker):
    me = v5(broker, "me")
    me.connect()
    me.subscribe("echo", options=SubscribeOptions(qos=1, noLocal=True))
    other = v5(broker, "other")
    other.connect()
    me.publish("echo", b"mine", qos=1)
    other.publish("echo", b"theirs", qos=1)
    assert me.receive().payload == b"theirs"
    me.assert_nothing_received()


def test_v5_retain_handling_2_sends_no_retained(broker):
    pub = v5(broker, "pub")
    pub.connect()
    pub.publish("r/1", b"kept", qos=1, retain=True)
    sub = v5(broker, "sub")
    sub.connect()
    sub.subscribe("r/#", options=SubscribeOptions(qos=1, retainHandling=2))
    sub.assert_nothing_received()


def test_v5_retain_as_published_keeps_the_flag_on_live_messages(broker):
    sub, pub = v5(broker, "sub"), v5(broker, "pub")
    sub.connect(), pub.connect()
    sub.subscribe("rap/#", options=SubscribeOptions(qos=1, retainAsPublished=True))
    pub.publish("rap/x", b"1", qos=1, retain=True)
    assert sub.receive().retain is True


def test_v5_message_expiry_drops_stale_queued_messages(broker):
    sleeper = v5(broker, "sleeper", clean=False, session_expiry=300)
    sleeper.connect()
    sleeper.subscribe("exp/#", 1)
    sleeper.disconnect()
    pub = v5(broker, "pub")
    pub.connect()
    short = Properties(PacketTypes.PUBLISH)
    short.MessageExpiryInterval = 1
    long = Properties(PacketTypes.PUBLISH)
    long.MessageExpiryInterval = 100
    pub.publish("exp/short", b"stale", qos=1, properties=short)
    pub.publish("exp/long", b"fresh", qos=1, properties=long)
    # The expiry is a property of time itself: wait it out before reconnecting.
    time.sleep(2.1)
    back = v5(broker, "sleeper", clean=False, session_expiry=300)
    back.connect()
    message = back.receive()
    assert message.payload == b"fresh"
    assert 0 < message.properties.MessageExpiryInterval < 100
    back.assert_nothing_received()


def test_v5_topic_alias_from_the_client_is_resolved(broker):
    sub = v5(broker, "sub")
    sub.connect()
    sub.subscribe("alias/#", 1)
    pub = v5(broker, "pub")
    _, _, connack_props = pub.connect()
    assert connack_props.TopicAliasMaximum >= 1
    first = Properties(PacketTypes.PUBLISH)
    first.TopicAlias = 1
    pub.publish("alias/long/topic/name", b"1", qos=1, properties=first)
    again = Properties(PacketTypes.PUBLISH)
    again.TopicAlias = 1
    pub.publish("", b"2", qos=1, properties=again)
    assert [sub.receive().topic for _ in range(2)] == ["alias/long/topic/name"] * 2


def test_v5_assigned_client_identifier_for_empty_id(broker):
    anonymous = v5(broker, "")
    _, rc, props = anonymous.connect()
    assert rc == 0
    assert props.AssignedClientIdentifier


def test_v5_clients_get_server_shutting_down_on_stop():
    b = Broker(port=0).start()
    client = PahoPeer(b.port, paho.MQTTv5, "stopper")
    client.connect()
    b.stop()
    reason = client.disconnects.get(timeout=TIMEOUT)
    assert reason == 0x8B
