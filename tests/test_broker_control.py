"""Starting, stopping and configuring the in-process broker from Python."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as paho
import pytest

from ferromqtt.broker import Broker


def test_start_binds_and_stop_releases_the_port():
    broker = Broker(port=0).start()
    port = broker.port
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    broker.stop()
    assert not broker.is_running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_context_manager_starts_and_stops():
    with Broker(port=0) as broker:
        assert broker.is_running
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    assert not broker.is_running


def test_starting_twice_on_the_same_port_is_a_clear_error():
    with Broker(port=0) as first:
        with pytest.raises(OSError):
            Broker(port=first.port).start()


def test_unknown_option_is_named_in_the_error():
    with pytest.raises(ValueError, match="max_conections"):
        Broker(port=0, max_conections=10)


def test_wrong_option_type_is_named_in_the_error():
    with pytest.raises(ValueError, match="max_keepalive"):
        Broker(port=0, max_keepalive="soon")


def test_abuse_limits_are_keyword_options_checked_by_name():
    with pytest.raises(ValueError, match="max_connections_per_address"):
        Broker(port=0, max_connections_per_address=0)
    with pytest.raises(ValueError, match="max_topic_levels"):
        Broker(port=0, max_topic_levels=-1)
    options = {
        "max_connections_per_address": 2,
        "max_connection_rate": 50,
        "max_subscriptions_per_client": 1,
        "max_topic_levels": 2,
    }
    with Broker(port=0, sys_interval=0, **options) as broker:
        codes: list[list[int]] = []
        subscribed = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        client.on_subscribe = lambda c, u, mid, rcs, props: (
            codes.append([rc.value for rc in rcs]),
            subscribed.set(),
        )
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            client.subscribe([("a/b", 0), ("a/b/c", 0), ("x", 0)])
            assert subscribed.wait(5)
        finally:
            client.disconnect()
            client.loop_stop()
    # Too many levels (0x8F), then one subscription too many (0x97).
    assert codes == [[0, 0x8F, 0x97]]


def test_bad_port_is_rejected():
    with pytest.raises(ValueError, match="port"):
        Broker(port=70000)


def test_toml_config_file_is_loaded(tmp_path):
    config = tmp_path / "broker.toml"
    config.write_text(
        'max_connections = 10\nsys_interval = 0\n\n[[listeners]]\nhost = "127.0.0.1"\nport = 0\n'
    )
    with Broker(config_file=config) as broker:
        assert broker.port > 0


def test_toml_config_error_names_file_line_and_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("sys_interval = 0\nmax_keepalive = -5\n")
    with pytest.raises(ValueError) as excinfo:
        Broker(config_file=config)
    text = str(excinfo.value)
    assert "bad.toml" in text and "max_keepalive" in text and "2" in text


def test_stats_are_a_dict_of_figures():
    with Broker(port=0) as broker:
        stats = broker.stats()
        assert stats["clients_connected"] == 0
        assert "uptime_seconds" in stats
