"""ferromqtt.aio against a real Mosquitto: MQTT 3.1, 3.1.1 and 5.0, every QoS, message
iteration, will, credentials, connection loss, cancellation, backpressure, uvloop and an
already running loop. Each scenario runs in its own event loop, bounded in time; waits are
on events (acknowledgements, messages), never on sleeps."""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import subprocess
import threading
import uuid
from typing import Any

import pytest

import client_support
from ferromqtt.aio import (
    Client,
    Message,
    MqttCodeError,
    MqttConnectError,
    MqttConnectionLostError,
    MqttError,
    MqttReentrantError,
    ProtocolVersion,
    Topic,
    Will,
)
from ferromqtt.broker import Broker
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties
from ferromqtt.subscribeoptions import SubscribeOptions

pytestmark = pytest.mark.interop

SCENARIO_TIMEOUT = 20.0
VERSIONS = [
    pytest.param(ProtocolVersion.V31, id="v31"),
    pytest.param(ProtocolVersion.V311, id="v311"),
    pytest.param(ProtocolVersion.V5, id="v5"),
]
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


class ConfiguredMosquitto(client_support.Mosquitto):
    """client_support's Mosquitto with extra configuration lines."""

    def __init__(self, extra: list[str]) -> None:
        super().__init__()
        self.allow_anonymous = "allow_anonymous false" not in extra
        self.extra_config = "".join(
            line + "\n" for line in extra if not line.startswith("allow_anonymous")
        )

    def _drain(self) -> None:
        try:
            super()._drain()
        except ValueError:  # stop() closed the pipe before this thread saw its end
            pass


def _start_mosquitto(extra: list[str]):
    if client_support.MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = ConfiguredMosquitto(extra)
    broker.start()
    return broker


@pytest.fixture
def mosquitto():
    # No limit on queued messages, so that backpressure tests see every message arrive.
    broker = _start_mosquitto(
        ["allow_anonymous true", "max_queued_messages 0", "max_queued_bytes 0"]
    )
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.directory, ignore_errors=True)


@pytest.fixture(params=["mosquitto", "ferromqtt"])
def broker(request):
    """Each scenario against Mosquitto and against ferromqtt's own broker."""
    if request.param == "mosquitto":
        yield request.getfixturevalue("mosquitto")
        return
    # A queue large enough for the backpressure scenario's 20k messages.
    broker = Broker(port=0, max_queued_messages=100_000).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def password_broker():
    if MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto_passwd is not installed (apt-get install mosquitto)")
    broker = ConfiguredMosquitto([])
    passwords = os.path.join(broker.directory, "passwords")
    subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", passwords, "alice", "secret"], check=True)
    # Started as root, mosquitto reads the file as its own unprivileged user.
    os.chmod(broker.directory, 0o755)
    os.chmod(passwords, 0o644)
    broker.allow_anonymous = False
    broker.extra_config = f"password_file {passwords}\n"
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.directory, ignore_errors=True)


def run(scenario: Any, *, loop_factory: Any = None, timeout: float = SCENARIO_TIMEOUT) -> Any:
    """Runs one scenario coroutine in a fresh event loop, bounded in time."""

    async def bounded() -> Any:
        return await asyncio.wait_for(scenario, timeout)

    if loop_factory is None:
        return asyncio.run(bounded())
    loop = loop_factory()
    try:
        return loop.run_until_complete(bounded())
    finally:
        loop.close()


def kill(broker: Any) -> None:
    """SIGKILL (even while paused): the broker answers nothing more."""
    broker.process.kill()
    broker.process.wait(client_support.WAIT)


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def client(broker: Any, protocol: ProtocolVersion = ProtocolVersion.V311, **kwargs: Any) -> Client:
    return Client(broker.host, broker.port, protocol=protocol, **kwargs)


async def next_message(client: Client) -> Message:
    return await client.messages.__anext__()


# ---- connect, publish, subscribe, unsubscribe ------------------------------------------------
@pytest.mark.parametrize("protocol", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_subscribe_unsubscribe_round_trip_at_every_qos(broker, protocol, qos):
    topic, sentinel = unique("round"), unique("sentinel")

    async def scenario() -> None:
        async with client(broker, protocol) as sub, client(broker, protocol) as pub:
            granted = await sub.subscribe(topic, qos=qos)
            assert [code.value for code in granted] == [qos]
            await sub.subscribe(sentinel, qos=0)
            await pub.publish(topic, b"payload", qos=qos)
            message = await next_message(sub)
            assert message.topic == Topic(topic)
            assert message.topic.matches(topic)
            assert message.payload == b"payload"
            assert message.qos == qos
            assert message.retain is False
            assert (message.mid != 0) == (qos > 0)
            if protocol == ProtocolVersion.V5:
                assert isinstance(message.properties, Properties)
            else:
                assert message.properties is None
            await sub.unsubscribe(topic)
            # Mosquitto keeps one publisher's order: the sentinel proves the first was
            # not delivered after the unsubscribe.
            await pub.publish(topic, b"after unsubscribe", qos=qos)
            await pub.publish(sentinel, b"end", qos=qos)
            message = await next_message(sub)
            assert str(message.topic) == sentinel

    run(scenario())


@pytest.mark.parametrize("protocol", VERSIONS)
def test_async_for_receives_every_message_in_order(broker, protocol):
    topic = unique("order")

    async def scenario() -> list[bytes]:
        async with client(broker, protocol) as sub, client(broker, protocol) as pub:
            await sub.subscribe(topic, qos=1)
            await asyncio.gather(*(pub.publish(topic, str(i), qos=1) for i in range(200)))
            received = []
            async for message in sub.messages:
                received.append(message.payload)
                if len(received) == 200:
                    break
            return received

    assert run(scenario()) == [str(i).encode() for i in range(200)]


def test_filtered_iteration_yields_only_matching_topics(broker):
    base = unique("filtered")

    async def scenario() -> list[str]:
        async with client(broker) as sub, client(broker) as pub:
            await sub.subscribe(f"{base}/#")
            for leaf in ["a/1", "b/1", "a/2", "a/x/3", "c", "a/end"]:
                await pub.publish(f"{base}/{leaf}", leaf, qos=1)
            seen = []
            async for message in sub.messages.filtered(f"{base}/a/+"):
                seen.append(str(message.topic)[len(base) + 1 :])
                if seen[-1] == "a/end":
                    break
            return seen

    assert run(scenario()) == ["a/1", "a/2", "a/end"]


def test_topic_matches_follows_mqtt_rules():
    topic = Topic("sensors/kitchen/temp")
    assert topic.matches("sensors/+/temp")
    assert topic.matches("sensors/#")
    assert topic.matches("$share/group/sensors/+/temp")
    assert not topic.matches("sensors/+")
    assert not Topic("$SYS/broker").matches("#")
    with pytest.raises(ValueError):
        Topic("a/+")
    with pytest.raises(ValueError):
        topic.matches("a/#/b")


@pytest.mark.parametrize("protocol", VERSIONS)
def test_retained_message_arrives_with_retain_flag(broker, protocol):
    topic = unique("retained")

    async def scenario() -> Message:
        async with client(broker, protocol) as pub:
            await pub.publish(topic, b"kept", qos=1, retain=True)
        async with client(broker, protocol) as sub:
            await sub.subscribe(topic, qos=1)
            return await next_message(sub)

    message = run(scenario())
    assert message.retain is True and message.payload == b"kept"


def test_v5_properties_and_no_local_subscription(broker):
    topic = unique("v5")

    async def scenario() -> Message:
        v5 = ProtocolVersion.V5
        async with client(broker, v5) as one, client(broker, v5) as other:
            await one.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=True))
            await other.subscribe(topic, qos=1)
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = ("trace", "42")
            properties.ContentType = "text/plain"
            await one.publish(topic, b"own", qos=1, properties=properties)
            await other.publish(topic, b"from other", qos=1)
            # No Local: `one` does not get its own message, only the other's.
            message = await next_message(one)
            assert message.payload == b"from other"
            return await next_message(other)

    message = run(scenario())
    assert message.payload == b"own"
    assert message.properties.ContentType == "text/plain"
    assert ("trace", "42") in message.properties.UserProperty


def test_v5_empty_identifier_is_assigned_by_the_broker(broker):
    async def scenario() -> str:
        async with client(broker, ProtocolVersion.V5) as c:
            return c.identifier

    assert run(scenario()) != ""


# ---- connection set-up and teardown ------------------------------------------------------------
@pytest.mark.parametrize("protocol", VERSIONS)
def test_will_is_published_when_the_connection_drops(broker, protocol):
    topic = unique("will")

    async def scenario() -> Message:
        async with client(broker, protocol) as watcher:
            await watcher.subscribe(topic, qos=1)
            dying = client(broker, protocol, will=Will(topic, b"gone", qos=1))
            await dying.__aenter__()
            dying._core.abort()  # no DISCONNECT, as if the process had died
            message = await next_message(watcher)
            await dying.__aexit__(None, None, None)
            return message

    message = run(scenario())
    assert message.payload == b"gone" and message.qos == 1


@pytest.mark.parametrize("protocol", VERSIONS)
def test_will_is_not_published_after_a_clean_disconnect(broker, protocol):
    topic, sentinel = unique("will"), unique("sentinel")

    async def scenario() -> Message:
        async with client(broker, protocol) as watcher:
            await watcher.subscribe([(topic, 1), (sentinel, 1)])
            async with client(broker, protocol, will=Will(topic, b"gone", qos=1)):
                pass
            async with client(broker, protocol) as pub:
                await pub.publish(sentinel, b"end", qos=1)
            return await next_message(watcher)

    assert str(run(scenario()).topic) == sentinel


@pytest.mark.parametrize("protocol", VERSIONS)
def test_bad_credentials_raise_mqtt_code_error(password_broker, protocol):
    async def scenario() -> None:
        with pytest.raises(MqttCodeError) as refused:
            async with client(password_broker, protocol, username="alice", password="wrong"):
                pass
        assert isinstance(refused.value, MqttConnectError)
        assert refused.value.rc.is_failure
        assert "code:" in str(refused.value)
        with pytest.raises(MqttCodeError):
            async with client(password_broker, protocol):
                pass
        async with client(password_broker, protocol, username="alice", password="secret") as c:
            await c.publish(unique("auth"), b"in", qos=1)

    run(scenario())


def test_closed_port_raises_mqtt_error(broker):
    port = broker.port
    broker.stop()

    async def scenario() -> None:
        with pytest.raises(MqttError):
            async with Client("127.0.0.1", port):
                pass

    run(scenario())


def test_client_is_reusable_but_not_reentrant(broker):
    topic = unique("reuse")

    async def scenario() -> None:
        c = client(broker)
        async with c:
            with pytest.raises(MqttReentrantError):
                async with c:
                    pass
            await c.publish(topic, b"first")
        with pytest.raises(MqttCodeError):
            await c.publish(topic, b"while disconnected")
        async with c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"second", qos=1)
            assert (await next_message(c)).payload == b"second"

    run(scenario())


def test_iteration_after_disconnect_raises_mqtt_error(broker):
    async def scenario() -> None:
        async with client(broker) as c:
            pass
        with pytest.raises(MqttError) as stopped:
            await next_message(c)
        assert not isinstance(stopped.value, MqttConnectionLostError)

    run(scenario())


# ---- connection loss ----------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", VERSIONS)
def test_connection_loss_ends_iteration_with_connection_lost_error(broker, protocol):
    topic = unique("loss")

    async def scenario() -> None:
        async with client(broker, protocol) as c:
            await c.subscribe(topic, qos=1)
            await c.publish(topic, b"before", qos=1)
            reader_started = asyncio.Event()

            async def read_all() -> list[bytes]:
                payloads = []
                reader_started.set()
                async for message in c.messages:
                    payloads.append(message.payload)
                return payloads

            reader = asyncio.create_task(read_all())
            await reader_started.wait()
            broker.stop()  # mosquitto closes every connection
            with pytest.raises(MqttConnectionLostError) as lost:
                await reader
            assert isinstance(lost.value, MqttCodeError)
            with pytest.raises(MqttConnectionLostError):
                await c.publish(topic, b"after", qos=1)

    run(scenario())


def test_connection_loss_fails_a_pending_publish(mosquitto):
    broker = mosquitto  # paused and killed: a process of its own
    topic = unique("loss")

    async def scenario() -> None:
        async with client(broker) as c:
            broker.pause()  # no PUBACK will come
            publish = asyncio.create_task(c.publish(topic, b"unanswered", qos=1))
            await asyncio.sleep(0)  # let the task hand the message to the connection
            assert c._core.pending_calls() == 1
            kill(broker)  # the kernel closes its sockets; no PUBACK is ever sent
            with pytest.raises(MqttConnectionLostError):
                await publish
            assert c._core.pending_calls() == 0

    run(scenario())


# ---- cancellation --------------------------------------------------------------------------------
def test_cancelled_publish_leaves_the_client_consistent(mosquitto):
    broker = mosquitto  # paused and killed: a process of its own
    topic = unique("cancel")

    async def scenario() -> list[bytes]:
        async with client(broker) as sub, client(broker) as pub:
            await sub.subscribe(topic, qos=1)
            broker.pause()
            publish = asyncio.create_task(pub.publish(topic, b"cancelled", qos=1))
            await asyncio.sleep(0)  # let the task hand the message to the connection
            publish.cancel()
            with pytest.raises(asyncio.CancelledError):
                await publish
            broker.resume()
            # The message was handed over before the cancel: it is still delivered, once,
            # and the client goes on publishing normally with nothing left pending.
            await pub.publish(topic, b"next", qos=1)
            assert pub._core.pending_calls() == 0
            assert pub._core.queued_len() == 0
            return [(await next_message(sub)).payload for _ in range(2)]

    assert run(scenario()) == [b"cancelled", b"next"]


def test_cancelled_message_waits_lose_no_message(broker):
    topic = unique("cancel")
    count = 300

    async def scenario() -> list[int]:
        async with client(broker) as sub, client(broker) as pub:
            await sub.subscribe(topic, qos=1)
            received: list[int] = []
            for i in range(count):
                # A reader waits, a message arrives, the reader is cancelled: whether the
                # cancel wins or the message does, nothing may be lost or duplicated.
                reader = asyncio.create_task(next_message(sub))
                await asyncio.sleep(0)
                await pub.publish(topic, str(i), qos=1)
                reader.cancel()
                try:
                    received.append(int((await reader).payload))
                except asyncio.CancelledError:
                    pass
            while len(received) < count:
                received.append(int((await next_message(sub)).payload))
            assert len(sub.messages) == 0
            return received

    assert run(scenario()) == list(range(count))


# ---- backpressure and bounds ---------------------------------------------------------------------
def test_a_consumer_that_does_not_read_keeps_memory_bounded(broker):
    topic = unique("backpressure")
    total, bound = 20_000, 100
    ours = isinstance(broker, Broker)

    async def scenario() -> None:
        async with client(broker, max_queued_incoming_messages=bound) as sub:
            async with client(broker) as pub:
                await sub.subscribe(f"{topic}/#", qos=0)
                payload = b"x" * 2000
                await asyncio.gather(*(pub.publish(f"{topic}/data", payload) for _ in range(total)))
                # Mosquitto handles one connection in order: once this is acknowledged it
                # has routed all 20k messages (40 MB) towards the subscriber.
                await pub.publish(f"{topic}/end", b"", qos=1)
            core = sub._core
            assert core.buffer_capacity() == bound
            assert core.buffered() <= bound
            assert core.channel_len() <= core.channel_capacity()
            # Reading now gets every message: they waited in TCP and in the broker, not here.
            received = 0
            async for message in sub.messages:
                if str(message.topic).endswith("/end"):
                    break
                received += 1
            if ours:
                # The broker's own per-session queue is bounded too (max_queued_messages):
                # QoS 0 messages beyond it are dropped and counted, never buffered without end.
                dropped = broker.stats()["messages_dropped"]
                assert received + dropped == total and received >= bound
            else:
                assert received == total
            assert core.buffer_high_water() <= bound

    run(scenario())


def test_full_outgoing_queue_makes_publish_wait_in_order(broker):
    topic = unique("queue")

    async def scenario() -> list[bytes]:
        async with client(broker) as sub, client(broker, max_queued_outgoing_messages=5) as pub:
            await sub.subscribe(topic, qos=1)
            await asyncio.gather(*(pub.publish(topic, str(i), qos=1) for i in range(100)))
            assert pub._core.pending_calls() == 0
            return [(await next_message(sub)).payload for _ in range(100)]

    assert run(scenario()) == [str(i).encode() for i in range(100)]


def test_publish_timeout_raises_mqtt_error(mosquitto):
    broker = mosquitto  # paused and killed: a process of its own

    async def scenario() -> None:
        async with client(broker, timeout=0.2) as c:
            broker.pause()
            with pytest.raises(MqttError, match="timed out"):
                await c.publish(unique("timeout"), b"x", qos=1)
            assert c._core.pending_calls() == 0
            broker.resume()

    run(scenario())


# ---- event loops ---------------------------------------------------------------------------------
async def round_trip(broker: Any, protocol: ProtocolVersion = ProtocolVersion.V311) -> bytes:
    topic = unique("loop")
    async with client(broker, protocol) as c:
        await c.subscribe(topic, qos=2)
        await c.publish(topic, b"looped", qos=2)
        async for message in c.messages:
            return message.payload
    raise AssertionError("no message")


@pytest.mark.parametrize("protocol", VERSIONS)
def test_works_with_uvloop(broker, protocol):
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed (pip install uvloop)")
    assert run(round_trip(broker, protocol), loop_factory=uvloop.new_event_loop) == b"looped"


def test_works_in_an_already_running_loop_with_top_level_await(broker):
    # What Jupyter does with a cell: compile top-level await and run it on its own loop.
    cell = (
        f"async with Client('127.0.0.1', {broker.port}) as c:\n"
        "    await c.subscribe('cell/topic', qos=1)\n"
        "    await c.publish('cell/topic', b'from a cell', qos=1)\n"
        "    result = (await c.messages.__anext__()).payload\n"
    )
    code = compile(cell, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"Client": Client}

    async def kernel() -> None:
        coroutine = eval(code, namespace)
        await coroutine

    run(kernel())
    assert namespace["result"] == b"from a cell"


def test_works_on_a_loop_running_in_another_thread(broker):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        future = asyncio.run_coroutine_threadsafe(round_trip(broker), loop)
        assert future.result(SCENARIO_TIMEOUT) == b"looped"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(SCENARIO_TIMEOUT)
        loop.close()


def test_async_with_broker_serves_the_asyncio_client():
    async def scenario() -> bytes:
        async with Broker(port=0) as served:
            assert served.is_running
            async with Client(served.host, served.port) as c:
                await c.subscribe("in/process", qos=1)
                await c.publish("in/process", b"served", qos=1)
                payload = (await next_message(c)).payload
        assert not served.is_running
        return payload

    assert run(scenario()) == b"served"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_clients_and_concurrent_calls_start_no_threads(broker):
    topic = unique("threads")

    def threads() -> int:
        """Threads of ferromqtt's runtime and completer (named "ferromqtt...")."""
        names = []
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/comm") as f:
                    names.append(f.read())
            except FileNotFoundError:  # a thread that just ended
                pass
        return sum(name.startswith("ferromqtt") for name in names)

    async def scenario() -> tuple[int, int]:
        async with client(broker) as first:
            await first.publish(topic, b"warm-up", qos=1)
            baseline = threads()
            clients = [client(broker) for _ in range(30)]
            for c in clients:
                await c.__aenter__()
            await asyncio.gather(
                *(c.publish(topic, str(i), qos=1) for c in clients for i in range(50))
            )
            during = threads()
            await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients))
            return baseline, during

    baseline, during = run(scenario())
    assert baseline >= 2  # the runtime's workers and the completer are counted
    # 30 more clients and 1500 awaited publishes at once: not one more thread.
    assert during == baseline
