"""`python -m ferromqtt`: the broker command and the demo, run as real subprocesses."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import paho.mqtt.client as paho

from paho_peer import PahoPeer


def start_cli_broker(*args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferromqtt", "broker", "-p", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"Opening listen socket on \S+ port (\d+)\.", line)
        if found:
            return proc, int(found.group(1))
    proc.kill()
    raise AssertionError(f"broker did not report its port; exit code {proc.wait(5)}")


def test_broker_command_serves_clients_and_stops_on_sigterm():
    proc, port = start_cli_broker()
    try:
        sub = PahoPeer(port, paho.MQTTv311, "cli-sub")
        assert sub.connect()[1] == 0
        sub.subscribe("t", 1)
        pub = PahoPeer(port, paho.MQTTv5, "cli-pub")
        pub.connect()
        pub.publish("t", b"via the command line broker", qos=1)
        assert sub.receive().payload == b"via the command line broker"
        sub.disconnect()
        pub.disconnect()
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=10)[1]
    assert proc.returncode == 0, rest
    assert "terminating" in rest


def test_broker_command_logs_connections():
    proc, port = start_cli_broker("-v")
    try:
        client = PahoPeer(port, paho.MQTTv311, "logged-client")
        client.connect()
        client.disconnect()
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=10)[1]
    assert "logged-client" in rest


def test_broker_command_rejects_a_bad_config_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("no_such_option = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "ferromqtt", "broker", "-c", str(bad)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1
    assert "no_such_option" in result.stderr


def test_version_flag_prints_the_version():
    result = subprocess.run(
        [sys.executable, "-m", "ferromqtt", "--version"], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0
    assert re.match(r"ferromqtt \d+\.\d+\.\d+", result.stdout)


def test_demo_shows_the_message_arriving():
    result = subprocess.run(
        [sys.executable, "-m", "ferromqtt", "demo"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "received on 'demo/greeting': hello from ferromqtt" in result.stdout
