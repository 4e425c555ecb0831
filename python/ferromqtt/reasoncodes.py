"""MQTT 5 reason codes with paho's names (``paho.mqtt.reasoncodes``).

A ``ReasonCode`` is a number plus the packet type it travels in: the same number can have a
different name per packet type (0 is "Success", "Normal disconnection" or "Granted QoS 0").
Behaviour users rely on, kept from paho: compares with ints, names and other reason codes;
unhashable; always truthy (test ``rc == 0`` or ``rc.is_failure``, never ``if rc:``).
"""

from __future__ import annotations

import functools
import warnings
from types import MappingProxyType
from typing import Any

from ._lazy import CopiedOnFirstUse
from .packettypes import PacketTypes

_CONNACK = PacketTypes.CONNACK
_PUBACK = PacketTypes.PUBACK
_PUBREC = PacketTypes.PUBREC
_PUBREL = PacketTypes.PUBREL
_PUBCOMP = PacketTypes.PUBCOMP
_SUBACK = PacketTypes.SUBACK
_UNSUBACK = PacketTypes.UNSUBACK
_DISCONNECT = PacketTypes.DISCONNECT
_AUTH = PacketTypes.AUTH

# MQTT 5.0 section 2.4, table 2-6; the names are paho's spelling.
_NAMES: dict[int, dict[str, list[int]]] = {
    0x00: {
        "Success": [_CONNACK, _PUBACK, _PUBREC, _PUBREL, _PUBCOMP, _UNSUBACK, _AUTH],
        "Normal disconnection": [_DISCONNECT],
        "Granted QoS 0": [_SUBACK],
    },
    0x01: {"Granted QoS 1": [_SUBACK]},
    0x02: {"Granted QoS 2": [_SUBACK]},
    0x04: {"Disconnect with will message": [_DISCONNECT]},
    0x10: {"No matching subscribers": [_PUBACK, _PUBREC]},
    0x11: {"No subscription found": [_UNSUBACK]},
    0x18: {"Continue authentication": [_AUTH]},
    0x19: {"Re-authenticate": [_AUTH]},
    0x80: {"Unspecified error": [_CONNACK, _PUBACK, _PUBREC, _SUBACK, _UNSUBACK, _DISCONNECT]},
    0x81: {"Malformed packet": [_CONNACK, _DISCONNECT]},
    0x82: {"Protocol error": [_CONNACK, _DISCONNECT]},
    0x83: {
        "Implementation specific error": [
            _CONNACK,
            _PUBACK,
            _PUBREC,
            _SUBACK,
            _UNSUBACK,
            _DISCONNECT,
        ]
    },
    0x84: {"Unsupported protocol version": [_CONNACK]},
    0x85: {"Client identifier not valid": [_CONNACK]},
    0x86: {"Bad user name or password": [_CONNACK]},
    0x87: {"Not authorized": [_CONNACK, _PUBACK, _PUBREC, _SUBACK, _UNSUBACK, _DISCONNECT]},
    0x88: {"Server unavailable": [_CONNACK]},
    0x89: {"Server busy": [_CONNACK, _DISCONNECT]},
    0x8A: {"Banned": [_CONNACK]},
    0x8B: {"Server shutting down": [_DISCONNECT]},
    0x8C: {"Bad authentication method": [_CONNACK, _DISCONNECT]},
    0x8D: {"Keep alive timeout": [_DISCONNECT]},
    0x8E: {"Session taken over": [_DISCONNECT]},
    0x8F: {"Topic filter invalid": [_SUBACK, _UNSUBACK, _DISCONNECT]},
    0x90: {"Topic name invalid": [_CONNACK, _PUBACK, _PUBREC, _DISCONNECT]},
    0x91: {"Packet identifier in use": [_PUBACK, _PUBREC, _SUBACK, _UNSUBACK]},
    0x92: {"Packet identifier not found": [_PUBREL, _PUBCOMP]},
    0x93: {"Receive maximum exceeded": [_DISCONNECT]},
    0x94: {"Topic alias invalid": [_DISCONNECT]},
    0x95: {"Packet too large": [_CONNACK, _DISCONNECT]},
    0x96: {"Message rate too high": [_DISCONNECT]},
    0x97: {"Quota exceeded": [_CONNACK, _PUBACK, _PUBREC, _SUBACK, _DISCONNECT]},
    0x98: {"Administrative action": [_DISCONNECT]},
    0x99: {"Payload format invalid": [_PUBACK, _PUBREC, _DISCONNECT]},
    0x9A: {"Retain not supported": [_CONNACK, _DISCONNECT]},
    0x9B: {"QoS not supported": [_CONNACK, _DISCONNECT]},
    0x9C: {"Use another server": [_CONNACK, _DISCONNECT]},
    0x9D: {"Server moved": [_CONNACK, _DISCONNECT]},
    0x9E: {"Shared subscription not supported": [_SUBACK, _DISCONNECT]},
    0x9F: {"Connection rate exceeded": [_CONNACK, _DISCONNECT]},
    0xA0: {"Maximum connect time": [_DISCONNECT]},
    0xA1: {"Subscription identifiers not supported": [_SUBACK, _DISCONNECT]},
    0xA2: {"Wildcard subscription not supported": [_SUBACK, _DISCONNECT]},
}

# (packet type, number) -> name and (packet type, name) -> number for every pair the table
# allows, so an instance that never had its own ``names`` copy looks up in O(1).
_NAME_OF: dict[tuple[int, int], str] = {}
_ID_OF: dict[tuple[int, str], int] = {}
for _identifier, _candidates in _NAMES.items():
    for _name, _packet_types in _candidates.items():
        for _packet_type in _packet_types:
            _NAME_OF[(_packet_type, _identifier)] = _name
            _ID_OF.setdefault((_packet_type, _name), _identifier)
del _identifier, _candidates, _name, _packet_types, _packet_type


@functools.total_ordering
class ReasonCode:
    """An MQTT 5 reason code for one packet type.

    ``ReasonCode(PacketTypes.CONNACK, "Not authorized")`` or
    ``ReasonCode(PacketTypes.CONNACK, identifier=135)``; a name or number the packet type
    does not allow raises ``KeyError``. ``ReasonCode.names`` maps id -> {name: [packet types]}.
    """

    # A per-instance copy, as paho has, so code that inspects or changes rc.names keeps
    # working; made on first use (see _lazy).
    names: Any = CopiedOnFirstUse(lambda: dict(_NAMES), MappingProxyType(_NAMES))

    def __init__(self, packetType: int, aName: str = "Success", identifier: int = -1):
        self.packetType = packetType
        if identifier != -1:
            self.value = identifier
            if (packetType, identifier) not in _NAME_OF:
                self.getName()  # raises for a number this packet type cannot carry
            return
        if aName == "Success" and packetType == PacketTypes.DISCONNECT:
            aName = "Normal disconnection"
        self.set(aName)

    def __getName__(self, packetType: int, identifier: int) -> str:
        """The name of ``identifier`` when carried by ``packetType``."""
        if "names" not in self.__dict__:
            name = _NAME_OF.get((packetType, identifier))
            if name is not None:
                return name
        if identifier not in self.names:
            raise KeyError(identifier)
        candidates = self.names[identifier]
        found = [name for name, packet_types in candidates.items() if packetType in packet_types]
        if len(found) != 1:
            raise ValueError(f"Expected exactly one name, found {found!r}")
        return found[0]

    def getId(self, name: str) -> int:
        """The number of the reason code called ``name`` in this packet type."""
        if "names" not in self.__dict__:
            found = _ID_OF.get((self.packetType, name))
            if found is not None:
                return found
        for identifier, candidates in self.names.items():
            if self.packetType in candidates.get(name, ()):
                return identifier
        raise KeyError(f"Reason code name not found: {name}")

    def set(self, name: str) -> None:
        self.value = self.getId(name)

    def unpack(self, buffer: bytes | bytearray) -> int:
        """Reads the one-byte reason code at the start of ``buffer``; returns 1."""
        self.value = self.getId(self.__getName__(self.packetType, buffer[0]))
        return 1

    def getName(self) -> str:
        return self.__getName__(self.packetType, self.value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int):
            return other == self.value
        if isinstance(other, str):
            return other == self.getName()
        if isinstance(other, ReasonCode):
            return other.value == self.value
        return False

    # Defining __eq__ leaves __hash__ unset: reason codes are unhashable, as in paho.
    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: Any) -> bool:
        if isinstance(other, ReasonCode):
            return self.value < other.value
        if isinstance(other, int):
            return self.value < other
        return NotImplemented

    def __repr__(self) -> str:
        try:
            packet_name = PacketTypes.Names[self.packetType]
        except IndexError:
            packet_name = "Unknown"  # e.g. PacketTypes.WILLMESSAGE
        return f"ReasonCode({packet_name}, {self.getName()!r})"

    def __str__(self) -> str:
        return self.getName()

    def json(self) -> str:
        return self.getName()

    def pack(self) -> bytearray:
        return bytearray((self.value,))

    @property
    def is_failure(self) -> bool:
        """True for codes 0x80 and above."""
        return self.value >= 0x80


class _AnyReasonCodeIsInstance(type):
    # isinstance(rc, ReasonCodes) stays True for every ReasonCode, as old code expects.
    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, ReasonCode)


class ReasonCodes(ReasonCode, metaclass=_AnyReasonCodeIsInstance):
    """Deprecated name of ``ReasonCode``; constructing one warns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "ReasonCodes is deprecated, use ReasonCode (singular) instead",
            category=DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)


__all__ = ["ReasonCode", "ReasonCodes"]
