"""`python -m ferromqtt`: the broker command and the demo, run as real subprocesses."""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import sys

import paho.mqtt.client as paho
import pytest

from client_support import CliBroker
from ferromqtt._core import passwd_update
from paho_peer import TIMEOUT, PahoPeer, connack_code


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


def test_sighup_rereads_password_acl_and_tls_files_and_keeps_connections(tmp_path):
    trustme = pytest.importorskip("trustme", reason="needs trustme (pip install trustme)")
    passwords, acl = tmp_path / "passwords", tmp_path / "acl"
    passwd_update(passwords, "alice", "apple", create=True)
    acl.write_text("user alice\ntopic readwrite a/#\n")
    certfile, keyfile = tmp_path / "server.pem", tmp_path / "server.key"

    def issue_server_certificate() -> trustme.CA:
        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1")
        server.cert_chain_pems[0].write_to_path(certfile)
        server.private_key_pem.write_to_path(keyfile)
        return ca

    first_ca = issue_server_certificate()
    config = tmp_path / "broker.toml"
    config.write_text(
        f"allow_anonymous = false\npassword_file = '{passwords}'\nacl_file = '{acl}'\n"
        "login_failure_delay_ms = 0\nsys_interval = 0\n"
        "[[listeners]]\nhost = '127.0.0.1'\nport = 0\n"
        f"[[listeners]]\nhost = '127.0.0.1'\nport = 0\ncertfile = '{certfile}'\n"
        f"keyfile = '{keyfile}'\n"
    )
    broker = CliBroker(config)
    tls_port = int(broker.wait_for(" port ").split()[-1].rstrip("."))

    def login(user: str, password: str) -> int:
        return connack_code(broker.port, user, password)

    def tls_handshake(ca: trustme.CA) -> None:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        with socket.create_connection(("127.0.0.1", tls_port), timeout=TIMEOUT) as raw:
            context.wrap_socket(raw, server_hostname="127.0.0.1").close()

    try:
        alice = PahoPeer(broker.port, paho.MQTTv5, "alice")
        alice.client.username_pw_set("alice", "apple")
        assert alice.connect()[1] == 0
        assert alice.subscribe("b/#", 1)[0] == 135
        assert login("bob", "banana") == 135
        tls_handshake(first_ca)

        passwd_update(passwords, "bob", "banana")
        acl.write_text("user alice\ntopic readwrite a/#\ntopic readwrite b/#\n")
        second_ca = issue_server_certificate()
        broker.signal(signal.SIGHUP)
        broker.wait_for("Reloaded password, ACL and TLS files")
        assert login("bob", "banana") == 0
        # The open connection was kept, under the new ACL.
        assert alice.subscribe("b/#", 1)[0] == 1
        alice.publish("b/x", b"after reload", qos=1)
        assert alice.receive().payload == b"after reload"
        tls_handshake(second_ca)
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_handshake(first_ca)

        # Unusable files: an error is logged and the previous state stays in force.
        acl.unlink()
        certfile.write_text("not a certificate\n")
        broker.signal(signal.SIGHUP)
        broker.wait_for("Reload failed")
        assert login("bob", "banana") == 0
        alice.publish("b/y", b"still allowed", qos=1)
        assert alice.receive().payload == b"still allowed"
        tls_handshake(second_ca)
        assert alice.disconnects.empty()
        alice.disconnect()
    finally:
        code = broker.stop()
    assert code == 0, "".join(broker.log)
