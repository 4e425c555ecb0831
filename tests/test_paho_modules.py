"""The paho-shaped modules behave as paho-mqtt 2.2's, checked side by side with the real paho."""

import enum
import inspect
import itertools
from types import MappingProxyType

import paho.mqtt.enums as paho_enums
import paho.mqtt.exception as paho_exception
import paho.mqtt.matcher as paho_matcher
import paho.mqtt.packettypes as paho_packettypes
import paho.mqtt.properties as paho_properties
import paho.mqtt.reasoncodes as paho_reasoncodes
import paho.mqtt.subscribeoptions as paho_subscribeoptions
import pytest

import ferromqtt
import ferromqtt.enums as ferro_enums
import ferromqtt.exception as ferro_exception
import ferromqtt.matcher as ferro_matcher
import ferromqtt.packettypes as ferro_packettypes
import ferromqtt.properties as ferro_properties
import ferromqtt.reasoncodes as ferro_reasoncodes
import ferromqtt.subscribeoptions as ferro_subscribeoptions
from paho_compare import normalise, outcome

PACKET_TYPES = [*range(0, 17), 99]
ENUM_NAMES = [
    "MQTTErrorCode",
    "MQTTProtocolVersion",
    "CallbackAPIVersion",
    "MessageType",
    "LogLevel",
    "ConnackCode",
    "MessageState",
    "PahoClientMode",
]


def both(build):
    """``build(module)`` under paho and ferromqtt, as two outcomes."""
    return build("paho"), build("ferro")


# ---------------------------------------------------------------------------------- enums


@pytest.mark.parametrize("name", ENUM_NAMES)
def test_enum_has_the_same_members_values_and_base_as_paho(name):
    paho_enum, ferro_enum = getattr(paho_enums, name), getattr(ferro_enums, name)
    assert [(m.name, m.value) for m in ferro_enum] == [(m.name, m.value) for m in paho_enum]
    assert issubclass(ferro_enum, enum.IntEnum) == issubclass(paho_enum, enum.IntEnum)
    assert issubclass(ferro_enum, enum.Enum)


def test_callback_api_version_is_a_plain_enum_that_never_equals_an_int():
    assert ferro_enums.CallbackAPIVersion.VERSION2 != 2
    assert paho_enums.CallbackAPIVersion.VERSION2 != 2
    assert ferro_enums.MQTTErrorCode.MQTT_ERR_NO_CONN == 4


# ----------------------------------------------------------------------- packet types


def test_packet_types_are_the_same_plain_ints_and_names():
    def public(cls):
        return {k: v for k, v in vars(cls).items() if not k.startswith("_")}

    assert public(ferro_packettypes.PacketTypes) == public(paho_packettypes.PacketTypes)
    assert ferro_packettypes.PacketTypes.WILLMESSAGE == 99
    assert not isinstance(ferro_packettypes.PacketTypes.PUBLISH, enum.Enum)


# ------------------------------------------------------------------------- exceptions


def test_exception_hierarchy_matches_and_package_reexports_the_same_class():
    assert issubclass(ferro_exception.MalformedPacket, ferro_exception.MQTTException)
    assert issubclass(paho_exception.MalformedPacket, paho_exception.MQTTException)
    assert ferromqtt.MQTTException is ferro_exception.MQTTException
    assert ferro_properties.MQTTException is ferro_exception.MQTTException
    assert ferro_properties.MalformedPacket is ferro_exception.MalformedPacket
    assert ferro_subscribeoptions.MQTTException is not ferro_exception.MQTTException
    assert "MQTTException" in ferromqtt.__all__


# ------------------------------------------------------------------------ reason codes


def reason_code_view(rc):
    """Everything observable about a ReasonCode that should not depend on the library."""
    return (
        rc.packetType,
        rc.value,
        rc.getName(),
        str(rc),
        repr(rc),
        rc.json(),
        normalise(rc.pack()),
        rc.is_failure,
        bool(rc),
    )


def make_rc(lib, *args, **kwargs):
    module = paho_reasoncodes if lib == "paho" else ferro_reasoncodes
    return reason_code_view(module.ReasonCode(*args, **kwargs))


@pytest.mark.parametrize("packet_type", PACKET_TYPES)
def test_reason_code_by_identifier_matches_paho_for_every_code_and_packet_type(packet_type):
    for identifier in [*range(0, 256, 1), -2]:
        paho, ferro = (
            outcome(make_rc, lib, packet_type, identifier=identifier) for lib in ("paho", "ferro")
        )
        assert ferro == paho, (packet_type, identifier)


@pytest.mark.parametrize("packet_type", PACKET_TYPES)
def test_reason_code_by_name_matches_paho(packet_type):
    names = {name for by_name in paho_reasoncodes.ReasonCode.names.values() for name in by_name}
    for name in sorted(names) + ["Nonsense", "success"]:
        paho, ferro = (outcome(make_rc, lib, packet_type, name) for lib in ("paho", "ferro"))
        assert ferro == paho, (packet_type, name)
    paho, ferro = (outcome(make_rc, lib, packet_type) for lib in ("paho", "ferro"))
    assert ferro == paho


def test_reason_code_names_table_is_paho_table_and_read_only():
    ferro_names = ferro_reasoncodes.ReasonCode.names
    assert isinstance(ferro_names, MappingProxyType)
    assert dict(ferro_names) == dict(paho_reasoncodes.ReasonCode.names)
    assert list(ferro_names) == list(paho_reasoncodes.ReasonCode.names)
    with pytest.raises(TypeError):
        ferro_names[1] = {}  # type: ignore[index]
    rc = ferro_reasoncodes.ReasonCode(2)
    assert rc.names == dict(ferro_names)


def test_disconnect_default_is_normal_disconnection():
    rc = ferro_reasoncodes.ReasonCode(ferro_packettypes.PacketTypes.DISCONNECT)
    assert (rc.value, rc.getName()) == (0, "Normal disconnection")
    assert repr(rc) == "ReasonCode(Disconnect, 'Normal disconnection')"


COMPARANDS = [0, 1, 2, 128, 135, True, "Success", "Granted QoS 1", "Not authorized", None, 1.0]


@pytest.mark.parametrize(
    "args", [(2, "Success"), (9, "Granted QoS 1"), (2, "Not authorized"), (14, "Success")]
)
def test_reason_code_comparisons_match_paho(args):
    def compare(lib):
        module = paho_reasoncodes if lib == "paho" else ferro_reasoncodes
        rc = module.ReasonCode(*args)
        others = [
            *COMPARANDS,
            module.ReasonCode(2, identifier=135),
            module.ReasonCode(9, "Granted QoS 0"),
        ]
        results = []
        for other in others:
            for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
                results.append((op, outcome(lambda o=other, op=op: getattr(rc, op)(o))))
            results.append(("==", rc == other, other == rc, rc != other))
            for symbol, fn in (("<", lambda a, b: a < b), (">=", lambda a, b: a >= b)):
                results.append((symbol, outcome(fn, rc, other), outcome(fn, other, rc)))
        results.append(("hash", outcome(hash, rc)))
        results.append(("int", outcome(int, rc)))
        results.append(("index", outcome(lambda: [1, 2, 3][rc])))
        results.append(("bool", bool(rc)))
        return results

    assert compare("ferro") == compare("paho")


def test_reason_code_is_unhashable_and_always_truthy():
    rc = ferro_reasoncodes.ReasonCode(2, "Success")
    with pytest.raises(TypeError):
        hash(rc)
    assert bool(rc) is True
    assert rc == 0 and rc == "Success" and rc < 1 and not rc.is_failure
    assert ferro_reasoncodes.ReasonCode(2, "Not authorized").is_failure


def test_reason_code_set_unpack_and_get_id_match_paho():
    def run(lib):
        module = paho_reasoncodes if lib == "paho" else ferro_reasoncodes
        rc = module.ReasonCode(4)
        steps = [outcome(rc.set, "No matching subscribers"), reason_code_view(rc)]
        steps += [outcome(rc.set, "Banned"), reason_code_view(rc)]
        for buffer in (b"\x87", b"\x10rest", b"\x01", b"\x92", bytearray(b"\x80"), b""):
            steps += [outcome(rc.unpack, buffer), outcome(reason_code_view, rc)]
        for name in ("Success", "Quota exceeded", "Banned"):
            steps.append(outcome(rc.getId, name))
        steps.append(outcome(rc.__getName__, 9, 2))
        steps.append(outcome(rc.__getName__, 9, 3))
        steps.append(outcome(rc.__getName__, 3, 0))
        return steps

    assert run("ferro") == run("paho")


def test_reason_codes_alias_warns_and_accepts_any_reason_code():
    with pytest.warns(DeprecationWarning, match="ReasonCodes is deprecated"):
        old = ferro_reasoncodes.ReasonCodes(2, "Banned")
    assert old == 138
    assert isinstance(ferro_reasoncodes.ReasonCode(2), ferro_reasoncodes.ReasonCodes)
    assert issubclass(ferro_reasoncodes.ReasonCodes, ferro_reasoncodes.ReasonCode)


# -------------------------------------------------------------------------- properties

SAMPLE_VALUES = {
    "PayloadFormatIndicator": [0, 1, 2, -1],
    "MessageExpiryInterval": [0, 4294967295],
    "ContentType": ["text/plain", "", "é"],
    "ResponseTopic": ["reply/to"],
    "CorrelationData": [b"\x00\x01", b""],
    "SubscriptionIdentifier": [0, 1, 268435455, 268435456, [3, 4]],
    "SessionExpiryInterval": [0, 3600],
    "AssignedClientIdentifier": ["assigned"],
    "ServerKeepAlive": [0, 65535],
    "AuthenticationMethod": ["SCRAM"],
    "AuthenticationData": [b"\xff"],
    "RequestProblemInformation": [0, 1, 2],
    "WillDelayInterval": [5],
    "RequestResponseInformation": [1, 3],
    "ResponseInformation": ["info"],
    "ServerReference": ["other:1883"],
    "ReasonString": ["why"],
    "ReceiveMaximum": [0, 1, 65535, 65536],
    "TopicAliasMaximum": [-1, 0, 65535, 65536],
    "TopicAlias": [0, 1, 65535, 65536],
    "MaximumQoS": [0, 1],
    "RetainAvailable": [1],
    "UserProperty": [("k", "v"), [("a", "1"), ("b", "2")], ("ü", "")],
    "MaximumPacketSize": [0, 1, 268435455, 268435456],
    "WildcardSubscriptionAvailable": [0],
    "SubscriptionIdentifierAvailable": [1],
    "SharedSubscriptionAvailable": [1],
    "NoSuchProperty": [1],
    "Topic Alias": [7],
}


def properties_view(props):
    return (str(props), normalise(props.json()), props.isEmpty(), outcome(props.pack))


def make_props(lib, packet_type):
    module = paho_properties if lib == "paho" else ferro_properties
    return module.Properties(packet_type)


@pytest.mark.parametrize("packet_type", PACKET_TYPES)
def test_property_assignment_matches_paho_for_every_packet_type(packet_type):
    for name, values in SAMPLE_VALUES.items():
        for value in values:
            results = []
            for lib in ("paho", "ferro"):
                props = make_props(lib, packet_type)
                first = outcome(setattr, props, name, value)
                second = outcome(setattr, props, name, value)
                results.append((first, second, outcome(properties_view, props)))
            assert results[1] == results[0], (packet_type, name, value)


def full_properties(lib, packet_type):
    """Every property the packet type allows, with two user properties."""
    props = make_props(lib, packet_type)
    for name, values in SAMPLE_VALUES.items():
        ident = props.getIdentFromName(name)
        if ident == -1 or packet_type not in props.properties[ident][1]:
            continue
        for value in values:
            try:
                setattr(props, name, value)
            except (paho_properties.MQTTException, ferro_properties.MQTTException):
                continue
            if not props.allowsMultiple(name):
                break
    return props


@pytest.mark.parametrize("packet_type", [*range(1, 16), 99])
def test_properties_pack_to_the_same_bytes_as_paho(packet_type):
    paho = full_properties("paho", packet_type)
    ferro = full_properties("ferro", packet_type)
    assert ferro.json() == paho.json()
    assert type(ferro.pack()) is type(paho.pack())
    assert ferro.pack() == paho.pack()
    assert str(ferro) == str(paho)
    if packet_type in (1, 2, 3, 99):
        assert len(ferro.pack()) > 5, "the sample should carry several properties"


@pytest.mark.parametrize("packet_type", [*range(1, 16), 99])
def test_properties_unpack_paho_bytes_and_round_trip(packet_type):
    wire = full_properties("paho", packet_type).pack()
    for lib in ("paho", "ferro"):
        props = make_props(lib, packet_type)
        result, consumed = props.unpack(wire + b"trailing")
        assert result is props
        assert consumed == len(wire)
    paho = make_props("paho", packet_type).unpack(wire)[0]
    ferro = make_props("ferro", packet_type).unpack(wire)[0]
    assert ferro.json() == paho.json()
    assert ferro.pack() == wire


def test_empty_properties_pack_to_one_zero_byte():
    props = ferro_properties.Properties(ferro_packettypes.PacketTypes.CONNECT)
    assert props.pack() == b"\x00"
    assert props.isEmpty() and str(props) == "[]" and props.json() == {}
    props.SessionExpiryInterval = 10
    assert not props.isEmpty()
    props.clear()
    assert props.isEmpty() and not hasattr(props, "SessionExpiryInterval")


def test_user_property_and_subscription_identifier_accumulate():
    props = ferro_properties.Properties(ferro_packettypes.PacketTypes.PUBLISH)
    props.UserProperty = ("a", "1")
    props.UserProperty = [("b", "2"), ("c", "3")]
    props.SubscriptionIdentifier = 1
    props.SubscriptionIdentifier = 2
    assert props.UserProperty == [("a", "1"), ("b", "2"), ("c", "3")]
    assert props.SubscriptionIdentifier == [1, 2]


MALFORMED = [
    b"",
    b"\x80",
    b"\xff\xff\xff\xff\x01",
    b"\x02\x01",
    b"\x03\x23\x00",
    b"\x05\x03\x00\x05ab",
    b"\x03\x03\x00\x01",
    b"\x04\x03\x00\x01\x00",
    b"\x05\x03\x00\x02\xed\xa0",
    b"\x05\x03\x00\x02\xc3\x28",
    b"\x06\x03\x00\x03\xef\xbb\xbf",
    b"\x04\x09\x00\x05\x01",
    b"\x01\x09",
    b"\x02\x7f\x00",
    b"\x04\x01\x01\x01\x01",
    b"\x02\x01\x01",
    b"\x02\x01\x02",
    b"\x02\x13\x00\x01",
    b"\x04\x23\x00\x00",
    b"\x06\x0b\x80\x80\x80\x80\x01",
    b"\x0b\x26\x00\x01a\x00\x05b",
    b"\x06\x26\x00\x01a\x00",
    b"\x04\x0b\x00",
    b"\x03\x0b\x80\x01",
    b"\x0a\x08\x00\x01t\x08\x00\x01u",
]


@pytest.mark.parametrize("packet_type", [3, 2, 8])
@pytest.mark.parametrize("wire", MALFORMED)
def test_properties_unpack_of_bad_bytes_fails_like_paho(packet_type, wire):
    def run(lib):
        props = make_props(lib, packet_type)
        props.UserProperty = ("left", "over")
        result = outcome(lambda: props.unpack(wire)[1])
        return result, outcome(properties_view, props)

    assert run("ferro") == run("paho")


@pytest.mark.parametrize("packet_type", [3, 1])
def test_properties_helpers_match_paho(packet_type):
    def run(lib):
        props = make_props(lib, packet_type)
        steps = [props.packetType, props.types, props.names, props.properties]
        for name in [*SAMPLE_VALUES, "", "Payload Format Indicator"]:
            steps.append((props.getIdentFromName(name), props.allowsMultiple(name)))
        for ident in range(0, 45):
            steps.append(props.getNameFromIdent(ident))
        for kind, value in [(0, 7), (1, 513), (2, 70000), (3, 300), (4, b"ab"), (5, "hé")]:
            steps.append(outcome(props.writeProperty, 1, kind, value))
        steps.append(outcome(props.writeProperty, 38, 6, ("k", "v")))
        steps.append(outcome(props.writeProperty, 1, 0, 256))
        steps.append(outcome(props.writeProperty, 3, 5, 5))
        for kind, buffer in [
            (0, b"\x07"),
            (1, b"\x02\x01"),
            (2, b"\x00\x01\x11\x70"),
            (3, b"\xac\x02"),
            (4, b"\x00\x02ab"),
            (5, b"\x00\x02hi"),
            (6, b"\x00\x01k\x00\x01v"),
            (1, b"\x02"),
        ]:
            steps.append(outcome(props.readProperty, buffer, kind, len(buffer)))
        return normalise(steps)

    assert run("ferro") == run("paho")


def test_property_errors_are_the_package_mqtt_exception():
    props = ferro_properties.Properties(ferro_packettypes.PacketTypes.PUBLISH)
    with pytest.raises(ferromqtt.MQTTException, match="Property name must be one of"):
        props.Nonsense = 1
    with pytest.raises(ferro_exception.MQTTException, match="does not apply to packet type"):
        props.ServerKeepAlive = 10
    with pytest.raises(ferro_exception.MQTTException, match="range 1-65535"):
        props.TopicAlias = 0


VBI_VALUES = [0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456, -1]
VBI_BUFFERS = [b"", b"\x00", b"\x7f", b"\x80\x01", b"\xff\x7f", b"\x80", b"\xff\xff\xff\x7f"]
VBI_BUFFERS += [b"\xff\xff\xff\xff\x7f", b"\xff\xff\xff\xff", b"\x80\x80\x80\x00", b"\x05rest"]


def test_module_functions_match_paho():
    def run(lib):
        module = paho_properties if lib == "paho" else ferro_properties
        vbi = module.VariableByteIntegers
        steps = [outcome(vbi.encode, value) for value in VBI_VALUES]
        steps += [outcome(vbi.decode, buffer) for buffer in VBI_BUFFERS]
        for value in (0, 1, 65535, 65536, -1):
            steps.append(outcome(module.writeInt16, value))
        for value in (0, 65536, 4294967295, 4294967296):
            steps.append(outcome(module.writeInt32, value))
        for buffer in (b"\x01\x02", b"\x01", b"\x01\x02\x03\x04\x05", b""):
            steps += [outcome(module.readInt16, buffer), outcome(module.readInt32, buffer)]
        for data in ("abc", b"abc", "", "é", bytearray(b"x"), 5):
            steps.append(outcome(module.writeUTF, data))
        for data in (b"abc", bytearray(b"ab"), b""):
            steps.append(outcome(module.writeBytes, data))
        for buffer, maxlen in [
            (b"\x00\x03abc", 5),
            (b"\x00\x03abc", 4),
            (b"\x00\x03abcdef", 9),
            (b"\x00", 1),
            (b"\x00\x05ab", 7),
            (b"\x00\x01\x00", 3),
            (b"\x00\x03\xef\xbb\xbf", 5),
            (b"\x00\x03\xed\xa0\x80", 5),
            (b"\x00\x01\xff", 3),
        ]:
            steps.append(outcome(module.readUTF, buffer, maxlen))
            steps.append(outcome(module.readBytes, buffer, maxlen))
        return steps

    assert run("ferro") == run("paho")


# ------------------------------------------------------------------- subscribe options


def subscribe_options_view(options):
    return (
        outcome(options.pack),
        str(options),
        repr(options),
        options.json(),
        options.names,
        (options.QoS, options.noLocal, options.retainAsPublished, options.retainHandling),
    )


@pytest.mark.parametrize("qos", [0, 1, 2, 3, -1])
def test_subscribe_options_construction_matches_paho(qos):
    for no_local, rap, handling in itertools.product([False, True], [False, True], range(-1, 4)):

        def build(lib, no_local=no_local, rap=rap, handling=handling):
            module = paho_subscribeoptions if lib == "paho" else ferro_subscribeoptions
            options = module.SubscribeOptions(qos, no_local, rap, handling)
            return subscribe_options_view(options)

        paho, ferro = (outcome(build, lib) for lib in ("paho", "ferro"))
        assert ferro == paho, (qos, no_local, rap, handling)


def test_subscribe_options_unpack_every_byte_matches_paho():
    def run(lib):
        module = paho_subscribeoptions if lib == "paho" else ferro_subscribeoptions
        steps = []
        for byte in range(256):
            options = module.SubscribeOptions()
            steps.append((outcome(options.unpack, bytes([byte])), subscribe_options_view(options)))
        return steps

    assert run("ferro") == run("paho")


def test_subscribe_options_reject_unknown_attributes_with_their_own_exception():
    options = ferro_subscribeoptions.SubscribeOptions(qos=1)
    with pytest.raises(ferro_subscribeoptions.MQTTException) as raised:
        options.qos = 2
    assert not isinstance(raised.value, ferro_exception.MQTTException)
    paho_options = paho_subscribeoptions.SubscribeOptions(qos=1)
    paho_result = outcome(setattr, paho_options, "qos", 2)
    assert outcome(setattr, options, "qos", 2) == paho_result
    options.QoS = 3
    with pytest.raises(AssertionError, match="QoS should be 0, 1 or 2, not 3"):
        options.pack()
    assert ferro_subscribeoptions.SubscribeOptions.RETAIN_DO_NOT_SEND == 2


def test_subscribe_options_signature_matches_paho():
    ferro = inspect.signature(ferro_subscribeoptions.SubscribeOptions)
    paho = inspect.signature(paho_subscribeoptions.SubscribeOptions)
    assert [(p.name, p.default) for p in ferro.parameters.values()] == [
        (p.name, p.default) for p in paho.parameters.values()
    ]


# ---------------------------------------------------------------------------- matcher

MATCHER_OPERATIONS = [
    ("set", "a/b", 1),
    ("set", "a/+", 2),
    ("set", "#", 3),
    ("set", "a/#", 4),
    ("set", "+/+/c", 5),
    ("set", "$SYS/#", 6),
    ("set", "a/b", 7),
    ("get", "a/b"),
    ("get", "a"),
    ("get", "a/+/c"),
    ("match", "a/b"),
    ("match", "a"),
    ("match", "a/x/c"),
    ("match", "$SYS/load"),
    ("match", "+"),
    ("del", "a/+"),
    ("del", "a/+"),
    ("del", "a"),
    ("match", "a/b"),
    ("set", "x/y", None),
    ("get", "x/y"),
    ("del", "x/y"),
    ("del", "#"),
    ("del", "a/#"),
    ("match", "a/b/c"),
    ("del", "a/b"),
    ("del", "+/+/c"),
    ("del", "$SYS/#"),
    ("match", "a/b"),
]


def test_matcher_operations_match_paho():
    def run(module):
        matcher = module.MQTTMatcher()
        steps = []
        for operation, key, *value in MATCHER_OPERATIONS:
            if operation == "set":
                steps.append(outcome(matcher.__setitem__, key, value[0]))
            elif operation == "get":
                steps.append(outcome(matcher.__getitem__, key))
            elif operation == "del":
                steps.append(outcome(matcher.__delitem__, key))
            else:
                steps.append(outcome(lambda k=key: list(matcher.iter_match(k))))
        steps.append(sorted(matcher._root._children))
        return steps

    ferro, paho = run(ferro_matcher), run(paho_matcher)
    assert ferro == paho
    # Only the valueless "x/y" path (never deletable) is left after deleting every filter.
    assert ferro[-1] == ["x"]


def test_matcher_node_is_nested_with_slots():
    node = ferro_matcher.MQTTMatcher.Node()
    assert ferro_matcher.MQTTMatcher.Node.__slots__ == paho_matcher.MQTTMatcher.Node.__slots__
    assert node._children == {} and node._content is None
    with pytest.raises(AttributeError):
        node.other = 1
