"""MQTT 5 subscription options (``paho.mqtt.subscribeoptions``).

One byte per topic filter in SUBSCRIBE: bits 0-1 QoS, bit 2 No Local, bit 3 Retain As
Published, bits 4-5 Retain Handling. As in paho, the attribute is ``QoS`` (capital letters),
bad values raise ``AssertionError`` and unknown attributes this module's own ``MQTTException``.
"""


class MQTTException(Exception):
    """Raised when assigning an attribute SubscribeOptions does not have."""


def _check(retain_handling, qos):
    if retain_handling not in (0, 1, 2):
        raise AssertionError(f"Retain handling should be 0, 1 or 2, not {retain_handling}")
    if qos not in (0, 1, 2):
        raise AssertionError(f"QoS should be 0, 1 or 2, not {qos}")


class SubscribeOptions:
    """Options of one subscription: ``SubscribeOptions(qos=1, noLocal=True)``."""

    RETAIN_SEND_ON_SUBSCRIBE = 0
    RETAIN_SEND_IF_NEW_SUB = 1
    RETAIN_DO_NOT_SEND = 2

    def __init__(
        self,
        qos: int = 0,
        noLocal: bool = False,
        retainAsPublished: bool = False,
        retainHandling: int = RETAIN_SEND_ON_SUBSCRIBE,
    ):
        object.__setattr__(self, "names", ["QoS", "noLocal", "retainAsPublished", "retainHandling"])
        self.QoS = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
        _check(self.retainHandling, self.QoS)

    def __setattr__(self, name, value):
        if name not in self.names:
            raise MQTTException(f"{name} Attribute name must be one of {self.names}")
        object.__setattr__(self, name, value)

    def pack(self):
        """The options byte, as ``bytes`` of length 1."""
        _check(self.retainHandling, self.QoS)
        byte = self.QoS | (self.retainHandling << 4)
        if self.noLocal:
            byte |= 0x04
        if self.retainAsPublished:
            byte |= 0x08
        return bytes((byte,))

    def unpack(self, buffer):
        """Reads the options byte at the start of ``buffer``; returns 1."""
        byte = buffer[0]
        self.retainHandling = (byte >> 4) & 0x03
        self.retainAsPublished = bool(byte & 0x08)
        self.noLocal = bool(byte & 0x04)
        self.QoS = byte & 0x03
        _check(self.retainHandling, self.QoS)
        return 1

    def __repr__(self):
        return str(self)

    def __str__(self):
        return (
            f"{{QoS={self.QoS!s}, noLocal={self.noLocal!s}, "
            f"retainAsPublished={self.retainAsPublished!s}, "
            f"retainHandling={self.retainHandling!s}}}"
        )

    def json(self):
        return {
            "QoS": self.QoS,
            "noLocal": self.noLocal,
            "retainAsPublished": self.retainAsPublished,
            "retainHandling": self.retainHandling,
        }
