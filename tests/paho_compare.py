"""Helpers to run the same call under paho-mqtt and ferromqtt and compare what happened."""

import enum


def outcome(function, *args, **kwargs):
    """What calling ``function`` did, as a comparable value.

    ``("ok", normalised result)`` or ``("raise", exception class name, defining module's last
    component, message)``, so an exception from ``paho.mqtt.exception`` compares equal to the
    one from ``ferromqtt.exception`` but not to ``subscribeoptions.MQTTException``.
    """
    try:
        result = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the exception is the observation
        module = type(error).__module__.rsplit(".", 1)[-1]
        return ("raise", type(error).__name__, module, str(error))
    return ("ok", normalise(result))


def normalise(value):
    """Turns paho and ferromqtt objects into plain values that compare across libraries."""
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.name, value.value)
    if type(value).__name__ in ("ReasonCode", "ReasonCodes"):
        return ("ReasonCode", value.packetType, value.value, value.getName())
    if type(value).__name__ == "Properties":
        return ("Properties", value.packetType, normalise(value.json()))
    if type(value).__name__ == "SubscribeOptions":
        return ("SubscribeOptions", value.json())
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(normalise(item) for item in value)
    if isinstance(value, bytearray):
        return ("bytearray", bytes(value))
    return value
