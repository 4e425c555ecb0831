"""Testing MQTT code with ferromqtt's pytest fixtures: copy this file and adapt it.

Installing ferromqtt is enough: its pytest plugin provides the fixtures.

- ``mqtt_broker``: a fresh in-process broker per test on a free port (``.host``, ``.port``,
  ``.url``), stopped after the test even when it fails; it can tell what it saw
  (``clients()``, ``subscriptions()``, ``retained()``, ``traffic()``, ``wait_for_client()``).
  Configure it with ``@pytest.mark.mqtt_broker(max_keepalive=10, retained={...})``.
- ``mqtt_client``: a factory of connected clients, disconnected after the test.
- ``capmqtt``: every message through the broker (``.messages``, ``.records``,
  ``.publish()``, ``.wait_for(filter, count)``), as pytest-mqtt's fixture of that name.

Run with ``pytest examples/test_with_fixture.py``; ``pytest -n auto`` works too (every
broker has its own port).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

import ferromqtt.client as mqtt
from ferromqtt.broker import Broker
from ferromqtt.pytest_plugin import MqttCapture, MqttClientFactory, MqttMessage


class Thermostat:
    """The code under test: reports temperatures and obeys setpoint commands."""

    def __init__(self, client: mqtt.Client, room: str) -> None:
        self.client = client
        self.room = room
        self.setpoint: float | None = None
        self.setpoint_changed = threading.Event()
        topic = f"home/{room}/setpoint"
        client.message_callback_add(topic, self._on_setpoint)
        subscribed = threading.Event()
        client.on_subscribe = lambda *args: subscribed.set()
        client.subscribe(topic, qos=1)
        if not subscribed.wait(5):
            raise TimeoutError(f"could not subscribe to {topic}")

    def report(self, celsius: float) -> None:
        payload = json.dumps({"room": self.room, "celsius": celsius})
        self.client.publish(f"home/{self.room}/temperature", payload, qos=1, retain=True)

    def _on_setpoint(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.setpoint = float(message.payload)
        self.setpoint_changed.set()


def test_report_publishes_json(mqtt_client: MqttClientFactory, capmqtt: MqttCapture) -> None:
    thermostat = Thermostat(mqtt_client(client_id="thermostat-kitchen"), "kitchen")
    thermostat.report(21.5)
    (message,) = capmqtt.wait_for("home/+/temperature")  # no sleep: waits for the message
    assert message.topic == "home/kitchen/temperature"
    assert json.loads(message.payload) == {"room": "kitchen", "celsius": 21.5}


def test_broker_keeps_the_last_reading(mqtt_broker: Broker, mqtt_client: MqttClientFactory) -> None:
    thermostat = Thermostat(mqtt_client(client_id="thermostat-hall"), "hall")
    thermostat.report(19.0)
    thermostat.report(19.5)
    thermostat.client.publish("sync", b"", qos=1).wait_for_publish(5)  # after both reports
    assert json.loads(mqtt_broker.retained()["home/hall/temperature"])["celsius"] == 19.5
    assert mqtt_broker.subscriptions() == {"thermostat-hall": {"home/hall/setpoint": 1}}
    assert [m.topic for m in mqtt_broker.traffic()][-1] == "sync"


def test_setpoint_command_reaches_the_device(
    mqtt_client: MqttClientFactory, capmqtt: MqttCapture
) -> None:
    thermostat = Thermostat(mqtt_client(client_id="thermostat-office"), "office")
    capmqtt.publish(topic="home/office/setpoint", payload="22.5", qos=1)
    assert thermostat.setpoint_changed.wait(5)
    assert thermostat.setpoint == 22.5
    assert capmqtt.messages == [
        MqttMessage(topic="home/office/setpoint", payload=b"22.5", userdata=None)
    ]


@pytest.mark.parametrize("protocol", [mqtt.MQTTv31, mqtt.MQTTv311, mqtt.MQTTv5])
def test_each_protocol_version(
    mqtt_broker: Broker, mqtt_client: MqttClientFactory, protocol: int
) -> None:
    mqtt_client(protocol=protocol, client_id="device")
    assert mqtt_broker.wait_for_client("device").protocol == protocol


@pytest.mark.mqtt_broker(retained={"home/config": b'{"unit": "C"}'})
def test_with_a_retained_configuration(capmqtt: MqttCapture) -> None:
    (config,) = capmqtt.wait_for("home/config")
    assert json.loads(config.payload) == {"unit": "C"}
