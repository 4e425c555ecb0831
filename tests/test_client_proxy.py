"""ferromqtt.client through SOCKS5, SOCKS4 and HTTP CONNECT proxies (paho's proxy_set), and
the asyncio client's ``proxy=``: a tiny proxy written in the tests forwards to the
in-process broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest

import ferromqtt.aio as aio
import ferromqtt.client as mqtt
from client_support import Recorder, _free_port, round_trip
from proxy_support import TinyProxy

SOCKS4, SOCKS5, HTTP = 1, 2, 3  # PySocks' constants, as paho's users pass them
KINDS = {"socks4": SOCKS4, "socks5": SOCKS5, "http": HTTP}


@pytest.mark.parametrize("protocol", [mqtt.MQTTv31, mqtt.MQTTv311, mqtt.MQTTv5])
@pytest.mark.parametrize("kind", ["socks5", "socks4", "http"])
def test_messages_flow_through_a_proxy(mqtt_broker, kind, protocol):
    with TinyProxy(kind) as proxy:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
        client.proxy_set(proxy_type=KINDS[kind], proxy_addr="127.0.0.1", proxy_port=proxy.port)
        round_trip(client, "localhost", mqtt_broker.port)
        # Remote DNS by default (proxy_rdns=True): the proxy got the name.
        assert proxy.requests == [("localhost", mqtt_broker.port, None)]
        assert proxy.tunnels == 1


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_proxy_credentials_are_sent_and_checked(mqtt_broker, kind):
    with TinyProxy(kind, credentials=("ann", "s3cret")) as proxy:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.proxy_set(
            proxy_type=KINDS[kind],
            proxy_addr="127.0.0.1",
            proxy_port=proxy.port,
            proxy_username="ann",
            proxy_password="s3cret",
        )
        round_trip(client, "127.0.0.1", mqtt_broker.port)
        assert proxy.requests == [("127.0.0.1", mqtt_broker.port, "ann")]

        wrong = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        wrong.proxy_set(
            proxy_type=KINDS[kind],
            proxy_addr="127.0.0.1",
            proxy_port=proxy.port,
            proxy_username="ann",
            proxy_password="guess",
        )
        with pytest.raises(mqtt.ProxyError, match="refused the user name and password"):
            wrong.connect("127.0.0.1", mqtt_broker.port)
        assert proxy.tunnels == 1


def test_local_dns_sends_the_proxy_an_address(mqtt_broker):
    with TinyProxy("socks5") as proxy:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.proxy_set(
            proxy_type=SOCKS5, proxy_addr="127.0.0.1", proxy_port=proxy.port, proxy_rdns=False
        )
        client.connect("localhost", mqtt_broker.port)
        client.disconnect()
        host, port, _ = proxy.requests[0]
        assert host in ("127.0.0.1", "::1")
        assert port == mqtt_broker.port


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("socks5", "connection not allowed by ruleset"),
        ("socks4", "request rejected"),
        ("http", "403 Forbidden"),
    ],
)
def test_a_tunnel_refused_by_the_proxy_raises_a_clear_error(mqtt_broker, kind, reason):
    with TinyProxy(kind, refuse=True) as proxy:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.proxy_set(proxy_type=KINDS[kind], proxy_addr="127.0.0.1", proxy_port=proxy.port)
        with pytest.raises(mqtt.ProxyError, match=reason) as error:
            client.connect("127.0.0.1", mqtt_broker.port)
        assert isinstance(error.value, ConnectionError)
        assert f"127.0.0.1:{proxy.port}" in str(error.value)
        assert not mqtt_broker.clients()


def test_an_unreachable_proxy_raises_and_fires_on_connect_fail(mqtt_broker):
    dead_port = _free_port()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, reconnect_on_failure=False)
    client.proxy_set(proxy_type=SOCKS5, proxy_addr="127.0.0.1", proxy_port=dead_port)
    expected = f"cannot connect to the SOCKS5 proxy 127.0.0.1:{dead_port}"
    with pytest.raises(mqtt.ProxyError, match=expected):
        client.connect("127.0.0.1", mqtt_broker.port)

    recorder = Recorder(client)
    client.connect_async("127.0.0.1", mqtt_broker.port)
    client.loop_start()
    try:
        recorder.wait("on_connect_fail")
    finally:
        client.loop_stop()
    assert "on_connect" not in recorder.names()


def test_the_mqtt_proxy_environment_variable_is_used_as_paho_does(mqtt_broker, monkeypatch):
    with TinyProxy("socks5") as proxy:
        monkeypatch.setenv("mqtt_proxy", f"socks://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        round_trip(client, "localhost", mqtt_broker.port)
        assert proxy.requests == [("localhost", mqtt_broker.port, None)]


def test_the_asyncio_client_goes_through_a_proxy(mqtt_broker):
    async def scenario(proxy: TinyProxy) -> bytes:
        settings = aio.ProxySettings(
            proxy_type=HTTP,
            proxy_addr="127.0.0.1",
            proxy_port=proxy.port,
            proxy_username="ann",
            proxy_password="pw",
        )
        async with aio.Client("localhost", mqtt_broker.port, proxy=settings) as client:
            await client.subscribe("aio/proxy", qos=1)
            await client.publish("aio/proxy", b"hello", qos=1)
            async for message in client.messages:
                return message.payload
        raise AssertionError("no message")

    with TinyProxy("http", credentials=("ann", "pw")) as proxy:
        assert asyncio.run(asyncio.wait_for(scenario(proxy), 10)) == b"hello"
        assert proxy.requests == [("localhost", mqtt_broker.port, "ann")]

    async def refused() -> None:
        settings = aio.ProxySettings(proxy_type=SOCKS5, proxy_addr="127.0.0.1", proxy_port=1)
        async with aio.Client("127.0.0.1", mqtt_broker.port, proxy=settings):
            pass

    with pytest.raises(aio.MqttError, match="SOCKS5 proxy 127.0.0.1:1"):
        asyncio.run(refused())
    with pytest.raises(ValueError, match="proxy_type and/or proxy_addr are invalid"):
        aio.Client("h", proxy=aio.ProxySettings(proxy_type=7, proxy_addr="p"))


def test_publish_single_and_subscribe_simple_take_proxy_args(mqtt_broker):
    import ferromqtt.publish as publish
    import ferromqtt.subscribe as subscribe

    with TinyProxy("socks5") as proxy:
        proxy_args = {"proxy_type": SOCKS5, "proxy_addr": "127.0.0.1", "proxy_port": proxy.port}
        topic = f"proxy/{uuid.uuid4().hex[:8]}"
        publish.single(
            topic, b"kept", qos=1, retain=True, port=mqtt_broker.port, proxy_args=proxy_args
        )
        message = subscribe.simple(topic, port=mqtt_broker.port, proxy_args=proxy_args)
        assert message.payload == b"kept"
        assert proxy.requests == [("localhost", mqtt_broker.port, None)] * 2


def test_websockets_run_through_a_proxy():
    from ferromqtt.broker import Broker

    with Broker(port=0, protocol="websockets", path="/mqtt") as broker, TinyProxy("http") as proxy:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, transport="websockets")
        client.ws_set_options(path="/mqtt")
        client.proxy_set(proxy_type=HTTP, proxy_addr="127.0.0.1", proxy_port=proxy.port)
        round_trip(client, "localhost", broker.port)
        assert proxy.requests == [("localhost", broker.port, None)]
