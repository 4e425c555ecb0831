"""Client scenarios against a scripted fake broker, under paho-mqtt and under ferromqtt.

Each scenario runs for MQTT 3.1, 3.1.1 and 5.0 and both callback API versions. Under paho
the recording must be complete and consistent (the broker's script was followed, the bytes
decode as the expected packets, the callbacks came in the expected order with consistent
arguments). The ferromqtt parametrizations compare ferromqtt's recording with paho's: same
callbacks with the same arguments in the same order, same return values, same warnings and
byte-identical packets.
"""

import importlib

import paho.mqtt.client as paho_client
import pytest

from differential.fake_broker import MQTT_V5, decode
from differential.runner import run
from differential.scenarios import SCENARIOS

VERSION_NAMES = {3: "v31", 4: "v311", 5: "v5"}
PROTOCOL_NAMES = {3: b"MQIsdp", 4: b"MQTT", 5: b"MQTT"}


def _cases():
    for scenario in SCENARIOS:
        for protocol in scenario.versions:
            for api in (1, 2):
                case_id = f"{scenario.name}-{VERSION_NAMES[protocol]}-api{api}"
                yield pytest.param(scenario, protocol, api, id=case_id)


@pytest.mark.parametrize(("scenario", "protocol", "api"), list(_cases()))
def test_paho_recording_is_complete_and_consistent(scenario, protocol, api):
    recording = run(paho_client, scenario, protocol, api)

    assert recording.broker_errors == []
    assert recording.events and recording.received
    assert recording.callback_names() == scenario.expected_callbacks(protocol, api)
    for event in recording.events:
        if event[0] == "callback":
            assert event[2][:2] == ("<client>", None), event
    expected_warnings = (
        [("DeprecationWarning", "Callback API version 1 is deprecated, update to latest version")]
        if api == 1
        else []
    )
    assert recording.warnings == expected_warnings

    connect = decode(recording.received[0], protocol)
    assert connect.name == "CONNECT"
    assert connect.fields["protocol"] == PROTOCOL_NAMES[protocol]
    assert connect.fields["level"] == protocol
    assert connect.fields["client_id"] == f"diff-{scenario.name}".encode()
    assert connect.fields["keepalive"] == 60
    assert connect.fields["trailing"] == b""
    if protocol == MQTT_V5 and scenario.name != "connect_v5_properties":
        assert connect.fields["properties"] == b""
    for raw in recording.received[1:]:
        assert decode(raw, protocol).name != "CONNECT"

    if scenario.check is not None:
        scenario.check(recording, protocol, api)


@pytest.mark.parametrize(("scenario", "protocol", "api"), list(_cases()))
def test_ferromqtt_matches_paho(scenario, protocol, api):
    ferro_client = importlib.import_module("ferromqtt.client")
    expected = run(paho_client, scenario, protocol, api)
    actual = run(ferro_client, scenario, protocol, api)
    assert actual.broker_errors == expected.broker_errors
    assert actual.received == expected.received
    assert actual.events == expected.events
    assert actual.warnings == expected.warnings


@pytest.mark.parametrize(("scenario", "protocol", "api"), list(_cases()))
def test_paho_recording_is_reproducible(scenario, protocol, api):
    """The harness itself is deterministic, so a difference from ferromqtt means something."""
    first = run(paho_client, scenario, protocol, api)
    second = run(paho_client, scenario, protocol, api)
    assert (second.events, second.received, second.warnings) == (
        first.events,
        first.received,
        first.warnings,
    )
