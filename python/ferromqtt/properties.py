"""MQTT 5 properties (``paho.mqtt.properties``): attribute-style access and wire encoding.

``Properties(PacketTypes.PUBLISH)`` starts empty; each property is an attribute named as in
the spec without spaces (``MessageExpiryInterval``). Assignments are checked against the
packet type and the value ranges; ``UserProperty`` and ``SubscriptionIdentifier`` accumulate.
``pack()`` gives the wire form (Variable Byte Integer length, then the properties in
ascending identifier order, as paho writes them), which the Rust core decodes as is;
``unpack()`` reads the same form back.
"""

import struct

from ._lazy import CopiedOnFirstUse
from .exception import MalformedPacket, MQTTException
from .packettypes import PacketTypes

_MAX_VBI = 268435455

# The data types of MQTT 5.0 section 2.2.2.2, in paho's order (their index is the "type").
_TYPES = (
    "Byte",
    "Two Byte Integer",
    "Four Byte Integer",
    "Variable Byte Integer",
    "Binary Data",
    "UTF-8 Encoded String",
    "UTF-8 String Pair",
)
_BYTE, _INT16, _INT32, _VBI, _BINARY, _UTF8, _PAIR = range(len(_TYPES))

_P = PacketTypes
# MQTT 5.0 section 2.2.2.2, table 2-4: identifier, name, data type, packets allowed in.
_TABLE = (
    (1, "Payload Format Indicator", _BYTE, (_P.PUBLISH, _P.WILLMESSAGE)),
    (2, "Message Expiry Interval", _INT32, (_P.PUBLISH, _P.WILLMESSAGE)),
    (3, "Content Type", _UTF8, (_P.PUBLISH, _P.WILLMESSAGE)),
    (8, "Response Topic", _UTF8, (_P.PUBLISH, _P.WILLMESSAGE)),
    (9, "Correlation Data", _BINARY, (_P.PUBLISH, _P.WILLMESSAGE)),
    (11, "Subscription Identifier", _VBI, (_P.PUBLISH, _P.SUBSCRIBE)),
    (17, "Session Expiry Interval", _INT32, (_P.CONNECT, _P.CONNACK, _P.DISCONNECT)),
    (18, "Assigned Client Identifier", _UTF8, (_P.CONNACK,)),
    (19, "Server Keep Alive", _INT16, (_P.CONNACK,)),
    (21, "Authentication Method", _UTF8, (_P.CONNECT, _P.CONNACK, _P.AUTH)),
    (22, "Authentication Data", _BINARY, (_P.CONNECT, _P.CONNACK, _P.AUTH)),
    (23, "Request Problem Information", _BYTE, (_P.CONNECT,)),
    (24, "Will Delay Interval", _INT32, (_P.WILLMESSAGE,)),
    (25, "Request Response Information", _BYTE, (_P.CONNECT,)),
    (26, "Response Information", _UTF8, (_P.CONNACK,)),
    (28, "Server Reference", _UTF8, (_P.CONNACK, _P.DISCONNECT)),
    (
        31,
        "Reason String",
        _UTF8,
        (
            _P.CONNACK,
            _P.PUBACK,
            _P.PUBREC,
            _P.PUBREL,
            _P.PUBCOMP,
            _P.SUBACK,
            _P.UNSUBACK,
            _P.DISCONNECT,
            _P.AUTH,
        ),
    ),
    (33, "Receive Maximum", _INT16, (_P.CONNECT, _P.CONNACK)),
    (34, "Topic Alias Maximum", _INT16, (_P.CONNECT, _P.CONNACK)),
    (35, "Topic Alias", _INT16, (_P.PUBLISH,)),
    (36, "Maximum QoS", _BYTE, (_P.CONNACK,)),
    (37, "Retain Available", _BYTE, (_P.CONNACK,)),
    (
        38,
        "User Property",
        _PAIR,
        (
            _P.CONNECT,
            _P.CONNACK,
            _P.PUBLISH,
            _P.PUBACK,
            _P.PUBREC,
            _P.PUBREL,
            _P.PUBCOMP,
            _P.SUBSCRIBE,
            _P.SUBACK,
            _P.UNSUBSCRIBE,
            _P.UNSUBACK,
            _P.DISCONNECT,
            _P.AUTH,
            _P.WILLMESSAGE,
        ),
    ),
    (39, "Maximum Packet Size", _INT32, (_P.CONNECT, _P.CONNACK)),
    (40, "Wildcard Subscription Available", _BYTE, (_P.CONNACK,)),
    (41, "Subscription Identifier Available", _BYTE, (_P.CONNACK,)),
    (42, "Shared Subscription Available", _BYTE, (_P.CONNACK,)),
)
del _P

# Attribute name (no spaces) -> identifier, in table order (the order pack() writes).
_IDENT_BY_ATTR = {name.replace(" ", ""): ident for ident, name, _, _ in _TABLE}
_MULTIPLE = frozenset((11, 38))  # Subscription Identifier, User Property
# Range checks applied to single (non-list) values, as paho does.
_RANGES = {
    "ReceiveMaximum": (1, 65535, "{} property value must be in the range 1-65535"),
    "TopicAlias": (1, 65535, "{} property value must be in the range 1-65535"),
    "TopicAliasMaximum": (0, 65535, "{} property value must be in the range 0-65535"),
    "MaximumPacketSize": (1, _MAX_VBI, "{} property value must be in the range 1-268435455"),
    "SubscriptionIdentifier": (1, _MAX_VBI, "{} property value must be in the range 1-268435455"),
}
_ZERO_OR_ONE = frozenset(
    ("RequestResponseInformation", "RequestProblemInformation", "PayloadFormatIndicator")
)
_INSTANCE_DATA = frozenset(("packetType", "types", "names", "properties"))
# What an instance's own tables hold until something makes (and may change) its copies.
_KIND_BY_IDENT = {ident: kind for ident, _, kind, _ in _TABLE}
_PACKETS_BY_IDENT = {ident: packets for ident, _, _, packets in _TABLE}
_NAME_BY_IDENT = {ident: name for ident, name, _, _ in _TABLE}


def writeInt16(length):
    """``length`` as 2 bytes, big-endian (a bytearray)."""
    return bytearray(struct.pack("!H", length))


def readInt16(buf):
    return struct.unpack("!H", buf[:2])[0]


def writeInt32(length):
    """``length`` as 4 bytes, big-endian (a bytearray)."""
    return bytearray(struct.pack("!L", length))


def readInt32(buf):
    return struct.unpack("!L", buf[:4])[0]


def writeUTF(data):
    """A length-prefixed UTF-8 string; ``data`` is str or already-encoded bytes."""
    if not isinstance(data, bytes):
        data = bytes(data, "utf-8")
    return writeInt16(len(data)) + data


def _read_length(buffer, maxlen, what):
    if maxlen < 2:
        raise MalformedPacket(f"Not enough data to read {what} length")
    length = readInt16(buffer)
    if length > maxlen - 2:
        raise MalformedPacket(f"Length delimited {what} too long")
    return length


def readUTF(buffer, maxlen):
    """Reads a length-prefixed UTF-8 string of at most ``maxlen`` bytes in all.

    Returns ``(text, bytes consumed)``; text the spec forbids raises ``MalformedPacket``.
    """
    length = _read_length(buffer, maxlen, "string")
    text = buffer[2 : 2 + length].decode("utf-8")
    for char in text:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            raise MalformedPacket("[MQTT-1.5.4-1] D800-DFFF found in UTF-8 data")
        if code == 0:
            raise MalformedPacket("[MQTT-1.5.4-2] Null found in UTF-8 data")
        if code == 0xFEFF:
            raise MalformedPacket("[MQTT-1.5.4-3] U+FEFF in UTF-8 data")
    return text, length + 2


def writeBytes(buffer):
    """Length-prefixed binary data."""
    return writeInt16(len(buffer)) + buffer


def readBytes(buffer, maxlen):
    """Reads length-prefixed binary data of at most ``maxlen`` bytes in all.

    Returns ``(data, bytes consumed)``.
    """
    length = _read_length(buffer, maxlen, "binary data")
    return buffer[2 : 2 + length], length + 2


class VariableByteIntegers:
    """The Variable Byte Integer of MQTT 5.0 section 1.5.5 (1 to 4 bytes, 7 bits each)."""

    @staticmethod
    def encode(x):
        """``x`` (0..268435455) as a Variable Byte Integer (bytes)."""
        if not 0 <= x <= _MAX_VBI:
            raise ValueError(f"Value {x!r} must be in range 0-268435455")
        out = bytearray()
        while True:
            x, digit = divmod(x, 128)
            if x:
                out.append(digit | 0x80)
            else:
                out.append(digit)
                return bytes(out)

    @staticmethod
    def decode(buffer):
        """Reads a Variable Byte Integer at the start of ``buffer``.

        Returns ``(value, bytes used)``; raises ``MalformedPacket`` when it is longer than
        four bytes or the buffer ends inside it.
        """
        value = 0
        for index in range(4):
            if index >= len(buffer):
                raise MalformedPacket("Not enough data to decode Variable Byte Integer")
            digit = buffer[index]
            value += (digit & 0x7F) << (7 * index)
            if not digit & 0x80:
                return value, index + 1
        raise MalformedPacket("Variable Byte Integer is more than four bytes long")


class Properties:
    """The MQTT 5 properties of one packet (``packetType`` is a ``PacketTypes`` value).

    Example::

        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = ("a", "2")
        props.UserProperty = ("c", "3")   # appends: [("a", "2"), ("c", "3")]
    """

    # paho's per-instance tables, each made on first use (see _lazy).
    types = CopiedOnFirstUse(lambda: list(_TYPES))
    names = CopiedOnFirstUse(lambda: {name: ident for ident, name, _, _ in _TABLE})
    properties = CopiedOnFirstUse(
        lambda: {ident: (kind, list(packets)) for ident, _, kind, packets in _TABLE}
    )

    def __init__(self, packetType):
        self.__dict__["packetType"] = packetType

    def _packets_of(self, ident):
        own = self.__dict__.get("properties")
        return _PACKETS_BY_IDENT[ident] if own is None else own[ident][1]

    def _kind_of(self, ident):
        own = self.__dict__.get("properties")
        return _KIND_BY_IDENT[ident] if own is None else own[ident][0]

    def allowsMultiple(self, compressedName):
        return self.getIdentFromName(compressedName) in _MULTIPLE

    def getIdentFromName(self, compressedName):
        """The identifier of the property called ``compressedName``, or -1."""
        return _IDENT_BY_ATTR.get(compressedName, -1)

    def getNameFromIdent(self, identifier):
        """The spec name (with spaces) of property ``identifier``, or None."""
        if "names" not in self.__dict__:
            return _NAME_BY_IDENT.get(identifier)
        for name, ident in self.names.items():
            if ident == identifier:
                return name
        return None

    def __setattr__(self, name, value):
        name = name.replace(" ", "")
        if name in _INSTANCE_DATA:
            object.__setattr__(self, name, value)
            return
        ident = _IDENT_BY_ATTR.get(name)
        if ident is None:
            raise MQTTException(f"Property name must be one of {self.names.keys()}")
        if self.packetType not in self._packets_of(ident):
            raise MQTTException(
                f"Property {name} does not apply to packet type "
                f"{PacketTypes.Names[self.packetType]}"
            )
        if not isinstance(value, list):
            _check_range(name, value)
        if ident in _MULTIPLE:
            if not isinstance(value, list):
                value = [value]
            if name in self.__dict__:
                value = self.__dict__[name] + value
        object.__setattr__(self, name, value)

    def _present(self):
        """(attribute name, identifier) of each property set, in identifier order."""
        return [(attr, ident) for attr, ident in _IDENT_BY_ATTR.items() if attr in self.__dict__]

    def __str__(self):
        items = [f"{attr} : {getattr(self, attr)}" for attr, _ in self._present()]
        return "[" + ", ".join(items) + "]"

    def json(self):
        """The properties as a dict; CorrelationData bytes become a hex string."""
        data = {}
        for attr, _ in self._present():
            value = getattr(self, attr)
            if attr == "CorrelationData" and isinstance(value, bytes):
                value = value.hex()
            data[attr] = value
        return data

    def isEmpty(self):
        return not self._present()

    def clear(self):
        for attr, _ in self._present():
            delattr(self, attr)

    def writeProperty(self, identifier, type, value):
        """One property on the wire: identifier (VBI) then the value in its data type."""
        out = VariableByteIntegers.encode(identifier)
        if type == _BYTE:
            out += bytes([value])
        elif type == _INT16:
            out += writeInt16(value)
        elif type == _INT32:
            out += writeInt32(value)
        elif type == _VBI:
            out += VariableByteIntegers.encode(value)
        elif type == _BINARY:
            out += writeBytes(value)
        elif type == _UTF8:
            out += writeUTF(value)
        elif type == _PAIR:
            out += writeUTF(value[0]) + writeUTF(value[1])
        return out

    def pack(self):
        """The wire form: VBI length, then each property (``b"\\x00"`` when empty)."""
        body = b""
        for attr, ident in self._present():
            kind = self._kind_of(ident)
            values = getattr(self, attr) if ident in _MULTIPLE else [getattr(self, attr)]
            for value in values:
                body += self.writeProperty(ident, kind, value)
        return VariableByteIntegers.encode(len(body)) + body

    def readProperty(self, buffer, type, propslen):
        """Reads one value of data type ``type``; returns ``(value, bytes used)``."""
        if type == _BYTE:
            return buffer[0], 1
        if type == _INT16:
            return readInt16(buffer), 2
        if type == _INT32:
            return readInt32(buffer), 4
        if type == _VBI:
            return VariableByteIntegers.decode(buffer)
        if type == _BINARY:
            return readBytes(buffer, propslen)
        if type == _UTF8:
            return readUTF(buffer, propslen)
        if type == _PAIR:
            key, used = readUTF(buffer, propslen)
            value, used_value = readUTF(buffer[used:], propslen - used)
            return (key, value), used + used_value
        raise MQTTException(f"Unknown property data type {type!r}")

    def unpack(self, buffer):
        """Replaces the content with the properties read from ``buffer``.

        Returns ``(self, bytes consumed)``.
        """
        self.clear()
        length, used = VariableByteIntegers.decode(buffer)
        buffer = buffer[used:]
        left = length
        while left > 0:
            ident, ident_len = VariableByteIntegers.decode(buffer)
            buffer = buffer[ident_len:]
            left -= ident_len
            kind = self._kind_of(ident)
            value, value_len = self.readProperty(buffer, kind, left)
            buffer = buffer[value_len:]
            left -= value_len
            name = self.getNameFromIdent(ident)
            attr = name.replace(" ", "")
            if ident not in _MULTIPLE and attr in self.__dict__:
                # paho formats the builtin ``property`` here; the message is kept identical.
                raise MQTTException(f"Property '{property}' must not exist more than once")
            setattr(self, name, value)
        return self, length + used


def _check_range(name, value):
    bounds = _RANGES.get(name)
    if bounds is not None:
        low, high, message = bounds
        if value < low or value > high:
            raise MQTTException(message.format(name))
    elif name in _ZERO_OR_ONE and value != 0 and value != 1:
        raise MQTTException(f"{name} property value must be 0 or 1")
