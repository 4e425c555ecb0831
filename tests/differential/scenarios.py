"""Client scenarios for the differential tests, each with its broker script.

Every scenario pins the client id (MQTT 3.1 would otherwise make a random one), so the
bytes a client sends are fully determined by the scenario.
"""

from __future__ import annotations

from .fake_broker import (
    MQTT_V5,
    Close,
    Expect,
    ExpectClose,
    Mark,
    Packet,
    Send,
    ack,
    connack,
    decode,
    disconnect,
    frame,
    prop_int,
    prop_pair,
    prop_utf8,
    properties,
    publish,
    reply_to_last,
    suback,
    utf8,
    varint,
)
from .runner import Recording, Scenario, Session

PUBACK, PUBREC, PUBREL, PUBCOMP = 4, 5, 6, 7
INBOUND_PACKET_ID = 7
SUBSCRIPTIONS = [("a/b", 0), ("c/#", 2), ("denied/#", 1)]


def packets(recording: Recording, version: int) -> list[Packet]:
    return [decode(raw, version) for raw in recording.received]


def call_result(recording: Recording, method: str) -> list:
    return [event[2] for event in recording.events if event[:2] == ("call", method)]


def reason_value(value):
    """The number in a normalised ReasonCode or int (V1 MQTT 3 gives plain ints)."""
    return value[2] if value[0] == "ReasonCode" else value[1]


def accepted(version):
    return [Expect("CONNECT"), Send(connack(version, 0))]


def client_disconnects():
    return [Expect("DISCONNECT"), ExpectClose()]


def v5_publish_properties():
    # Content Type "text/plain" and User Property ("k", "v")
    body = bytes([0x03]) + utf8("text/plain") + bytes([0x26]) + utf8("k") + utf8("v")
    return varint(len(body)) + body


def unsuback(version, packet_id):
    body = packet_id.to_bytes(2, "big")
    if version == MQTT_V5:
        body += b"\x00" + bytes([0x00, 0x11])  # Success, No subscription found
    return frame(0xB0, body)


# --------------------------------------------------------------------- connection


def connect_then_disconnect(session: Session) -> None:
    session.connect()
    session.until_callback("on_connect")
    session.call("is_connected")
    session.call("disconnect")
    session.until_broker_done()
    session.call("is_connected")


def check_connected_then_not(recording: Recording, version: int, api: int) -> None:
    assert call_result(recording, "is_connected") == [("bool", True), ("bool", False)]
    (on_connect,) = recording.callbacks("on_connect")
    assert reason_value(on_connect[3]) == 0
    assert packets(recording, version)[-1].name == "DISCONNECT"


CONNECT_ACCEPTED = Scenario(
    name="connect_accepted",
    script=lambda v: accepted(v) + client_disconnects(),
    action=connect_then_disconnect,
    expected_callbacks=lambda v, api: ["on_connect", "on_disconnect"],
    check=check_connected_then_not,
)


def refused(code_v3, code_v5):
    def script(version):
        code = code_v5 if version == MQTT_V5 else code_v3
        return [Expect("CONNECT"), Send(connack(version, code)), Close()]

    return script


def check_refused(code_v3, code_v5):
    def check(recording: Recording, version: int, api: int) -> None:
        (on_connect,) = recording.callbacks("on_connect")
        expected = code_v3 if version != MQTT_V5 and api == 1 else code_v5
        assert reason_value(on_connect[3]) == expected
        assert call_result(recording, "is_connected") == [("bool", False)]
        assert [packet.name for packet in packets(recording, version)] == ["CONNECT"]

    return check


def connect_refused(session: Session) -> None:
    session.connect()
    session.until_callback("on_disconnect")
    session.call("is_connected")


def connect_with_credentials(session: Session) -> None:
    session.call("username_pw_set", "user", "wrong")
    connect_refused(session)


CONNECT_BAD_CREDENTIALS = Scenario(
    name="connect_refused_bad_credentials",
    script=refused(4, 0x86),
    action=connect_with_credentials,
    expected_callbacks=lambda v, api: ["on_connect", "on_disconnect"],
    check=check_refused(4, 0x86),
)

CONNECT_NOT_AUTHORISED = Scenario(
    name="connect_refused_not_authorised",
    script=refused(5, 0x87),
    action=connect_refused,
    expected_callbacks=lambda v, api: ["on_connect", "on_disconnect"],
    check=check_refused(5, 0x87),
)


def subscribe_then_lose_connection(session: Session) -> None:
    session.connect()
    session.until_callback("on_connect")
    session.call("subscribe", "x/y", 1)
    session.until_callback("on_disconnect")
    session.call("is_connected")


def check_connection_lost(recording: Recording, version: int, api: int) -> None:
    assert call_result(recording, "is_connected") == [("bool", False)]
    assert not recording.callbacks("on_subscribe")
    if api == 2:
        assert reason_value(recording.callbacks("on_disconnect")[0][3]) != 0


BROKER_CLOSES_MID_FLOW = Scenario(
    name="broker_closes_mid_flow",
    script=lambda v: accepted(v) + [Expect("SUBSCRIBE"), Close()],
    action=subscribe_then_lose_connection,
    expected_callbacks=lambda v, api: ["on_connect", "on_disconnect"],
    check=check_connection_lost,
)


def broker_sends_disconnect(session: Session) -> None:
    session.connect()
    session.until_callback("on_connect")
    session.until_callback("on_disconnect")
    session.call("is_connected")


def check_server_disconnect(recording: Recording, version: int, api: int) -> None:
    (on_disconnect,) = recording.callbacks("on_disconnect")
    reason = on_disconnect[3] if api == 2 else on_disconnect[2]
    assert reason_value(reason) == 0x8B


BROKER_DISCONNECTS = Scenario(
    name="broker_disconnects_v5",
    script=lambda v: accepted(v) + [Send(disconnect(v, 0x8B)), Close()],
    action=broker_sends_disconnect,
    expected_callbacks=lambda v, api: ["on_connect", "on_disconnect"],
    versions=(MQTT_V5,),
    check=check_server_disconnect,
)


# ------------------------------------------------------------------ subscriptions


def subscribe_script(version):
    refused_code = 0x87 if version == MQTT_V5 else 0x80
    granted = [0, 2, refused_code]
    return (
        accepted(version)
        + [Expect("SUBSCRIBE"), reply_to_last(lambda pid: suback(version, pid, granted))]
        + [Expect("UNSUBSCRIBE"), reply_to_last(lambda pid: unsuback(version, pid))]
        + client_disconnects()
    )


def subscribe_and_unsubscribe(session: Session) -> None:
    session.connect()
    session.until_callback("on_connect")
    session.call("subscribe", SUBSCRIPTIONS)
    session.until_callback("on_subscribe")
    session.call("unsubscribe", ["a/b", "gone"])
    session.until_callback("on_unsubscribe")
    session.call("disconnect")
    session.until_broker_done()


def check_subscribe(recording: Recording, version: int, api: int) -> None:
    subscribe, unsubscribe = (
        packet for packet in packets(recording, version) if packet.name.endswith("SUBSCRIBE")
    )
    assert subscribe.fields["filters"] == [(t.encode(), q) for t, q in SUBSCRIPTIONS]
    assert unsubscribe.fields["filters"] == [b"a/b", b"gone"]
    ((_, subscribe_mid),) = call_result(recording, "subscribe")
    ((_, unsubscribe_mid),) = call_result(recording, "unsubscribe")
    assert subscribe.fields["packet_id"] == subscribe_mid[1]
    assert unsubscribe.fields["packet_id"] == unsubscribe_mid[1] != subscribe_mid[1]
    (on_subscribe,) = recording.callbacks("on_subscribe")
    assert on_subscribe[2] == subscribe_mid
    assert len(on_subscribe[3]) == len(SUBSCRIPTIONS)
    assert recording.callbacks("on_unsubscribe")[0][2] == unsubscribe_mid


SUBSCRIBE = Scenario(
    name="subscribe_unsubscribe",
    script=subscribe_script,
    action=subscribe_and_unsubscribe,
    check=check_subscribe,
    expected_callbacks=lambda v, api: [
        "on_connect",
        "on_subscribe",
        "on_unsubscribe",
        "on_disconnect",
    ],
)


# ------------------------------------------------------------------ publishing


def outbound_script(qos):
    def script(version):
        steps = accepted(version) + [Expect("PUBLISH")]
        if qos == 1:
            steps.append(reply_to_last(lambda pid: ack(PUBACK, version, pid)))
        elif qos == 2:
            steps.append(reply_to_last(lambda pid: ack(PUBREC, version, pid)))
            steps.append(Expect("PUBREL"))
            steps.append(reply_to_last(lambda pid: ack(PUBCOMP, version, pid)))
        return steps + client_disconnects()

    return script


def publish_action(qos):
    def action(session: Session) -> None:
        session.connect()
        session.until_callback("on_connect")
        session.call("publish", "t/out", b"payload", qos, False)
        session.until_callback("on_publish")
        session.call("disconnect")
        session.until_broker_done()

    return action


def check_outbound(qos):
    def check(recording: Recording, version: int, api: int) -> None:
        sent = packets(recording, version)
        (message,) = [packet for packet in sent if packet.name == "PUBLISH"]
        fields = message.fields
        assert (fields["topic"], fields["payload"], fields["qos"]) == (b"t/out", b"payload", qos)
        assert not fields["retain"] and not fields["dup"]
        ((_, rc, mid),) = call_result(recording, "publish")
        assert rc[1] == "MQTT_ERR_SUCCESS"
        assert recording.callbacks("on_publish")[0][2] == mid == ("int", 1)
        if qos:
            assert fields["packet_id"] == mid[1]
        if qos == 2:
            (pubrel,) = [packet for packet in sent if packet.name == "PUBREL"]
            assert pubrel.fields["packet_id"] == mid[1] and pubrel.flags == 0x02

    return check


def outbound(qos):
    return Scenario(
        name=f"publish_qos{qos}",
        script=outbound_script(qos),
        action=publish_action(qos),
        expected_callbacks=lambda v, api: ["on_connect", "on_publish", "on_disconnect"],
        check=check_outbound(qos),
    )


# ---------------------------------------------------------------- inbound messages


def inbound_script(qos):
    def script(version):
        packet_id = INBOUND_PACKET_ID if qos else 0
        message = publish(
            version,
            "t/in",
            b"hello",
            qos=qos,
            packet_id=packet_id,
            retain=True,
            properties=v5_publish_properties(),
        )
        steps = accepted(version) + [Send(message)]
        if qos == 1:
            steps.append(Expect("PUBACK"))
        elif qos == 2:
            steps += [Expect("PUBREC"), Send(ack(PUBREL, version, packet_id)), Expect("PUBCOMP")]
        return steps + [Mark("acknowledged")] + client_disconnects()

    return script


def receive_message(session: Session) -> None:
    session.connect()
    session.until_callback("on_message")
    session.until_mark("acknowledged")
    session.call("disconnect")
    session.until_broker_done()


def check_inbound(qos):
    def check(recording: Recording, version: int, api: int) -> None:
        ((_, _, message),) = recording.callbacks("on_message")
        _, topic, payload, message_qos, retain, dup, mid, properties, _ = message
        assert (topic, payload, message_qos, retain, dup) == (
            "t/in",
            b"hello",
            qos,
            ("bool", True),
            ("bool", False),
        )
        assert mid == (INBOUND_PACKET_ID if qos else 0)
        if version == MQTT_V5:
            assert properties[2] == {"ContentType": "text/plain", "UserProperty": [("k", "v")]}
        else:
            assert properties is None
        acks = [packet for packet in packets(recording, version) if packet.name.startswith("PUB")]
        expected = {0: [], 1: ["PUBACK"], 2: ["PUBREC", "PUBCOMP"]}[qos]
        assert [packet.name for packet in acks] == expected
        assert all(packet.fields["packet_id"] == INBOUND_PACKET_ID for packet in acks)

    return check


def inbound(qos):
    return Scenario(
        name=f"inbound_qos{qos}",
        script=inbound_script(qos),
        action=receive_message,
        expected_callbacks=lambda v, api: ["on_connect", "on_message", "on_disconnect"],
        check=check_inbound(qos),
    )


# ------------------------------------------------------- will, credentials, properties


def connect_with_will_and_credentials(session: Session) -> None:
    module, kwargs = session.module, {}
    if session.protocol == MQTT_V5:
        will_properties = module.Properties(module.PacketTypes.WILLMESSAGE)
        will_properties.WillDelayInterval = 5
        will_properties.UserProperty = ("w", "1")
        kwargs["properties"] = will_properties
    session.call("will_set", "w/t", b"bye", 1, True, **kwargs)
    session.call("username_pw_set", "user", "secret")
    connect_then_disconnect(session)


def check_will_and_credentials(recording: Recording, version: int, api: int) -> None:
    connect = packets(recording, version)[0].fields
    # username, password, will retain, will QoS 1, will, clean session/start
    assert connect["connect_flags"] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02
    assert (connect["will_topic"], connect["will_payload"]) == (b"w/t", b"bye")
    assert (connect["username"], connect["password"]) == (b"user", b"secret")
    if version == MQTT_V5:
        expected = properties(prop_int(24, 5, 4), prop_pair(38, "w", "1"))
        assert connect["will_properties"] == expected[1:]


WILL_AND_CREDENTIALS = Scenario(
    name="will_and_credentials",
    script=lambda v: accepted(v) + client_disconnects(),
    action=connect_with_will_and_credentials,
    expected_callbacks=lambda v, api: ["on_connect", "on_disconnect"],
    check=check_will_and_credentials,
)

CONNACK_PROPERTIES = properties(
    prop_int(19, 30, 2),  # Server Keep Alive
    prop_utf8(31, "welcome"),  # Reason String
    prop_int(34, 5, 2),  # Topic Alias Maximum
    prop_int(36, 1, 1),  # Maximum QoS
    prop_pair(38, "server", "fake"),
)


def connect_with_properties(session: Session) -> None:
    module = session.module
    connect_properties = module.Properties(module.PacketTypes.CONNECT)
    connect_properties.SessionExpiryInterval = 30
    connect_properties.ReceiveMaximum = 10
    connect_properties.UserProperty = ("a", "b")
    session.connect(clean_start=False, properties=connect_properties)
    session.until_callback("on_connect")
    session.call("disconnect")
    session.until_broker_done()


def check_connect_properties(recording: Recording, version: int, api: int) -> None:
    connect = packets(recording, version)[0].fields
    assert connect["connect_flags"] == 0x00  # clean start off
    expected = properties(prop_int(17, 30, 4), prop_int(33, 10, 2), prop_pair(38, "a", "b"))
    assert connect["properties"] == expected[1:]
    (on_connect,) = recording.callbacks("on_connect")
    flags, props = on_connect[2], on_connect[4]
    assert flags == (
        {"session present": ("int", 1)} if api == 1 else ("ConnectFlags", (("bool", True),))
    )
    assert props[2] == {
        "ServerKeepAlive": ("int", 30),
        "ReasonString": "welcome",
        "TopicAliasMaximum": ("int", 5),
        "MaximumQoS": ("int", 1),
        "UserProperty": [("server", "fake")],
    }


CONNECT_V5_PROPERTIES = Scenario(
    name="connect_v5_properties",
    script=lambda v: (
        [Expect("CONNECT"), Send(connack(v, 0, True, CONNACK_PROPERTIES))] + client_disconnects()
    ),
    action=connect_with_properties,
    expected_callbacks=lambda v, api: ["on_connect", "on_disconnect"],
    versions=(MQTT_V5,),
    check=check_connect_properties,
)

PUBACK_PROPERTIES = properties(prop_utf8(31, "nobody listens"))


def publish_with_properties(session: Session) -> None:
    module = session.module
    publish_properties = module.Properties(module.PacketTypes.PUBLISH)
    publish_properties.ContentType = "application/json"
    publish_properties.MessageExpiryInterval = 60
    publish_properties.CorrelationData = b"\x01\x02"
    publish_properties.ResponseTopic = "r/t"
    publish_properties.UserProperty = ("x", "y")
    session.connect()
    session.until_callback("on_connect")
    session.call("publish", "t/props", '{"a": 1}', 1, True, publish_properties)
    session.until_callback("on_publish")
    session.call("disconnect")
    session.until_broker_done()


def check_publish_properties(recording: Recording, version: int, api: int) -> None:
    (message,) = [packet for packet in packets(recording, version) if packet.name == "PUBLISH"]
    expected = properties(
        prop_int(2, 60, 4),
        prop_utf8(3, "application/json"),
        prop_utf8(8, "r/t"),
        bytes([9]) + utf8(b"\x01\x02"),
        prop_pair(38, "x", "y"),
    )
    assert message.fields["properties"] == expected[1:]
    assert (message.fields["payload"], message.fields["retain"]) == (b'{"a": 1}', True)
    (on_publish,) = recording.callbacks("on_publish")
    if api == 2:
        assert on_publish[3] == ("ReasonCode", 4, 16, "No matching subscribers")
        assert on_publish[4][2] == {"ReasonString": "nobody listens"}


PUBLISH_V5_PROPERTIES = Scenario(
    name="publish_v5_properties",
    script=lambda v: (
        accepted(v)
        + [
            Expect("PUBLISH"),
            reply_to_last(lambda pid: ack(PUBACK, v, pid, 0x10, PUBACK_PROPERTIES)),
        ]
        + client_disconnects()
    ),
    action=publish_with_properties,
    expected_callbacks=lambda v, api: ["on_connect", "on_publish", "on_disconnect"],
    versions=(MQTT_V5,),
    check=check_publish_properties,
)


def subscribe_with_options(session: Session) -> None:
    module = session.module
    options = module.SubscribeOptions(
        qos=1,
        noLocal=True,
        retainAsPublished=True,
        retainHandling=module.SubscribeOptions.RETAIN_DO_NOT_SEND,
    )
    subscribe_properties = module.Properties(module.PacketTypes.SUBSCRIBE)
    subscribe_properties.SubscriptionIdentifier = 42
    subscribe_properties.UserProperty = ("s", "1")
    session.connect()
    session.until_callback("on_connect")
    session.call("subscribe", "s/#", options=options, properties=subscribe_properties)
    session.until_callback("on_subscribe")
    session.call("disconnect")
    session.until_broker_done()


def check_subscribe_options(recording: Recording, version: int, api: int) -> None:
    (subscribe,) = [p for p in packets(recording, version) if p.name == "SUBSCRIBE"]
    # QoS 1 | No Local | Retain As Published | Retain Handling 2
    assert subscribe.fields["filters"] == [(b"s/#", 0x01 | 0x04 | 0x08 | 0x20)]
    expected = properties(bytes([11, 42]), prop_pair(38, "s", "1"))
    assert subscribe.fields["properties"] == expected[1:]
    (on_subscribe,) = recording.callbacks("on_subscribe")
    assert on_subscribe[3] == [("ReasonCode", 9, 1, "Granted QoS 1")]


SUBSCRIBE_V5_OPTIONS = Scenario(
    name="subscribe_v5_options",
    script=lambda v: (
        accepted(v)
        + [Expect("SUBSCRIBE"), reply_to_last(lambda pid: suback(v, pid, [1]))]
        + client_disconnects()
    ),
    action=subscribe_with_options,
    expected_callbacks=lambda v, api: ["on_connect", "on_subscribe", "on_disconnect"],
    versions=(MQTT_V5,),
    check=check_subscribe_options,
)


def disconnect_with_reason(session: Session) -> None:
    module = session.module
    reason = module.ReasonCode(module.PacketTypes.DISCONNECT, "Disconnect with will message")
    disconnect_properties = module.Properties(module.PacketTypes.DISCONNECT)
    disconnect_properties.SessionExpiryInterval = 0
    disconnect_properties.ReasonString = "leaving"
    session.connect()
    session.until_callback("on_connect")
    session.call("disconnect", reasoncode=reason, properties=disconnect_properties)
    session.until_broker_done()


def check_disconnect_reason(recording: Recording, version: int, api: int) -> None:
    last = packets(recording, version)[-1]
    assert (last.name, last.fields["reason"]) == ("DISCONNECT", 4)
    expected = properties(prop_int(17, 0, 4), prop_utf8(31, "leaving"))
    assert last.fields["properties"] == expected[1:]


DISCONNECT_V5_REASON = Scenario(
    name="disconnect_v5_reason",
    script=lambda v: accepted(v) + client_disconnects(),
    action=disconnect_with_reason,
    expected_callbacks=lambda v, api: ["on_connect", "on_disconnect"],
    versions=(MQTT_V5,),
    check=check_disconnect_reason,
)


SCENARIOS = [
    CONNECT_ACCEPTED,
    CONNECT_BAD_CREDENTIALS,
    CONNECT_NOT_AUTHORISED,
    BROKER_CLOSES_MID_FLOW,
    BROKER_DISCONNECTS,
    SUBSCRIBE,
    outbound(0),
    outbound(1),
    outbound(2),
    inbound(0),
    inbound(1),
    inbound(2),
    WILL_AND_CREDENTIALS,
    CONNECT_V5_PROPERTIES,
    PUBLISH_V5_PROPERTIES,
    SUBSCRIBE_V5_OPTIONS,
    DISCONNECT_V5_REASON,
]
