"""The pytest plugin (``ferromqtt.pytest_plugin``) tested as its users meet it: test files
run by an inner pytest (``pytester``), with the plugin loaded through its entry point."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def assert_port_closed(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_plugin_is_registered_through_its_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.mqtt_broker(**options)*"])
    result.stdout.fnmatch_lines(["@pytest.mark.capmqtt_decode_utf8*"])


def test_mqtt_broker_listens_on_a_free_loopback_port(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_listening(mqtt_broker):
            assert mqtt_broker.host == "127.0.0.1"
            assert mqtt_broker.port > 0
            assert mqtt_broker.url == f"mqtt://127.0.0.1:{mqtt_broker.port}"
            socket.create_connection((mqtt_broker.host, mqtt_broker.port), timeout=5).close()

        def test_a_fresh_broker_per_test(mqtt_broker, mqtt_client):
            mqtt_client(client_id="only-here")
            assert list(mqtt_broker.clients()) == ["only-here"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_broker_is_stopped_after_a_failing_test(pytester: pytest.Pytester, tmp_path: Path) -> None:
    record = tmp_path / "port"
    pytester.makepyfile(
        f"""
        import pathlib

        def test_fails(mqtt_broker):
            pathlib.Path({str(record)!r}).write_text(str(mqtt_broker.port))
            assert False, "deliberate"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*deliberate*"])
    assert_port_closed(int(record.read_text()))


def test_broker_is_stopped_after_an_error_in_another_fixture(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    record = tmp_path / "port"
    pytester.makepyfile(
        f"""
        import pathlib
        import pytest

        @pytest.fixture
        def broken(mqtt_broker):
            pathlib.Path({str(record)!r}).write_text(str(mqtt_broker.port))
            raise RuntimeError("fixture broke")

        def test_never_runs(broken):
            pass
        """
    )
    pytester.runpytest().assert_outcomes(errors=1)
    assert_port_closed(int(record.read_text()))


def test_marker_options_reach_the_broker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading
        import pytest
        import ferromqtt.client as mqtt

        @pytest.mark.mqtt_broker(max_keepalive=10, retained={"config/a": b"1", "config/b": "2"})
        def test_options(mqtt_broker):
            assert mqtt_broker.retained() == {"config/a": b"1", "config/b": b"2"}
            connected = threading.Event()
            got = []

            def on_connect(client, userdata, flags, reason_code, properties):
                got.append(properties.ServerKeepAlive)
                connected.set()

            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            client.on_connect = on_connect
            client.connect(mqtt_broker.host, mqtt_broker.port, keepalive=60)
            client.loop_start()
            try:
                assert connected.wait(5)
                assert got == [10]
            finally:
                client.disconnect()
                client.loop_stop()

        @pytest.mark.mqtt_broker(retained={"t": b"kept"})
        def test_preloaded_retained_reaches_subscribers(capmqtt):
            assert [m.payload for m in capmqtt.wait_for("t")] == [b"kept"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_indirect_parametrization_configures_the_broker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize(
            "mqtt_broker",
            [{"retained": {"x": b"1"}}, {"retained": {"y": b"2"}}],
            indirect=True,
        )
        def test_each(mqtt_broker):
            assert len(mqtt_broker.retained()) == 1

        @pytest.mark.parametrize("mqtt_broker", [{"max_connections": "many"}], indirect=True)
        def test_bad_option(mqtt_broker):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*invalid broker option max_connections*"])


def test_session_broker_is_shared(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        seen = set()

        def test_one(mqtt_broker_session):
            seen.add(mqtt_broker_session.port)

        def test_two(mqtt_broker_session):
            seen.add(mqtt_broker_session.port)
            assert len(seen) == 1
            assert mqtt_broker_session.is_running
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_helpers_follow_the_session_broker_when_only_it_is_requested(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_one(mqtt_broker_session, mqtt_client, capmqtt, mqtt_settings, mosquitto):
            mqtt_client(client_id="on-session-broker")
            assert "on-session-broker" in mqtt_broker_session.clients()
            assert mosquitto == (mqtt_broker_session.host, mqtt_broker_session.port)
            assert mqtt_settings.port == mqtt_broker_session.port
            capmqtt.publish(topic="s", payload="1")
            assert [t.topic for t in mqtt_broker_session.traffic()][-1] == "s"

        def test_both(mqtt_broker_session, mqtt_broker, mqtt_client):
            mqtt_client(client_id="on-fresh-broker")
            assert list(mqtt_broker.clients()) == ["on-fresh-broker"]
            assert "on-fresh-broker" not in mqtt_broker_session.clients()
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_mqtt_settings_and_mosquitto_name_the_broker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_names(mqtt_broker, mqtt_settings, mosquitto):
            assert (mqtt_settings.host, mqtt_settings.port) == (mqtt_broker.host, mqtt_broker.port)
            assert mosquitto == (mqtt_broker.host, mqtt_broker.port)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("protocol", ["MQTTv31", "MQTTv311", "MQTTv5"])
def test_mqtt_client_factory_connects_each_protocol(
    pytester: pytest.Pytester, protocol: str
) -> None:
    pytester.makepyfile(
        f"""
        import ferromqtt.client as mqtt

        def test_factory(mqtt_broker, mqtt_client):
            first = mqtt_client(protocol=mqtt.{protocol}, client_id="first")
            second = mqtt_client(protocol=mqtt.{protocol}, client_id="second")
            assert first.is_connected() and second.is_connected()
            clients = mqtt_broker.clients()
            assert sorted(clients) == ["first", "second"]
            assert clients["first"].protocol == int(mqtt.{protocol})
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_capmqtt_is_compatible_with_pytest_mqtt_usage(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from ferromqtt.pytest_plugin import MqttMessage

        def test_bytes_by_default(mosquitto, capmqtt):
            capmqtt.publish(topic="foo", payload="bar")
            capmqtt.publish(topic="baz", payload="qux")
            assert capmqtt.messages == [
                MqttMessage(topic="foo", payload=b"bar", userdata=None),
                MqttMessage(topic="baz", payload=b"qux", userdata=None),
            ]
            assert capmqtt.records == [("foo", b"bar", None), ("baz", b"qux", None)]
        """
    )
    pytester.makepyfile(
        test_module_variable="""
        from ferromqtt.pytest_plugin import MqttMessage

        capmqtt_decode_utf8 = True

        def test_text(mosquitto, capmqtt):
            capmqtt.publish(topic="foo", payload="bär")
            assert capmqtt.messages == [MqttMessage(topic="foo", payload="bär", userdata=None)]
            assert capmqtt.records == [("foo", "bär", None)]
        """,
        test_marker="""
        import pytest

        @pytest.mark.capmqtt_decode_utf8
        def test_text(capmqtt):
            capmqtt.publish(topic="foo", payload=b"bar", qos=1, retain=False)
            assert capmqtt.records == [("foo", "bar", None)]
        """,
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_captured_messages_equal_pytest_mqtt_messages() -> None:
    from ferromqtt.pytest_plugin import MqttMessage

    class Foreign:  # the same shape as pytest_mqtt.model.MqttMessage
        def __init__(self, topic: str, payload: bytes, userdata: object) -> None:
            self.topic, self.payload, self.userdata = topic, payload, userdata

    Foreign.__name__ = "MqttMessage"
    assert MqttMessage("a", b"1", None) == Foreign("a", b"1", None)
    assert MqttMessage("a", b"1", None) != Foreign("a", b"2", None)
    assert MqttMessage("a", b"1", None) != ("a", b"1", None)


def test_capmqtt_wait_for_returns_messages_and_explains_a_timeout(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_wait_for(mqtt_client, capmqtt):
            sensor = mqtt_client(client_id="sensor")
            for i in range(3):
                sensor.publish(f"sensors/{i}/temp", str(20 + i), qos=1)
            sensor.publish("other", "x", qos=1)
            found = capmqtt.wait_for("sensors/+/temp", count=3)
            assert sorted(m.payload for m in found) == [b"20", b"21", b"22"]

        def test_timeout(mqtt_client, capmqtt):
            capmqtt.publish(topic="arrived/1", payload="yes")
            with pytest.raises(AssertionError) as failure:
                capmqtt.wait_for("missing/#", count=2, timeout=0.2)
            text = str(failure.value)
            assert "expected 2 message(s) matching 'missing/#' within 0.2 s" in text
            assert "('arrived/1', b'yes')" in text
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.skipif(
    importlib.util.find_spec("xdist") is None, reason="needs pytest-xdist (pip install it)"
)
def test_parallel_workers_never_share_a_port(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_round_trip(n, mqtt_broker, mqtt_client, capmqtt):
            client = mqtt_client(client_id=f"c{n}")
            client.publish(f"n/{n}", os.environ.get("PYTEST_XDIST_WORKER", "?"), qos=1)
            (message,) = capmqtt.wait_for(f"n/{n}")
            assert message.payload.startswith(b"gw")
            assert list(mqtt_broker.clients()) != []
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
