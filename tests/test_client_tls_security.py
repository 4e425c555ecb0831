"""ferromqtt.client against a real Mosquitto set up for security, side by side with the real
paho-mqtt client: bad server certificates (expired, not yet valid, another host name, an
unknown CA), listeners that require a client certificate, and a TLS listener with a password
file and an ACL file. Certificates come from ``trustme``; every broker is on 127.0.0.1."""

from __future__ import annotations

import datetime
import getpass
import shutil
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import client_support
import ferromqtt.client as ferro
from client_support import WAIT, Mosquitto, Recorder, _free_port, round_trip

pytestmark = pytest.mark.interop
trustme = pytest.importorskip("trustme", reason="trustme makes the test certificates")
paho = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt 2.2 is the reference client")

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
MODULES = pytest.mark.parametrize("module", [paho, ferro], ids=["paho", "ferromqtt"])
PROTOCOLS = pytest.mark.parametrize("protocol", [paho.MQTTv311, paho.MQTTv5], ids=["v311", "v5"])
DAY = datetime.timedelta(days=1)

# Each bad server certificate: what paho's message says, what ferromqtt's says.
BAD_SERVERS = {
    "expired": ("certificate has expired", "certificate expired"),
    "not-yet-valid": ("certificate is not yet valid", "certificate not valid yet"),
    "other-host": ("IP address mismatch", 'certificate not valid for name "127.0.0.1"'),
    "unknown-ca": ("unable to get local issuer certificate", "UnknownIssuer"),
}


class Pki:
    """A trusted CA and an untrusted one, and the PEM files of the certificates they issue."""

    def __init__(self, directory: Any) -> None:
        self.directory = directory
        self.ca, self.other_ca = trustme.CA(), trustme.CA()
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def issue(self, name: str, *identities: str, ca: Any = None, **options: Any) -> dict:
        leaf = (ca or self.ca).issue_cert(*identities, **options)
        files = {"certfile": str(self.directory / f"{name}.pem")}
        files["keyfile"] = str(self.directory / f"{name}.key")
        leaf.cert_chain_pems[0].write_to_path(files["certfile"])
        leaf.private_key_pem.write_to_path(files["keyfile"])
        return files


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@contextmanager
def mosquitto(extra_config: str = "", config_template: str | None = None) -> Iterator[Mosquitto]:
    if client_support.MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto()
    broker.extra_config, broker.config_template = extra_config, config_template
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.directory, ignore_errors=True)


def listener(port: int, certfile: str, keyfile: str, **options: str) -> str:
    lines = [f"listener {port} 127.0.0.1", f"certfile {certfile}", f"keyfile {keyfile}"]
    return "\n".join(lines + [f"{key} {value}" for key, value in options.items()]) + "\n"


@pytest.fixture(scope="module")
def tls_ports(pki):
    """One Mosquitto with a TLS listener per bad server certificate, and one ("mutual") that
    requires a client certificate from the trusted CA; yields the port of each."""
    now = datetime.datetime.now(datetime.timezone.utc)
    servers = {
        "expired": pki.issue(
            "expired", "127.0.0.1", not_before=now - 30 * DAY, not_after=now - DAY
        ),
        "not-yet-valid": pki.issue(
            "future", "127.0.0.1", not_before=now + DAY, not_after=now + 30 * DAY
        ),
        "other-host": pki.issue("other-host", "example.org"),
        "unknown-ca": pki.issue("unknown-ca", "127.0.0.1", ca=pki.other_ca),
    }
    ports = {name: _free_port() for name in [*servers, "mutual"]}
    config = "".join(listener(ports[name], **files) for name, files in servers.items())
    good = pki.issue("server", "127.0.0.1", "localhost")
    config += listener(ports["mutual"], **good, cafile=pki.ca_file, require_certificate="true")
    with mosquitto(config):
        yield ports


def close_sockets_of(error: BaseException) -> None:
    """paho leaves the socket of a failed handshake open (a ResourceWarning, an error
    here): close the sockets the frames of the traceback hold."""
    tb = error.__traceback__
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, socket.socket):
                value.close()
        tb = tb.tb_next


def connect_error(module: Any, port: int, **tls: str) -> ssl.SSLError:
    client = module.Client(module.CallbackAPIVersion.VERSION2)
    client.tls_set(**tls)
    with pytest.raises(ssl.SSLError) as raised:
        client.connect("127.0.0.1", port)
    close_sockets_of(raised.value)
    return raised.value


@pytest.mark.parametrize("case", list(BAD_SERVERS))
def test_a_bad_server_certificate_fails_connect_with_a_message_naming_the_problem(
    pki, tls_ports, case
):
    paho_says, ferro_says = BAD_SERVERS[case]
    expected = connect_error(paho, tls_ports[case], ca_certs=pki.ca_file)
    assert paho_says in str(expected)
    error = connect_error(ferro, tls_ports[case], ca_certs=pki.ca_file)
    assert isinstance(error, ssl.SSLError) and isinstance(error, OSError)
    assert ferro_says in str(error)


@pytest.mark.parametrize("case", list(BAD_SERVERS))
def test_a_bad_server_certificate_raises_the_same_exception_as_paho(pki, tls_ports, case):
    """ssl.SSLCertVerificationError (a ValueError too) with OpenSSL's verify code and
    Python's verify message, as code written for paho catches and reads it."""
    expected = connect_error(paho, tls_ports[case], ca_certs=pki.ca_file)
    assert type(expected) is ssl.SSLCertVerificationError
    error = connect_error(ferro, tls_ports[case], ca_certs=pki.ca_file)
    assert type(error) is type(expected)
    assert isinstance(error, ValueError)
    assert (error.verify_code, error.verify_message) == (
        expected.verify_code,
        expected.verify_message,
    )
    assert (error.library, error.reason) == ("SSL", "CERTIFICATE_VERIFY_FAILED")


@MODULES
def test_tls_insecure_set_accepts_a_certificate_for_another_host(pki, tls_ports, module):
    client = module.Client(module.CallbackAPIVersion.VERSION2)
    client.tls_set(ca_certs=pki.ca_file)
    client.tls_insecure_set(True)
    round_trip(client, "127.0.0.1", tls_ports["other-host"])


def first_outcome(module: Any, port: int, **tls: str) -> tuple[str, str]:
    """How a connection attempt ends: the exception connect() raises, or else the first of
    on_connect / on_disconnect / on_connect_fail and its reason."""
    client = module.Client(module.CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
    client.tls_set(**tls)
    recorder = Recorder(client)
    try:
        client.connect("127.0.0.1", port)
    except OSError as error:
        close_sockets_of(error)
        return "connect() raised", type(error).__name__
    client.loop_start()
    try:
        while True:
            name, args = recorder.events.get(timeout=WAIT)
            if name == "on_connect_fail":
                return name, ""
            if name in ("on_connect", "on_disconnect"):
                return name, args[1].getName()
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("client_ca", [None, "other"], ids=["no-certificate", "untrusted-ca"])
def test_a_broker_requiring_certificates_refuses_a_client_the_same_way_as_paho(
    pki, tls_ports, client_ca
):
    tls = {"ca_certs": pki.ca_file}
    if client_ca == "other":
        tls.update(pki.issue("mallory", "mallory@example.org", ca=pki.other_ca))
    expected = first_outcome(paho, tls_ports["mutual"], **tls)
    assert expected != ("on_connect", "Success")
    assert first_outcome(ferro, tls_ports["mutual"], **tls) == expected


@MODULES
def test_a_client_certificate_from_the_trusted_ca_is_accepted(pki, tls_ports, module):
    client = module.Client(module.CallbackAPIVersion.VERSION2)
    client.tls_set(pki.ca_file, **pki.issue("alice", "alice@example.org", common_name="alice"))
    round_trip(client, "127.0.0.1", tls_ports["mutual"])


# -- a TLS listener with client certificates, a password file and an ACL file ------------

USERS = {"alice": "apple", "bob": "banana"}
ACL = """\
user alice
topic readwrite alice/#
topic read public/#

user bob
topic write public/#
topic readwrite bob/#
"""


@pytest.fixture(scope="module")
def secured(pki, tmp_path_factory):
    if MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto_passwd is not installed (apt-get install mosquitto)")
    directory = tmp_path_factory.mktemp("secured")
    passwords, acl = directory / "passwords", directory / "acl"
    for index, (user, password) in enumerate(USERS.items()):
        create = ["-c"] if index == 0 else []
        command = [MOSQUITTO_PASSWD, *create, "-b", str(passwords), user, password]
        subprocess.run(command, check=True, timeout=WAIT)
    passwords.chmod(0o600)
    acl.write_text(ACL)
    server = pki.issue("secured-server", "127.0.0.1")
    template = listener(0, **server, cafile=pki.ca_file, require_certificate="true")
    template = template.replace("listener 0", "listener {port}") + (
        f"use_identity_as_username false\nallow_anonymous false\npassword_file {passwords}\n"
        # As root, Mosquitto would switch to a user who cannot read these files.
        f"acl_file {acl}\nuser {getpass.getuser()}\nlog_dest stderr\nlog_type error\n"
        "log_type warning\nlog_type notice\nlog_type information\n"
    )
    client_files = pki.issue("client", "client@example.org", common_name="client")
    with mosquitto(config_template=template) as broker:
        yield broker, {"ca_certs": pki.ca_file, **client_files}


@contextmanager
def session(module, secured, user, password, protocol) -> Iterator[tuple[Any, Recorder, Any]]:
    """A client of the secured broker with a client certificate and these credentials;
    yields it, its recorder and the reason of its first on_connect."""
    broker, tls = secured
    client = module.Client(
        module.CallbackAPIVersion.VERSION2,
        client_id=f"{user}-{uuid.uuid4().hex[:8]}",
        protocol=protocol,
    )
    client.tls_set(**tls)
    client.username_pw_set(user, password)
    recorder = Recorder(client)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        yield client, recorder, recorder.wait("on_connect")[1]
    finally:
        client.disconnect()
        client.loop_stop()


def connect_reason(module, secured, password, protocol) -> tuple[int, str, bool]:
    with session(module, secured, "alice", password, protocol) as (_, _, reason):
        return reason.value, reason.getName(), reason.is_failure


@PROTOCOLS
def test_credentials_with_a_client_certificate_give_the_same_connack_as_paho(secured, protocol):
    assert connect_reason(ferro, secured, "apple", protocol) == (0, "Success", False)
    expected = connect_reason(paho, secured, "wrong", protocol)
    assert expected == (135, "Not authorized", True)
    assert connect_reason(ferro, secured, "wrong", protocol) == expected


def delivered_to_alice(module, secured, protocol, subscriptions, topics) -> list[str]:
    """alice subscribes, bob publishes to each topic in turn; the topics of the messages
    alice receives up to the last topic's (it ends the check: the broker keeps order)."""
    with session(module, secured, "alice", "apple", protocol) as (alice, alice_events, reason):
        assert reason == 0
        alice.subscribe([(topic_filter, 1) for topic_filter in subscriptions])
        alice_events.wait("on_subscribe")
        with session(module, secured, "bob", "banana", protocol) as (bob, _, reason):
            assert reason == 0
            for topic in topics:
                bob.publish(topic, f"from bob to {topic}".encode(), qos=1)
            received = []
            while not received or received[-1] != topics[-1]:
                received.append(alice_events.wait("on_message")[0].topic)
    assert "on_message" not in alice_events.names()
    return received


@MODULES
@PROTOCOLS
def test_alice_receives_what_bob_publishes_to_public_topics(secured, module, protocol):
    topics = ["public/x", "public/y"]
    assert delivered_to_alice(module, secured, protocol, ["public/#"], topics) == topics


@MODULES
@PROTOCOLS
def test_bob_cannot_publish_into_alices_topics(secured, module, protocol):
    subscriptions, topics = ["alice/#", "public/#"], ["alice/x", "public/x"]
    assert delivered_to_alice(module, secured, protocol, subscriptions, topics) == ["public/x"]


@MODULES
@PROTOCOLS
def test_alice_subscribed_to_bobs_topics_receives_nothing_from_them(secured, module, protocol):
    subscriptions, topics = ["bob/#", "public/#"], ["bob/x", "public/x"]
    assert delivered_to_alice(module, secured, protocol, subscriptions, topics) == ["public/x"]
