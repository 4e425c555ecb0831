"""Broker hooks from Python (authenticate, authorize, on_message, connect/disconnect
notices), alone and after a password file and an ACL file, driven by the real paho-mqtt
client in MQTT 3.1, 3.1.1 and 5.0."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any, Optional

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ferromqtt import _core
from ferromqtt.broker import Broker, BrokerMessage
from ferromqtt.reasoncodes import ReasonCode
from paho_peer import TIMEOUT, VERSION_IDS, VERSIONS, PahoPeer

pytestmark = pytest.mark.interop

QUIET = {"sys_interval": 0, "login_failure_delay_ms": 0}


class Peer(PahoPeer):
    """A PahoPeer that also records the reason code of every PUBACK/PUBREC it gets."""

    def __init__(self, broker: Broker, version: int, client_id: str, **kwargs: Any) -> None:
        super().__init__(broker.port, version, client_id, **kwargs)
        self.acks: queue.Queue[Any] = queue.Queue()
        self.client.on_publish = lambda c, u, mid, rc, props: self.acks.put(rc)

    def publish_acked(self, topic: str, payload: bytes, qos: int = 1, **kwargs: Any) -> int:
        """Publish at QoS 1/2 and return the acknowledgement's reason code (3.x: 0)."""
        self.publish(topic, payload, qos, **kwargs)
        return int(self.acks.get(timeout=TIMEOUT).value)


def connect(broker: Broker, version: int, client_id: str, **kwargs: Any) -> Peer:
    peer = Peer(broker, version, client_id, **kwargs)
    assert peer.connect()[1] == 0
    return peer


def connack(broker: Broker, version: int, client_id: str, user: str, password: str) -> int:
    peer = Peer(broker, version, client_id)
    peer.client.username_pw_set(user, password)
    _, reason, _ = peer.connect()
    peer.disconnect()
    return int(reason.value)


@pytest.fixture(params=VERSIONS, ids=VERSION_IDS)
def version(request: pytest.FixtureRequest) -> int:
    return request.param  # type: ignore[no-any-return]


def suback_refused(version: int) -> int:
    return 0x87 if version == paho.MQTTv5 else 0x80


# -- authenticate -------------------------------------------------------------------------


def test_authenticate_allows_and_refuses_with_the_reason_given(version: int) -> None:
    calls: list[tuple[Any, ...]] = []

    def authenticate(client_id: str, username: Optional[str], password: Optional[bytes]) -> Any:
        calls.append((client_id, username, password))
        return {
            "alice": True,
            "bob": False,
            "carol": "Bad user name or password",
            "dave": 0x8A,  # banned: 3.x clients get 5, not authorized
            "erin": 4,  # a 3.x return code: bad user name or password
            "frank": ReasonCode(PacketTypes.CONNACK, "Server unavailable"),
        }[username or ""]

    with Broker(port=0, authenticate=authenticate, **QUIET) as broker:
        assert connack(broker, version, "c-alice", "alice", "pw") == 0
        assert calls == [("c-alice", "alice", b"pw")]
        v5 = version == paho.MQTTv5
        assert connack(broker, version, "c-bob", "bob", "pw") == 0x87
        assert connack(broker, version, "c-carol", "carol", "pw") == 0x86
        assert connack(broker, version, "c-dave", "dave", "pw") == (0x8A if v5 else 0x87)
        assert connack(broker, version, "c-erin", "erin", "pw") == 0x86
        # 0x88 server unavailable is 3 in MQTT 3.x, which paho reports as 0x88 as well.
        assert connack(broker, version, "c-frank", "frank", "pw") == 0x88
        assert broker.clients() == {}


def test_authenticate_sees_an_assigned_client_id_and_no_password() -> None:
    calls: list[tuple[Any, ...]] = []
    broker = Broker(port=0, **QUIET)
    broker.authenticate = lambda *args: calls.append(args) or True
    with broker:
        peer = connect(broker, paho.MQTTv5, "")
        [(client_id, username, password)] = calls
        assert client_id in broker.clients() and client_id.startswith("auto-")
        assert (username, password) == (None, None)
        peer.disconnect()


# -- authorize ----------------------------------------------------------------------------


def test_authorize_refuses_publishes_and_subscriptions(version: int) -> None:
    asked: list[tuple[str, str, str]] = []

    def authorize(client_id: str, username: Optional[str], action: str, topic: str) -> bool:
        asked.append((client_id, action, topic))
        return not topic.startswith(("secret/", "private/"))

    with Broker(port=0, authorize=authorize, **QUIET) as broker:
        subscriber = connect(broker, version, "sub")
        publisher = connect(broker, version, "pub")
        assert subscriber.subscribe("private/#", 1)[0] == suback_refused(version)
        assert subscriber.subscribe("#", 1)[0] == 1
        refused = publisher.publish_acked("secret/x", b"no")
        assert refused == (0x87 if version == paho.MQTTv5 else 0)
        assert publisher.publish_acked("open/x", b"yes") == 0
        message = subscriber.receive()
        assert (message.topic, message.payload) == ("open/x", b"yes")
        subscriber.assert_nothing_received()
        assert ("sub", "subscribe", "private/#") in asked
        assert ("pub", "publish", "secret/x") in asked
        assert not any(action == "receive" for _, action, _ in asked)
        subscriber.disconnect()
        publisher.disconnect()


def test_authorize_is_asked_about_will_topics() -> None:
    def authorize(client_id: str, username: Optional[str], action: str, topic: str) -> bool:
        return topic != "wills/forbidden"

    with Broker(port=0, authorize=authorize, **QUIET) as broker:
        for topic, expected in (("wills/forbidden", 0x87), ("wills/fine", 0)):
            peer = Peer(broker, paho.MQTTv5, f"will-{expected}")
            peer.client.will_set(topic, b"gone")
            assert int(peer.connect()[1].value) == expected
            peer.disconnect()


# -- on_message ---------------------------------------------------------------------------


def test_on_message_changes_topic_payload_qos_retain_and_properties(version: int) -> None:
    seen: list[tuple[Any, ...]] = []

    def on_message(message: BrokerMessage) -> BrokerMessage:
        seen.append((message.client_id, message.topic, message.qos, message.retain))
        message.topic = "rewritten/" + message.topic
        message.payload = message.payload.upper()
        message.qos = 0
        message.retain = True
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [("hooked", "yes")]
        message.properties = properties
        return message

    with Broker(port=0, on_message=on_message, **QUIET) as broker:
        subscriber = connect(broker, paho.MQTTv5, "sub")
        assert subscriber.subscribe("rewritten/#", 2)[0] == 2
        publisher = connect(broker, version, "pub")
        assert publisher.publish_acked("in/temp", b"hot", qos=2) == 0
        message = subscriber.receive()
        assert (message.topic, message.payload, message.qos) == ("rewritten/in/temp", b"HOT", 0)
        assert message.properties.UserProperty == [("hooked", "yes")]
        assert broker.retained() == {"rewritten/in/temp": b"HOT"}
        assert seen == [("pub", "in/temp", 2, False)]
        subscriber.disconnect()
        publisher.disconnect()


def test_on_message_sees_publisher_properties_and_drops_on_none(version: int) -> None:
    def on_message(message: BrokerMessage) -> Optional[BrokerMessage]:
        if message.topic.startswith("drop/"):
            return None
        return BrokerMessage("out/" + message.topic, b"replaced", 1, properties=message.properties)

    with Broker(port=0, on_message=on_message, **QUIET) as broker:
        subscriber = connect(broker, version, "sub")
        assert subscriber.subscribe("#", 1)[0] == 1
        publisher = connect(broker, version, "pub")
        properties = None
        if version == paho.MQTTv5:
            properties = Properties(PacketTypes.PUBLISH)
            properties.ContentType = "text/plain"
        assert publisher.publish_acked("drop/x", b"gone", properties=properties) == 0
        assert publisher.publish_acked("keep", b"x", properties=properties) == 0
        message = subscriber.receive()
        assert (message.topic, message.payload) == ("out/keep", b"replaced")
        if version == paho.MQTTv5:
            assert message.properties.ContentType == "text/plain"
        subscriber.assert_nothing_received()
        subscriber.disconnect()
        publisher.disconnect()


# -- notices ------------------------------------------------------------------------------


def test_connected_and_disconnected_notices(version: int) -> None:
    notices: queue.Queue[tuple[Any, ...]] = queue.Queue()
    with Broker(
        port=0,
        on_client_connected=lambda *args: notices.put(("connected", *args)),
        on_client_disconnected=lambda *args: notices.put(("disconnected", *args)),
        **QUIET,
    ) as broker:
        peer = Peer(broker, version, "noticed")
        peer.client.username_pw_set("user")
        assert peer.connect()[1] == 0
        kind, client_id, username, address = notices.get(timeout=TIMEOUT)
        assert (kind, client_id, username) == ("connected", "noticed", "user")
        assert address == ("127.0.0.1", peer.client.socket().getsockname()[1])
        peer.disconnect()
        assert notices.get(timeout=TIMEOUT) == (
            "disconnected",
            "noticed",
            "user",
            address,
            "disconnected",
        )
        lost = connect(broker, version, "lost")
        assert notices.get(timeout=TIMEOUT)[:2] == ("connected", "lost")
        lost.kill()
        assert notices.get(timeout=TIMEOUT)[::4] == ("disconnected", "connection lost")
        stays = connect(broker, version, "stays")
        assert notices.get(timeout=TIMEOUT)[:2] == ("connected", "stays")
    # stop() returns after the last notices ran.
    assert notices.get_nowait()[::4] == ("disconnected", "server shutting down")
    stays.client.loop_stop()


# -- composition with the files -----------------------------------------------------------


ACL = """\
user alice
topic readwrite room/#
topic readwrite sync/#
"""


def test_files_decide_first_and_hooks_only_refuse_further(tmp_path: Any, version: int) -> None:
    password_file = tmp_path / "passwords"
    _core.passwd_update(password_file, "alice", "apple", create=True)
    _core.passwd_update(password_file, "eve", "evil")
    acl_file = tmp_path / "acl"
    acl_file.write_text(ACL + "user eve\ntopic readwrite room/#\n")
    authenticated: list[Optional[str]] = []
    authorized: list[tuple[str, str]] = []

    def authenticate(client_id: str, username: Optional[str], password: Optional[bytes]) -> bool:
        authenticated.append(username)
        return username != "eve"

    def authorize(client_id: str, username: Optional[str], action: str, topic: str) -> bool:
        authorized.append((action, topic))
        return topic != "room/hooked"

    with Broker(
        port=0,
        allow_anonymous=False,
        password_file=password_file,
        acl_file=acl_file,
        authenticate=authenticate,
        authorize=authorize,
        **QUIET,
    ) as broker:
        # The file refuses a wrong password: the hook is not asked.
        assert connack(broker, version, "alice-wrong", "alice", "pear") == 0x87
        assert authenticated == []
        # The file allows eve, the hook refuses her.
        assert connack(broker, version, "eve", "eve", "evil") == 0x87
        assert authenticated == ["eve"]
        alice = Peer(broker, version, "alice")
        alice.client.username_pw_set("alice", "apple")
        assert alice.connect()[1] == 0
        # The ACL file refuses: the hook is not asked.
        assert alice.subscribe("elsewhere/#", 1)[0] == suback_refused(version)
        assert ("subscribe", "elsewhere/#") not in authorized
        # The ACL file allows, the hook refuses.
        assert alice.subscribe("room/hooked", 1)[0] == suback_refused(version)
        assert alice.subscribe("room/#", 1)[0] == 1
        assert authorized == [("subscribe", "room/hooked"), ("subscribe", "room/#")]
        v5 = version == paho.MQTTv5
        assert alice.publish_acked("elsewhere/x", b"acl") == (0x87 if v5 else 0)
        assert alice.publish_acked("room/hooked", b"hook") == (0x87 if v5 else 0)
        assert alice.publish_acked("room/open", b"both") == 0
        assert alice.receive().topic == "room/open"
        alice.assert_nothing_received()
        assert ("publish", "elsewhere/x") not in authorized
        alice.disconnect()


# -- failing hooks and bad input ----------------------------------------------------------


def failures(caplog: pytest.LogCaptureFixture, hook: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "ferromqtt" and f"hook {hook} failed" in r.getMessage() and r.exc_info
    ]


@pytest.mark.parametrize("how", ["raises", "wrong type"])
def test_failing_hooks_are_logged_with_traceback_and_refuse(
    version: int, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(wrong: Any) -> Any:
        if how == "raises":
            raise RuntimeError("hook bug")
        return wrong

    def on_message(message: BrokerMessage) -> Any:
        return message if message.topic == "fine" else fail("not a message")

    with Broker(
        port=0,
        authenticate=lambda c, u, p: True if u is None else fail(None),
        authorize=lambda c, u, action, topic: True if topic != "bad" else fail(1),
        on_message=on_message,
        **QUIET,
    ) as broker:
        with caplog.at_level(logging.ERROR, logger="ferromqtt"):
            assert connack(broker, version, "failing", "user", "pw") == 0x87
            assert failures(caplog, "authenticate")
            peer = connect(broker, version, "peer")
            assert peer.subscribe("bad", 1)[0] == suback_refused(version)
            assert failures(caplog, "authorize")
            assert peer.subscribe("#", 1)[0] == 1
            v5 = version == paho.MQTTv5
            assert peer.publish_acked("other", b"x") == (0x80 if v5 else 0)
            assert failures(caplog, "on_message")
            assert peer.publish_acked("fine", b"y") == 0
            assert peer.receive().topic == "fine"
            peer.assert_nothing_received()
            peer.disconnect()


@pytest.mark.parametrize("hook", ["authenticate", "authorize", "on_message"])
def test_a_hook_that_is_not_a_plain_callable_is_a_type_error_naming_it(hook: str) -> None:
    with pytest.raises(TypeError, match=hook):
        Broker(port=0, **{hook: 42})

    async def coroutine(*args: Any) -> bool:
        return True

    broker = Broker(port=0)
    with pytest.raises(TypeError, match=hook):
        setattr(broker, hook, coroutine)
    with pytest.raises(TypeError, match="on_client_connected"):
        broker.on_client_connected = "print"  # type: ignore[assignment]
    assert getattr(broker, hook) is None


# -- slow hooks ---------------------------------------------------------------------------


def test_a_blocked_hook_holds_up_only_its_own_client() -> None:
    entered, release = threading.Event(), threading.Event()

    def authorize(client_id: str, username: Optional[str], action: str, topic: str) -> bool:
        if client_id == "slow" and action == "publish":
            entered.set()
            release.wait(TIMEOUT * 4)
        return True

    with Broker(port=0, authorize=authorize, **QUIET) as broker:
        subscriber = connect(broker, paho.MQTTv5, "sub")
        assert subscriber.subscribe("#", 1)[0] == 1
        slow = connect(broker, paho.MQTTv311, "slow")
        fast = connect(broker, paho.MQTTv5, "fast")
        slow.client.publish("from/slow", b"late", qos=1)
        assert entered.wait(TIMEOUT)
        for n in range(20):
            fast.client.publish("from/fast", str(n).encode(), qos=1)
        received = [subscriber.receive().payload for _ in range(20)]
        assert received == [str(n).encode() for n in range(20)]
        # Calls into the broker from a thread holding the GIL do not wait for the hook.
        assert set(broker.clients()) == {"sub", "slow", "fast"}
        assert broker.stats()["messages_received"] >= 21
        assert not release.is_set()
        release.set()
        assert subscriber.receive().payload == b"late"
        for peer in (subscriber, slow, fast):
            peer.disconnect()


def test_stop_returns_while_a_hook_is_blocked() -> None:
    entered, release = threading.Event(), threading.Event()

    def authenticate(client_id: str, username: Optional[str], password: Optional[bytes]) -> bool:
        entered.set()
        return release.wait(TIMEOUT * 4)

    broker = Broker(port=0, authenticate=authenticate, **QUIET).start()
    peer = Peer(broker, paho.MQTTv5, "waiting")
    peer.client.connect(broker.host, broker.port)
    peer.client.loop_start()
    try:
        assert entered.wait(TIMEOUT)
        broker.stop()
        assert not broker.is_running
        assert peer.connacks.empty()
    finally:
        release.set()
        peer.client.loop_stop()


def test_hooks_may_call_into_the_broker_and_be_changed_while_running() -> None:
    answers: queue.Queue[Any] = queue.Queue()
    broker = Broker(port=0, **QUIET)

    def on_connected(client_id: str, username: Optional[str], address: Any) -> None:
        answers.put(sorted(broker.clients()))

    with broker:
        broker.on_client_connected = on_connected
        first = connect(broker, paho.MQTTv5, "first")
        assert answers.get(timeout=TIMEOUT) == ["first"]
        broker.on_message = lambda message: None
        assert first.subscribe("t", 1)[0] == 1
        first.publish_acked("t", b"dropped")
        first.assert_nothing_received()
        broker.on_message = None
        first.publish_acked("t", b"kept")
        assert first.receive().payload == b"kept"
        # A hook may even stop the broker it runs in.
        broker.on_message = lambda message: broker.stop()
        first.client.publish("t", b"last", qos=0)
        assert first.disconnects.get(timeout=TIMEOUT) is not None
        assert not broker.is_running
        first.client.loop_stop()


def test_asyncio_broker_takes_the_same_hooks() -> None:
    from ferromqtt.aio import Client

    async def main() -> list[bytes]:
        async with Broker(port=0, on_message=upper, **QUIET) as broker:
            async with Client(broker.host, broker.port) as client:
                await client.subscribe("a", qos=1)
                await client.publish("a", b"quiet", qos=1)
                async for message in client.messages:
                    return [message.payload]
        return []

    def upper(message: BrokerMessage) -> BrokerMessage:
        message.payload = message.payload.upper()
        return message

    assert asyncio.run(asyncio.wait_for(main(), TIMEOUT)) == [b"QUIET"]


def shout(message: BrokerMessage) -> BrokerMessage:
    message.payload = message.payload.upper()
    return message


@pytest.mark.mqtt_broker(on_message=shout)
def test_the_pytest_fixture_takes_hooks(mqtt_client: Any, capmqtt: Any) -> None:
    client = mqtt_client()
    client.publish("fixture/hooked", "quiet", qos=1).wait_for_publish(TIMEOUT)
    [message] = capmqtt.wait_for("fixture/#")
    assert message.payload == b"QUIET"
