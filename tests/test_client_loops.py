"""Loop styles, callback shapes of both callback API versions, callback exceptions, the
external-loop socket and the publish/subscribe helpers, against a real Mosquitto and
ferromqtt's own broker."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import uuid
import warnings

import pytest

import client_support
import ferromqtt.client as mqtt
from client_support import WAIT, Recorder
from ferromqtt import publish, subscribe
from ferromqtt.properties import Properties
from ferromqtt.reasoncodes import ReasonCode

pytestmark = pytest.mark.interop
any_broker = client_support.any_broker

VERSIONS = [
    pytest.param(mqtt.MQTTv31, id="v31"),
    pytest.param(mqtt.MQTTv311, id="v311"),
    pytest.param(mqtt.MQTTv5, id="v5"),
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def v1_client(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_version1_callback_shapes(any_broker, protocol):
    topic = unique("v1")
    client = v1_client(protocol=protocol)
    recorder = Recorder(client)
    client.connect(any_broker.host, any_broker.port)
    client.loop_start()
    connect_args = recorder.wait("on_connect")
    if protocol == mqtt.MQTTv5:
        flags, reason, properties = connect_args
        assert isinstance(reason, ReasonCode) and isinstance(properties, Properties)
    else:
        flags, rc = connect_args
        assert rc == 0 and type(rc) is int
    assert flags == {"session present": 0}
    client.subscribe(topic, 2)
    suback = recorder.wait("on_subscribe")
    if protocol == mqtt.MQTTv5:
        _, codes, _ = suback
        assert codes == [2] and isinstance(codes[0], ReasonCode)
    else:
        assert suback[1] == (2,)
    info = client.publish(topic, "x", qos=2)
    assert recorder.wait("on_publish") == (info.mid,)
    (message,) = recorder.wait("on_message")
    assert (message.qos, message.properties is None) == (2, protocol != mqtt.MQTTv5)
    client.unsubscribe(topic)
    unsuback = recorder.wait("on_unsubscribe")
    if protocol == mqtt.MQTTv5:
        _, properties, code = unsuback
        assert isinstance(properties, Properties) and code == 0
    else:
        assert len(unsuback) == 1
    client.disconnect()
    disconnect_args = recorder.wait("on_disconnect")
    if protocol == mqtt.MQTTv5:
        assert disconnect_args == (mqtt.MQTT_ERR_SUCCESS, None)
    else:
        assert disconnect_args == (mqtt.MQTT_ERR_SUCCESS,)
    client.loop_stop()


@pytest.mark.parametrize("protocol", VERSIONS)
def test_loop_forever_runs_callbacks_in_the_calling_thread_until_disconnect(any_broker, protocol):
    topic = unique("forever")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    threads = set()

    def on_connect(c, userdata, flags, reason, properties):
        threads.add(threading.get_ident())
        c.subscribe(topic, 1)

    def on_subscribe(c, userdata, mid, codes, properties):
        threads.add(threading.get_ident())
        c.publish(topic, "from a callback", qos=1)

    def on_message(c, userdata, message):
        threads.add(threading.get_ident())
        userdata.append(message.payload)
        c.disconnect()

    received: list[bytes] = []
    client.user_data_set(received)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect(any_broker.host, any_broker.port)
    client.loop_forever()
    assert received == [b"from a callback"]
    assert threads == {threading.get_ident()}


@pytest.mark.parametrize("protocol", VERSIONS)
def test_plain_loop_calls_drive_the_client(any_broker, protocol):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    recorder = Recorder(client)
    client.connect(any_broker.host, any_broker.port)
    assert not client.is_connected()
    for _ in range(50):
        assert client.loop(0.1) == mqtt.MQTT_ERR_SUCCESS
        if client.is_connected():
            break
    assert client.is_connected()
    assert recorder.wait("on_connect", timeout=0)[1] == 0


@pytest.mark.parametrize("on_publish", [False, True], ids=["no-on_publish", "on_publish"])
def test_every_publish_is_reported_once_and_then_forgotten(any_broker, on_publish):
    """Without an on_publish the core settles published messages itself; with one, the
    callback sees each mid once. Either way every info completes and none is kept."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    reported: list[int] = []
    if on_publish:
        client.on_publish = lambda c, u, mid, reason, props: reported.append(mid)
    client.connect(any_broker.host, any_broker.port)
    client.loop_start()
    try:
        infos = [client.publish(unique("t/settle"), b"x" * 10, qos=i % 3) for i in range(600)]
        for info in infos:
            info.wait_for_publish(WAIT)
            assert info.is_published()
        assert "messages in flight: 0" in repr(client)
        if on_publish:
            assert sorted(reported) == sorted(info.mid for info in infos)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_on_publish_set_while_the_loop_waits_is_called(any_broker, qos):
    """The loop thread is already waiting for events when on_publish is set: the next
    message's acknowledgement still reaches it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect(any_broker.host, any_broker.port)
    client.loop_start()
    try:
        assert connected.wait(WAIT)
        published = threading.Event()
        client.on_publish = lambda *args: published.set()
        info = client.publish(unique("t/late"), b"x", qos=qos)
        assert published.wait(WAIT)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


class _SilentServer:
    """Accepts one client, answers its CONNECT, then reads nothing more until told to reset
    the connection: what the client writes piles up in the socket buffers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.reset = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(WAIT)
            connection.recv(4096)  # the CONNECT (small, one segment)
            connection.sendall(b"\x20\x02\x00\x00")
            self.reset.wait(WAIT)
            # Linger 0: close with a reset, so the client's pending write fails at once.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.listener.close()


@pytest.mark.parametrize("on_publish", [False, True], ids=["no-on_publish", "on_publish"])
def test_qos0_never_written_before_the_connection_drops_fails_its_waiters(on_publish):
    """As paho: a QoS 0 message still unwritten when its connection is lost is not
    published; wait_for_publish() and is_published() raise, rc is MQTT_ERR_CONN_LOST."""
    server = _SilentServer()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if on_publish:
        client.on_publish = lambda *args: None
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", server.port)
    client.loop_start()
    try:
        assert connected.wait(WAIT)
        # 40 MB: more than loopback socket buffers take from a peer that does not read.
        infos = [client.publish("t/big", b"x" * (256 * 1024), qos=0) for _ in range(160)]
        assert all(info.rc == mqtt.MQTT_ERR_SUCCESS for info in infos)
        assert not infos[-1].is_published()
        server.reset.set()
        with pytest.raises(RuntimeError, match="connection was lost"):
            infos[-1].wait_for_publish(WAIT)
        assert infos[-1].rc == mqtt.MQTT_ERR_CONN_LOST
        with pytest.raises(RuntimeError):
            infos[-1].is_published()
    finally:
        server.reset.set()
        client.loop_stop()
        server.thread.join(WAIT)


def test_connect_async_needs_a_loop_thread(any_broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    recorder = Recorder(client)
    client.connect_async(any_broker.host, any_broker.port)
    assert client.loop(0.01) == mqtt.MQTT_ERR_NO_CONN
    client.loop_start()
    assert recorder.wait("on_connect")[1] == 0
    assert client.loop_start() == mqtt.MQTT_ERR_INVAL
    client.disconnect()
    recorder.wait("on_disconnect")
    client.loop_stop()
    assert client.loop_stop() == mqtt.MQTT_ERR_INVAL


def test_on_connect_fail_fires_when_loop_forever_cannot_connect():
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    failures = []
    client.on_connect_fail = lambda c, u: failures.append(True)
    client.connect_async("127.0.0.1", port)
    with pytest.raises(ConnectionRefusedError):
        client.loop_forever()
    assert failures == [True]


def test_callback_exception_propagates_out_of_loop_forever_and_is_logged(any_broker, caplog):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

    def on_connect(c, userdata, flags, reason, properties):
        raise KeyError("boom")

    client.on_connect = on_connect
    client.connect(any_broker.host, any_broker.port)
    with caplog.at_level(logging.ERROR, logger="ferromqtt.client"):
        with pytest.raises(KeyError, match="boom"):
            client.loop_forever()
    assert "Caught exception in on_connect" in caplog.text
    assert "Traceback" in caplog.text and "KeyError" in caplog.text


def test_suppress_exceptions_keeps_the_loop_running(any_broker, caplog):
    topic = unique("suppress")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.suppress_exceptions = True
    recorder = Recorder(client)

    def on_message(c, userdata, message):
        recorder.events.put(("on_message", (message,)))
        raise RuntimeError("ignored")

    client.connect(any_broker.host, any_broker.port)
    client.loop_start()
    recorder.wait("on_connect")
    client.on_message = on_message
    client.subscribe(topic, 1)
    recorder.wait("on_subscribe")
    with caplog.at_level(logging.ERROR, logger="ferromqtt.client"):
        client.publish(topic, "1", qos=1)
        client.publish(topic, "2", qos=1)
        assert recorder.wait("on_message")[0].payload == b"1"
        assert recorder.wait("on_message")[0].payload == b"2"
    assert client.is_connected()
    client.disconnect()
    client.loop_stop()
    assert "RuntimeError: ignored" in caplog.text


def test_enable_logger_and_on_log_receive_client_log_lines(any_broker, caplog):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    lines = []
    client.on_log = lambda c, u, level, line: lines.append((level, line))
    client.enable_logger()
    recorder = Recorder(client)
    with caplog.at_level(logging.DEBUG, logger="paho.mqtt.client"):
        client.connect(any_broker.host, any_broker.port)
        client.loop_start()
        recorder.wait("on_connect")
        client.disconnect()
        recorder.wait("on_disconnect")
        client.loop_stop()
    assert any("Sending CONNECT" in line for _, line in lines)
    assert any("Received CONNACK" in line for _, line in lines)
    assert all(level == mqtt.MQTT_LOG_DEBUG for level, _ in lines)
    assert "Received CONNACK" in caplog.text


def test_external_loop_with_select_on_the_client_socket(any_broker):
    topic = unique("external")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    opened, closed = [], []
    client.on_socket_open = lambda c, u, sock: opened.append(sock)
    client.on_socket_close = lambda c, u, sock: closed.append(sock)
    recorder = Recorder(client)
    client.connect(any_broker.host, any_broker.port)
    sock = client.socket()
    assert opened == [sock] and sock.fileno() >= 0

    def pump_until(name):
        for _ in range(100):
            readable, _, _ = select.select([sock], [], [], WAIT)
            assert readable, "the client socket never became readable"
            client.loop_read()
            client.loop_write()
            client.loop_misc()
            for seen, args in list(recorder.seen):
                if seen == name:
                    return args
            recorder.names()
            for seen, args in recorder.seen:
                if seen == name:
                    return args
        raise AssertionError(f"no {name}")

    pump_until("on_connect")
    client.subscribe(topic, 1)
    pump_until("on_subscribe")
    client.publish(topic, "via select", qos=1)
    (message,) = pump_until("on_message")
    assert message.payload == b"via select"
    assert client.want_write() is False
    client.disconnect()
    assert closed == [sock]


def external_loop_socket_callbacks(library, host, port):
    """Drives a client paho's external-loop way (select on socket(), writes only while
    on_socket_register_write is in force) through connect, a QoS 1 publish and disconnect;
    returns the socket and connection callbacks in the order they fired."""
    log = []
    client = library.Client(library.CallbackAPIVersion.VERSION2)
    for name in ("open", "close", "register_write", "unregister_write"):
        setattr(client, f"on_socket_{name}", lambda c, u, sock, name=name: log.append(name))
    client.on_connect = lambda *args: log.append("connect")
    client.on_publish = lambda *args: log.append("publish")
    client.on_disconnect = lambda *args: log.append("disconnect")
    client.connect(host, port)
    sock = client.socket()

    def pump_until(name):
        for _ in range(100):
            if name in log:
                return
            registered = log.count("register_write") > log.count("unregister_write")
            readable, writable, _ = select.select([sock], [sock] if registered else [], [], WAIT)
            assert readable or writable, f"waiting for {name}: {log}"
            if readable:
                client.loop_read()
            if writable:
                client.loop_write()
            client.loop_misc()
        raise AssertionError(f"no {name}: {log}")

    pump_until("connect")
    client.publish(unique("register"), b"payload", qos=1)
    pump_until("publish")
    client.disconnect()
    pump_until("close")
    return log


def test_socket_register_and_unregister_write_fire_as_in_paho(any_broker):
    import paho.mqtt.client as paho_client

    ours = external_loop_socket_callbacks(mqtt, any_broker.host, any_broker.port)
    pahos = external_loop_socket_callbacks(paho_client, any_broker.host, any_broker.port)
    assert ours == pahos
    assert ours[:4] == ["open", "register_write", "unregister_write", "connect"]
    assert ours.count("register_write") == ours.count("unregister_write") == 3


@pytest.mark.parametrize("protocol", VERSIONS)
def test_publish_single_and_multiple_reach_a_subscriber(any_broker, protocol):
    topic = unique("helpers")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    recorder = Recorder(client)
    client.connect(any_broker.host, any_broker.port)
    client.loop_start()
    recorder.wait("on_connect")
    client.subscribe(f"{topic}/#", 2)
    recorder.wait("on_subscribe")
    host, port = any_broker.host, any_broker.port
    publish.single(f"{topic}/one", "single", qos=1, hostname=host, port=port, protocol=protocol)
    publish.multiple(
        [
            {"topic": f"{topic}/a", "payload": "dict", "qos": 2},
            (f"{topic}/b", "tuple", 0, False),
            {"topic": f"{topic}/c"},
        ],
        hostname=host,
        port=port,
        protocol=protocol,
    )
    messages = [recorder.wait("on_message")[0] for _ in range(4)]
    # Inbound QoS 2 is delivered on PUBREL (as paho), so a later QoS 0 may overtake it.
    assert sorted((m.topic, m.payload) for m in messages) == [
        (f"{topic}/a", b"dict"),
        (f"{topic}/b", b"tuple"),
        (f"{topic}/c", b""),
        (f"{topic}/one", b"single"),
    ]
    client.disconnect()
    client.loop_stop()
    with pytest.raises(ValueError, match="msgs is empty"):
        publish.multiple([], hostname=host, port=port)
    with pytest.raises(TypeError):
        publish.multiple(42, hostname=host, port=port)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_subscribe_simple_and_callback(any_broker, protocol):
    topic = unique("simple")
    host, port = any_broker.host, any_broker.port
    publish.single(topic, "retained", qos=1, retain=True, hostname=host, port=port)
    message = subscribe.simple(topic, qos=1, hostname=host, port=port, protocol=protocol)
    assert (message.topic, message.payload, message.retain) == (topic, b"retained", True)

    def publish_later():
        publish.single(topic, "fresh", qos=1, hostname=host, port=port)

    seen = []

    def on_message(client, userdata, message):
        userdata.append(message.payload)
        if message.payload == b"retained":
            threading.Thread(target=publish_later).start()
        else:
            client.disconnect()

    clean_session = None if protocol == mqtt.MQTTv5 else True
    subscribe.callback(
        on_message,
        topic,
        qos=1,
        userdata=seen,
        hostname=host,
        port=port,
        protocol=protocol,
        clean_session=clean_session,
    )
    assert seen == [b"retained", b"fresh"]
    with pytest.raises(ValueError, match="msg_count"):
        subscribe.simple(topic, msg_count=0, hostname=host, port=port)
    with pytest.raises(ValueError, match="qos"):
        subscribe.callback(on_message, topic, qos=3, hostname=host, port=port)


def test_ctrl_c_interrupts_loop_forever(any_broker, tmp_path):
    script = tmp_path / "forever.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            import ferromqtt.client as mqtt
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            client.on_connect = lambda *a: print("connected", flush=True)
            client.connect("127.0.0.1", {any_broker.port})
            try:
                client.loop_forever()
            except KeyboardInterrupt:
                print("interrupted", flush=True)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "connected"
        os.kill(process.pid, signal.SIGINT)
        assert process.stdout.readline().strip() == "interrupted"
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(WAIT)
        if process.stdout is not None:
            process.stdout.close()


def test_replacing_time_func_changes_the_clock_of_message_timestamps(mqtt_broker, monkeypatch):
    """paho's users (and paho's own tests) replace ``mqtt.time_func``; the clock of
    received messages' ``timestamp`` follows it."""
    monkeypatch.setattr(mqtt, "time_func", lambda: 1234.5)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    recorder = Recorder(client)
    client.connect(mqtt_broker.host, mqtt_broker.port)
    client.loop_start()
    try:
        recorder.wait("on_connect")
        client.subscribe("clock/#", 1)
        recorder.wait("on_subscribe")
        client.publish("clock/a", b"tick", qos=1)
        (message,) = recorder.wait("on_message")
        assert (message.topic, message.timestamp) == ("clock/a", 1234.5)
    finally:
        client.disconnect()
        client.loop_stop()
