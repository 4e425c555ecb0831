"""ferromqtt.client against a real Mosquitto and against ferromqtt's own broker, for MQTT 3.1,
3.1.1 and 5.0."""

from __future__ import annotations

import threading
import uuid

import pytest

import client_support
import ferromqtt.client as mqtt
from client_support import WAIT, Recorder
from ferromqtt.packettypes import PacketTypes
from ferromqtt.properties import Properties

pytestmark = pytest.mark.interop
mosquitto_broker = client_support.mosquitto_broker
any_broker = client_support.any_broker

VERSIONS = [
    pytest.param(mqtt.MQTTv31, id="v31"),
    pytest.param(mqtt.MQTTv311, id="v311"),
    pytest.param(mqtt.MQTTv5, id="v5"),
]
V2 = mqtt.CallbackAPIVersion.VERSION2


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_client(protocol, client_id="", **kwargs):
    client = mqtt.Client(V2, client_id=client_id, protocol=protocol, **kwargs)
    return client, Recorder(client)


def connect(client, recorder, broker, **kwargs):
    client.connect(broker.host, broker.port, **kwargs)
    client.loop_start()
    flags, reason, properties = recorder.wait("on_connect")
    assert reason == 0, reason
    return flags, properties


def stop(client):
    client.disconnect()
    client.loop_stop()


@pytest.mark.parametrize("protocol", VERSIONS)
def test_connect_and_disconnect_fire_their_callbacks(any_broker, protocol):
    client, recorder = make_client(protocol)
    assert client.connect(any_broker.host, any_broker.port) == mqtt.MQTT_ERR_SUCCESS
    assert not client.is_connected()  # nothing processed the CONNACK yet
    client.loop_start()
    flags, reason, properties = recorder.wait("on_connect")
    assert flags == mqtt.ConnectFlags(session_present=False)
    assert reason == 0 and not reason.is_failure
    assert isinstance(properties, Properties)
    assert client.is_connected()
    assert client.disconnect() == mqtt.MQTT_ERR_SUCCESS
    flags, reason, _ = recorder.wait("on_disconnect")
    assert flags.is_disconnect_packet_from_server is False
    assert reason == 0
    client.loop_stop()
    assert not client.is_connected()
    assert client.disconnect() == mqtt.MQTT_ERR_NO_CONN


def test_connect_to_a_closed_port_raises_connection_refused(any_broker):
    port = any_broker.port
    any_broker.stop()
    client, _ = make_client(mqtt.MQTTv311)
    with pytest.raises(ConnectionRefusedError):
        client.connect("127.0.0.1", port)


@pytest.mark.parametrize("protocol", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_messages_round_trip_at_every_qos(any_broker, protocol, qos):
    topic = unique("qos")
    client, recorder = make_client(protocol)
    connect(client, recorder, any_broker)
    client.subscribe(topic, qos)
    _, granted, _ = recorder.wait("on_subscribe")
    assert [int(code.value) for code in granted] == [qos]
    infos = [client.publish(topic, f"message {i}", qos=qos) for i in range(20)]
    for info in infos:
        info.wait_for_publish(WAIT)
        assert info.is_published()
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
    received = [recorder.wait("on_message")[0] for _ in range(20)]
    assert [m.payload for m in received] == [f"message {i}".encode() for i in range(20)]
    assert {m.qos for m in received} == {qos}
    assert all(m.topic == topic and not m.retain for m in received)
    if qos:
        assert len({m.mid for m in received}) == 20
    published = sorted(recorder.wait("on_publish")[0] for _ in range(20))
    assert published == sorted(info.mid for info in infos)
    stop(client)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_retained_message_reaches_a_later_subscriber_and_can_be_cleared(any_broker, protocol):
    topic = unique("retained")
    publisher, precorder = make_client(protocol)
    connect(publisher, precorder, any_broker)
    publisher.publish(topic, b"kept", qos=1, retain=True).wait_for_publish(WAIT)
    subscriber, srecorder = make_client(protocol)
    connect(subscriber, srecorder, any_broker)
    subscriber.subscribe(topic, 1)
    (message,) = srecorder.wait("on_message")
    assert (message.payload, message.retain) == (b"kept", True)
    publisher.publish(topic, None, qos=1, retain=True).wait_for_publish(WAIT)
    (cleared,) = srecorder.wait("on_message")
    assert cleared.payload == b""
    stop(subscriber)
    stop(publisher)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_will_is_published_when_the_connection_drops(any_broker, protocol):
    topic = unique("will")
    watcher, wrecorder = make_client(protocol)
    connect(watcher, wrecorder, any_broker)
    watcher.subscribe(topic, 1)
    wrecorder.wait("on_subscribe")
    dying, drecorder = make_client(protocol)
    dying.will_set(topic, "gone", qos=1)
    assert dying.will_topic == topic and dying.will_payload == b"gone"
    connect(dying, drecorder, any_broker)
    # Drop the TCP connection without DISCONNECT, as a crash would.
    dying._core.abort()
    (message,) = wrecorder.wait("on_message")
    assert (message.topic, message.payload) == (topic, b"gone")
    dying.loop_stop()
    stop(watcher)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_persistent_session_gets_messages_queued_while_offline(any_broker, protocol):
    topic = unique("persist")
    client_id = unique("persistent")
    options = {} if protocol == mqtt.MQTTv5 else {"clean_session": False}
    connect_kwargs = {}
    if protocol == mqtt.MQTTv5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 300
        connect_kwargs = {"clean_start": False, "properties": properties}
    subscriber, recorder = make_client(protocol, client_id, **options)
    connect(subscriber, recorder, any_broker, **connect_kwargs)
    subscriber.subscribe(topic, 1)
    recorder.wait("on_subscribe")
    stop(subscriber)

    publisher, precorder = make_client(protocol)
    connect(publisher, precorder, any_broker)
    for i in range(3):
        publisher.publish(topic, f"offline {i}", qos=1).wait_for_publish(WAIT)
    stop(publisher)

    again, recorder = make_client(protocol, client_id, **options)
    flags, _ = connect(again, recorder, any_broker, **connect_kwargs)
    # MQTT 3.1 has no session-present flag (Mosquitto sends 0, ferromqtt's broker 1).
    if protocol != mqtt.MQTTv31:
        assert flags.session_present is True
    payloads = [recorder.wait("on_message")[0].payload for _ in range(3)]
    assert payloads == [b"offline 0", b"offline 1", b"offline 2"]
    stop(again)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_qos1_published_while_disconnected_is_sent_after_connecting(any_broker, protocol):
    topic = unique("queued")
    watcher, wrecorder = make_client(protocol)
    connect(watcher, wrecorder, any_broker)
    watcher.subscribe(topic, 1)
    wrecorder.wait("on_subscribe")
    client, recorder = make_client(protocol)
    info = client.publish(topic, "early", qos=1)
    assert info.rc == mqtt.MQTT_ERR_NO_CONN  # as paho: reported 4, but queued
    assert client.publish(topic, "dropped", qos=0).rc == mqtt.MQTT_ERR_NO_CONN
    connect(client, recorder, any_broker)
    info.wait_for_publish(WAIT)  # ferromqtt: waits instead of raising RuntimeError
    assert info.is_published()
    (message,) = wrecorder.wait("on_message")
    assert message.payload == b"early"
    stop(client)
    stop(watcher)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_client_reconnects_after_the_broker_restarts(any_broker, protocol):
    client, recorder = make_client(protocol)
    client.reconnect_delay_set(min_delay=0.1, max_delay=0.2)
    connect(client, recorder, any_broker)
    port = any_broker.port
    any_broker.stop()
    flags, reason, _ = recorder.wait("on_disconnect")
    assert reason.is_failure
    # As paho: after a server DISCONNECT (v5, "Server shutting down") is_connected() stays
    # True until the next connection attempt.
    assert client.is_connected() is flags.is_disconnect_packet_from_server
    any_broker.start(port)
    _, reason, _ = recorder.wait("on_connect")
    assert reason == 0
    assert client.is_connected()
    topic = unique("after-restart")
    client.subscribe(topic, 1)
    recorder.wait("on_subscribe")
    client.publish(topic, "back", qos=1)
    assert recorder.wait("on_message")[0].payload == b"back"
    stop(client)


def test_keepalive_pings_keep_an_idle_connection_open(any_broker):
    client, recorder = make_client(mqtt.MQTTv311)
    pongs = threading.Event()
    client.on_log = lambda c, u, level, line: "PINGRESP" in line and pongs.set()
    connect(client, recorder, any_broker, keepalive=1)
    assert pongs.wait(WAIT)
    assert client.is_connected()
    stop(client)


def test_a_broker_that_stops_answering_is_detected_by_keepalive(mosquitto_broker):
    client, recorder = make_client(mqtt.MQTTv311, reconnect_on_failure=False)
    connect(client, recorder, mosquitto_broker, keepalive=1)
    mosquitto_broker.pause()
    try:
        _, reason, _ = recorder.wait("on_disconnect")
    finally:
        mosquitto_broker.resume()
    assert reason == mqtt.convert_disconnect_error_code_to_reason_code(mqtt.MQTT_ERR_KEEPALIVE)
    assert str(reason) == "Keep alive timeout"
    client.loop_stop()


@pytest.mark.parametrize("protocol", VERSIONS)
def test_unsubscribe_stops_delivery(any_broker, protocol):
    topic = unique("unsub")
    client, recorder = make_client(protocol)
    connect(client, recorder, any_broker)
    client.subscribe(topic, 1)
    recorder.wait("on_subscribe")
    rc, mid = client.unsubscribe(topic)
    assert rc == mqtt.MQTT_ERR_SUCCESS
    unsub_mid, codes, _ = recorder.wait("on_unsubscribe")
    assert unsub_mid == mid
    assert codes == ([] if protocol != mqtt.MQTTv5 else codes)
    client.publish(topic, "not delivered", qos=1)
    marker = unique("marker")
    client.subscribe(marker, 1)
    recorder.wait("on_subscribe")
    client.publish(marker, "delivered", qos=1)
    (message,) = recorder.wait("on_message")
    assert message.topic == marker
    stop(client)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_message_callback_add_routes_matching_messages(any_broker, protocol):
    base = unique("route")
    client, recorder = make_client(protocol)
    routed = []
    done = threading.Event()

    def sensors(c, userdata, message):
        routed.append(("sensors", message.topic))

    def anything(c, userdata, message):
        routed.append(("anything", message.topic))
        if message.topic.endswith("last"):
            done.set()

    client.message_callback_add(f"{base}/sensors/#", sensors)
    client.message_callback_add(f"{base}/#", anything)
    client.message_callback_add(f"{base}/removed", anything)
    client.message_callback_remove(f"{base}/removed")
    client.message_callback_remove("never/added")
    connect(client, recorder, any_broker)
    client.subscribe([(f"{base}/#", 1), (f"{unique('other')}", 0)])
    recorder.wait("on_subscribe")
    other = unique("plain")
    client.subscribe(other, 1)
    recorder.wait("on_subscribe")
    client.publish(other, "general", qos=1)
    (general,) = recorder.wait("on_message")
    assert general.topic == other
    client.publish(f"{base}/sensors/t1", "1", qos=1)
    client.publish(f"{base}/last", "2", qos=1)
    assert done.wait(WAIT)
    assert sorted(routed) == sorted(
        [
            ("sensors", f"{base}/sensors/t1"),
            ("anything", f"{base}/sensors/t1"),
            ("anything", f"{base}/last"),
        ]
    )
    assert "on_message" not in recorder.names()  # filtered ones skip on_message
    stop(client)


def test_v5_properties_round_trip(any_broker):
    topic = unique("props")
    client, recorder = make_client(mqtt.MQTTv5)
    _, connack_properties = connect(client, recorder, any_broker)
    assert hasattr(connack_properties, "AssignedClientIdentifier")
    client.subscribe(topic, options=mqtt.SubscribeOptions(qos=1, noLocal=False))
    recorder.wait("on_subscribe")
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = ("a", "1")
    properties.UserProperty = ("b", "2")
    properties.ResponseTopic = "reply/here"
    properties.CorrelationData = b"\x00\x01"
    properties.ContentType = "text/plain"
    properties.MessageExpiryInterval = 60
    properties.PayloadFormatIndicator = 1
    client.publish(topic, "with properties", qos=1, properties=properties)
    (message,) = recorder.wait("on_message")
    received = message.properties
    assert received.UserProperty == [("a", "1"), ("b", "2")]
    assert received.ResponseTopic == "reply/here"
    assert received.CorrelationData == b"\x00\x01"
    assert received.ContentType == "text/plain"
    assert received.PayloadFormatIndicator == 1
    assert 0 < received.MessageExpiryInterval <= 60
    stop(client)


def test_v5_topic_aliases_are_used_within_the_server_maximum(any_broker):
    topic = unique("alias")
    client, recorder = make_client(mqtt.MQTTv5)
    _, connack_properties = connect(client, recorder, any_broker)
    assert connack_properties.TopicAliasMaximum > 0
    client.subscribe(topic, 1)
    recorder.wait("on_subscribe")
    for i in range(3):
        client.publish(topic, str(i), qos=1)
    messages = [recorder.wait("on_message")[0] for _ in range(3)]
    assert [(m.topic, m.payload) for m in messages] == [(topic, b"0"), (topic, b"1"), (topic, b"2")]
    stop(client)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_inflight_window_and_queue_limit(any_broker, protocol):
    topic = unique("window")
    client, recorder = make_client(protocol)
    client.max_inflight_messages_set(2)
    assert client.max_queued_messages_set(5) is client
    infos = [client.publish(topic, str(i), qos=1) for i in range(6)]
    assert [info.rc for info in infos[:5]] == [mqtt.MQTT_ERR_NO_CONN] * 5
    assert infos[5].rc == mqtt.MQTT_ERR_QUEUE_SIZE
    with pytest.raises(ValueError):
        infos[5].wait_for_publish(0.1)
    connect(client, recorder, any_broker)
    for info in infos[:5]:
        info.wait_for_publish(WAIT)
        assert info.is_published()
    stop(client)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_from_many_threads_gets_distinct_mids_and_all_arrive(any_broker, qos):
    topic = unique("threads")
    client, recorder = make_client(mqtt.MQTTv311)
    connect(client, recorder, any_broker)
    client.subscribe(topic, 1)
    recorder.wait("on_subscribe")
    infos: list = []
    lock = threading.Lock()

    def worker(n):
        for i in range(50):
            info = client.publish(topic, f"{n}-{i}", qos=qos)
            with lock:
                infos.append(info)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len({info.mid for info in infos}) == 200
    for info in infos:
        info.wait_for_publish(WAIT)
        assert info.is_published()
    # Each completion found its info, however the publishing threads and the loop thread
    # interleaved: on_publish once per message.
    assert sorted(recorder.wait("on_publish")[0] for _ in range(200)) == sorted(
        info.mid for info in infos
    )
    payloads = {recorder.wait("on_message")[0].payload for _ in range(200)}
    assert payloads == {f"{n}-{i}".encode() for n in range(4) for i in range(50)}
    stop(client)


@pytest.mark.parametrize("protocol", VERSIONS)
def test_unix_socket_transport(mosquitto_broker, protocol):
    topic = unique("unix")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol, transport="unix")
    recorder = Recorder(client)
    client.connect(mosquitto_broker.unix_path)
    client.loop_start()
    assert recorder.wait("on_connect")[1] == 0
    client.subscribe(topic, 1)
    recorder.wait("on_subscribe")
    client.publish(topic, "over a unix socket", qos=1)
    assert recorder.wait("on_message")[0].payload == b"over a unix socket"
    stop(client)
