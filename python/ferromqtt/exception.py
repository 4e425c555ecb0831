"""Exceptions shared by the paho-compatible modules (``paho.mqtt.exception``)."""


class MQTTException(Exception):
    """Base class of the errors raised by the paho-compatible modules."""


class MalformedPacket(MQTTException):
    """Bytes that cannot be parsed as MQTT (e.g. a truncated property or string)."""


__all__ = ["MQTTException", "MalformedPacket"]
