"""ferromqtt.aio over TLS (tls_params, tls_context, tls_insecure as aiomqtt), WebSocket
(transport="websockets", websocket_path, websocket_headers) and Unix sockets, against the
in-process broker's listeners."""

from __future__ import annotations

import asyncio
import ssl
import uuid

import pytest

import ferromqtt.aio as aio
from ferromqtt.broker import Broker

trustme = pytest.importorskip("trustme", reason="trustme makes the test certificates")

VERSIONS = [aio.ProtocolVersion.V31, aio.ProtocolVersion.V311, aio.ProtocolVersion.V5]


@pytest.fixture
def pki(tmp_path):  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    files = {name: str(tmp_path / name) for name in ("ca.pem", "server.pem", "server.key")}
    ca.cert_pem.write_to_path(files["ca.pem"])
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(files["server.pem"])
    server.private_key_pem.write_to_path(files["server.key"])
    # A certificate for another name, for the host name check.
    other = ca.issue_cert("broker.example")
    files["other.pem"], files["other.key"] = str(tmp_path / "o.pem"), str(tmp_path / "o.key")
    other.cert_chain_pems[0].write_to_path(files["other.pem"])
    other.private_key_pem.write_to_path(files["other.key"])
    return files


async def echo(hostname: str, port: int = 1883, **options) -> bytes:  # type: ignore[no-untyped-def]
    """Connect, subscribe, publish QoS 1 and return what came back."""
    topic = f"aio/{uuid.uuid4().hex[:8]}"
    async with aio.Client(hostname, port, **options) as client:
        await client.subscribe(topic, qos=1)
        await client.publish(topic, b"over the wire", qos=1)
        async for message in client.messages:
            return message.payload
    raise AssertionError("no message")


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coroutine, 10))


@pytest.mark.parametrize("protocol", VERSIONS)
def test_tls_params_connect_and_verify_the_server(pki, protocol):
    with Broker(port=0, certfile=pki["server.pem"], keyfile=pki["server.key"]) as broker:
        params = aio.TLSParameters(ca_certs=pki["ca.pem"], tls_version=ssl.PROTOCOL_TLS_CLIENT)
        payload = run(echo("127.0.0.1", broker.port, tls_params=params, protocol=protocol))
        assert payload == b"over the wire"


def test_tls_context_and_tls_insecure_as_aiomqtt(pki):
    with Broker(port=0, certfile=pki["other.pem"], keyfile=pki["other.key"]) as broker:
        context = ssl.create_default_context(cafile=pki["ca.pem"])
        # The certificate is for broker.example: the host name check refuses it...
        with pytest.raises(aio.MqttError, match="TLS"):
            run(echo("127.0.0.1", broker.port, tls_context=context))
        # ...unless turned off; the chain is still checked.
        insecure = ssl.create_default_context(cafile=pki["ca.pem"])
        assert run(echo("127.0.0.1", broker.port, tls_context=insecure, tls_insecure=True))
        stranger = ssl.create_default_context()  # system CAs: not ours
        with pytest.raises(aio.MqttError, match="TLS"):
            run(echo("127.0.0.1", broker.port, tls_context=stranger, tls_insecure=True))


@pytest.mark.parametrize("protocol", VERSIONS)
def test_websockets_with_a_path_and_headers(protocol):
    with Broker(port=0, protocol="websockets", path="/mqtt") as broker:
        payload = run(
            echo(
                "127.0.0.1",
                broker.port,
                transport="websockets",
                websocket_path="/mqtt",
                websocket_headers={"X-Client": "aio"},
                protocol=protocol,
            )
        )
        assert payload == b"over the wire"
        with pytest.raises(aio.MqttError, match="404"):
            run(echo("127.0.0.1", broker.port, transport="websockets", websocket_path="/other"))


def test_secure_websockets(pki):
    with Broker(
        port=0,
        protocol="websockets",
        certfile=pki["server.pem"],
        keyfile=pki["server.key"],
    ) as broker:
        params = aio.TLSParameters(ca_certs=pki["ca.pem"])
        payload = run(echo("localhost", broker.port, transport="websockets", tls_params=params))
        assert payload == b"over the wire"


@pytest.mark.parametrize("protocol", VERSIONS)
def test_unix_socket(tmp_path, protocol):
    path = str(tmp_path / "mqtt.sock")
    with Broker(sys_interval=0, unix_socket=path):
        assert run(echo(path, transport="unix", protocol=protocol)) == b"over the wire"


def test_bad_transport_options_are_refused_at_construction(pki):
    with pytest.raises(ValueError, match="transport"):
        aio.Client("h", transport="carrier-pigeon")
    with pytest.raises(ValueError, match="websocket_headers"):
        aio.Client("h", transport="websockets", websocket_headers=["X: y"])
    with pytest.raises(ValueError, match="unsupported cipher"):
        aio.Client("h", tls_params=aio.TLSParameters(ca_certs=pki["ca.pem"], ciphers="RC4-MD5"))
    context = ssl.create_default_context()
    with pytest.raises(ValueError, match="already been configured"):
        aio.Client("h", tls_context=context, tls_params=aio.TLSParameters())
