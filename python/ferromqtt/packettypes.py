"""MQTT control packet type numbers, as paho's ``paho.mqtt.packettypes``.

These are the 4-bit type values (1-15), not the fixed-header bytes of ``MessageType``.
``WILLMESSAGE`` is a pseudo type used only to choose which properties a will may carry.
"""


class PacketTypes:
    """Packet type constants (``PacketTypes.PUBLISH == 3``) and their display names."""

    indexes = range(1, 16)

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15

    # Not a wire packet: selects the properties allowed in a CONNECT's will.
    WILLMESSAGE = 99

    Names = (
        "reserved",
        "Connect",
        "Connack",
        "Publish",
        "Puback",
        "Pubrec",
        "Pubrel",
        "Pubcomp",
        "Subscribe",
        "Suback",
        "Unsubscribe",
        "Unsuback",
        "Pingreq",
        "Pingresp",
        "Disconnect",
        "Auth",
    )
