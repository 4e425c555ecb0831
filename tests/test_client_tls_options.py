"""TLS options of tls_set (tls_version, ciphers, keyfile_password) and of the broker's
listeners (tls_version, ciphers, keyfile_password), with certificates from trustme and
keys encrypted by ``cryptography``; Python's ssl module (OpenSSL) is the peer that reports
what was negotiated."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

import ferromqtt.client as mqtt
from client_support import round_trip
from ferromqtt.broker import Broker
from proxy_support import TinyProxy

trustme = pytest.importorskip("trustme", reason="trustme makes the test certificates")
serialization = pytest.importorskip(
    "cryptography.hazmat.primitives.serialization", reason="cryptography encrypts test keys"
)

WAIT = 10.0


class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate (CN
    alice), and both keys also as encrypted PKCS#8 files (password "s3cret")."""

    def __init__(self, directory) -> None:  # type: ignore[no-untyped-def]
        self.ca = trustme.CA()
        self.cafile = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.cafile)
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        client = self.ca.issue_cert("alice@example.org", common_name="alice")
        self.files = {}
        for name, leaf in (("server", server), ("client", client)):
            certfile, keyfile = directory / f"{name}.pem", directory / f"{name}.key"
            leaf.cert_chain_pems[0].write_to_path(str(certfile))
            leaf.private_key_pem.write_to_path(str(keyfile))
            key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
            encrypted = directory / f"{name}-encrypted.key"
            encrypted.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"s3cret"),
                )
            )
            self.files[name] = (str(certfile), str(keyfile), str(encrypted))


@pytest.fixture
def pki(tmp_path):  # type: ignore[no-untyped-def]
    return Pki(tmp_path)


class OpenSslServer:
    """One TLS accept by Python's ssl module: records the version and cipher negotiated
    and the first bytes (the client's CONNECT), then closes."""

    def __init__(self, pki: Pki) -> None:
        certfile, keyfile, _ = pki.files["server"]
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certfile, keyfile)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.negotiated: tuple[str | None, str | None] | None = None
        self.first_bytes = b""
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            raw, _ = self.listener.accept()
            raw.settimeout(WAIT)
            with self.context.wrap_socket(raw, server_side=True) as tls:
                cipher = tls.cipher()
                self.negotiated = (tls.version(), cipher[0] if cipher else None)
                self.first_bytes = tls.recv(2)
        except (OSError, ssl.SSLError):
            pass
        finally:
            self.listener.close()
            self.done.set()


@pytest.mark.parametrize(
    ("tls_version", "ciphers", "expected"),
    [
        (None, None, ("TLSv1.3", None)),
        (ssl.TLSVersion.TLSv1_3, "TLS_CHACHA20_POLY1305_SHA256", ("TLSv1.3", None)),
        (
            ssl.PROTOCOL_TLSv1_2,
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"),
        ),
        (
            ssl.TLSVersion.TLSv1_2,
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"),
        ),
    ],
)
def test_tls_version_and_ciphers_decide_what_is_negotiated(pki, tls_version, ciphers, expected):
    server = OpenSslServer(pki)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.tls_set(ca_certs=pki.cafile, tls_version=tls_version, ciphers=ciphers)
    client.connect("127.0.0.1", server.port)
    assert server.done.wait(WAIT)
    client.disconnect()
    version, cipher = server.negotiated or (None, None)
    assert version == expected[0]
    if expected[1] is not None:
        assert cipher == expected[1]
    elif ciphers is not None:
        assert cipher == ciphers
    assert server.first_bytes[:1] == b"\x10"  # CONNECT came through


@pytest.mark.parametrize(
    "tls_version",
    [ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1, ssl.PROTOCOL_TLS_SERVER],
    ids=["TLSv1_1", "TLSv1", "PROTOCOL_TLS_SERVER"],
)
def test_tls_versions_rustls_lacks_are_a_clear_value_error(pki, tls_version):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(ValueError, match="tls_version"):
        client.tls_set(ca_certs=pki.cafile, tls_version=tls_version)
    assert not client._ssl  # nothing half-configured
    client.tls_set(ca_certs=pki.cafile)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv31, mqtt.MQTTv311, mqtt.MQTTv5])
def test_a_tls13_only_broker_refuses_a_tls12_client(pki, protocol):
    certfile, keyfile, _ = pki.files["server"]
    with Broker(port=0, certfile=certfile, keyfile=keyfile, tls_version="tlsv1.3") as broker:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
        client.tls_set(ca_certs=pki.cafile, tls_version=ssl.TLSVersion.TLSv1_3)
        round_trip(client, "127.0.0.1", broker.port)
        old = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
        old.tls_set(ca_certs=pki.cafile, tls_version=ssl.PROTOCOL_TLSv1_2)
        with pytest.raises(ssl.SSLError):
            old.connect("127.0.0.1", broker.port)


def test_broker_ciphers_limit_what_openssl_clients_can_use(pki):
    certfile, keyfile, _ = pki.files["server"]
    with Broker(
        port=0, certfile=certfile, keyfile=keyfile, ciphers="ECDHE-ECDSA-AES256-GCM-SHA384"
    ) as broker:
        for cipher, accepted in (
            ("ECDHE-ECDSA-AES256-GCM-SHA384", True),
            ("ECDHE-ECDSA-AES128-GCM-SHA256", False),
        ):
            context = ssl.create_default_context(cafile=pki.cafile)
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(cipher)
            with socket.create_connection(("127.0.0.1", broker.port), timeout=WAIT) as raw:
                if accepted:
                    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                        assert tls.cipher()[0] == cipher
                else:
                    with pytest.raises(ssl.SSLError):
                        context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_bad_broker_tls_options_are_value_errors_naming_them(pki):
    certfile, keyfile, encrypted = pki.files["server"]
    with pytest.raises(ValueError, match="AES256-SHA"):
        Broker(port=0, certfile=certfile, keyfile=keyfile, ciphers="AES256-SHA").start()
    with pytest.raises(ValueError, match="tlsv1.1"):
        Broker(port=0, certfile=certfile, keyfile=keyfile, tls_version="tlsv1.1").start()
    with pytest.raises(OSError, match="key password is needed"):
        Broker(port=0, certfile=certfile, keyfile=encrypted).start()
    with pytest.raises(OSError, match="cannot decrypt"):
        Broker(port=0, certfile=certfile, keyfile=encrypted, keyfile_password="nope").start()


def test_encrypted_keys_on_both_sides(pki):
    certfile, _, encrypted = pki.files["server"]
    client_cert, _, client_encrypted = pki.files["client"]
    with Broker(
        port=0,
        certfile=certfile,
        keyfile=encrypted,
        keyfile_password="s3cret",
        cafile=pki.cafile,
        require_certificate=True,
        use_identity_as_username=True,
    ) as broker:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="enc")
        client.tls_set(
            ca_certs=pki.cafile,
            certfile=client_cert,
            keyfile=client_encrypted,
            keyfile_password="s3cret",
        )
        round_trip(client, "127.0.0.1", broker.port)
        # A callable gives the password, as ssl's load_cert_chain allows.
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="enc2")
        client.tls_set(
            ca_certs=pki.cafile,
            certfile=client_cert,
            keyfile=client_encrypted,
            keyfile_password=lambda: "s3cret",
        )
        round_trip(client, "127.0.0.1", broker.port)


def test_a_wrong_key_password_raises_as_paho(pki):
    import paho.mqtt.client as paho

    client_cert, _, client_encrypted = pki.files["client"]
    for module in (paho, mqtt):
        client = module.Client(module.CallbackAPIVersion.VERSION2)
        with pytest.raises(ssl.SSLError):
            client.tls_set(
                ca_certs=pki.cafile,
                certfile=client_cert,
                keyfile=client_encrypted,
                keyfile_password="wrong",
            )


def test_tls_runs_through_a_socks5_proxy(pki):
    certfile, keyfile, _ = pki.files["server"]
    with Broker(port=0, certfile=certfile, keyfile=keyfile) as broker, TinyProxy("socks5") as proxy:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.tls_set(ca_certs=pki.cafile)
        client.proxy_set(proxy_type=2, proxy_addr="127.0.0.1", proxy_port=proxy.port)
        # The certificate is checked against "localhost", the broker's name, not the proxy's.
        round_trip(client, "localhost", broker.port)
        assert proxy.requests == [("localhost", broker.port, None)]
