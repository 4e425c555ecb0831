"""ferromqtt.client over TLS (rustls) against a real Mosquitto with test certificates."""

from __future__ import annotations

import shutil
import ssl

import pytest

import client_support
import ferromqtt.client as mqtt
from client_support import round_trip

pytestmark = pytest.mark.interop
trustme = pytest.importorskip("trustme", reason="trustme makes the test certificates")


@pytest.fixture
def tls_broker(tmp_path):
    if client_support.MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = (tmp_path / n for n in ("ca.pem", "server.pem", "server.key"))
    ca.cert_pem.write_to_path(str(ca_file))
    server.cert_chain_pems[0].write_to_path(str(cert_file))
    server.private_key_pem.write_to_path(str(key_file))
    other_ca = trustme.CA()
    other_ca_file = tmp_path / "other-ca.pem"
    other_ca.cert_pem.write_to_path(str(other_ca_file))
    tls_port = client_support._free_port()
    broker = client_support.Mosquitto()
    broker.extra_config = (
        f"listener {tls_port} 127.0.0.1\ncafile {ca_file}\ncertfile {cert_file}\n"
        f"keyfile {key_file}\n"
    )
    broker.start()
    broker.tls_port = tls_port
    broker.ca_file = str(ca_file)
    broker.other_ca_file = str(other_ca_file)
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.directory, ignore_errors=True)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5])
def test_tls_set_with_a_ca_file_connects_and_verifies_the_host(tls_broker, protocol):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    client.tls_set(ca_certs=tls_broker.ca_file)
    round_trip(client, "127.0.0.1", tls_broker.tls_port)


def test_tls_set_context_honours_the_context_cas(tls_broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.tls_set_context(ssl.create_default_context(cafile=tls_broker.ca_file))
    round_trip(client, "localhost", tls_broker.tls_port)


def test_an_untrusted_server_certificate_raises_ssl_error(tls_broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.tls_set(ca_certs=tls_broker.other_ca_file)
    with pytest.raises(ssl.SSLError):
        client.connect("127.0.0.1", tls_broker.tls_port)


def test_cert_none_skips_verification(tls_broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.tls_set(ca_certs=tls_broker.other_ca_file, cert_reqs=ssl.CERT_NONE)
    round_trip(client, "127.0.0.1", tls_broker.tls_port)


def test_tls_configuration_errors_match_paho(tls_broker, tmp_path):
    import paho.mqtt.client as paho

    for module in (paho, mqtt):
        client = module.Client(module.CallbackAPIVersion.VERSION2)
        with pytest.raises(ValueError, match="Must configure SSL context"):
            client.tls_insecure_set(True)
        with pytest.raises(FileNotFoundError):
            client.tls_set(ca_certs=str(tmp_path / "missing.pem"))
        client.tls_set(ca_certs=tls_broker.ca_file)
        with pytest.raises(ValueError, match="SSL/TLS has already been configured."):
            client.tls_set(ca_certs=tls_broker.ca_file)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(ValueError, match='unsupported cipher "AES256-SHA"'):
        client.tls_set(ca_certs=tls_broker.ca_file, ciphers="HIGH:AES256-SHA")
