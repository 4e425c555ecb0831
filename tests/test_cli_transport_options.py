"""``ferromqtt pub``/``sub`` transport options with mosquitto_pub's spelling: ``--unix``,
``--proxy``, ``--tls-version``, ``--ciphers`` and the unsupported ``--psk``, against the
in-process broker (and mosquitto_pub through the same proxy, for comparison)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

import pytest

from ferromqtt.broker import Broker
from proxy_support import TinyProxy

TIMEOUT = 15
FERRO_PUB = [sys.executable, "-m", "ferromqtt", "pub"]
FERRO_SUB = [sys.executable, "-m", "ferromqtt", "sub"]
MOSQUITTO_PUB = shutil.which("mosquitto_pub")
HINT = "\n\nUse 'ferromqtt pub --help' to see usage.\n"


def run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=TIMEOUT)


def publish_then_read(connection: list[str], extra_sub: list[str] | None = None) -> bytes:
    """pub a retained message, then sub -C 1 reads it back: what sub printed."""
    topic = f"cli/{uuid.uuid4().hex[:8]}"
    done = run([*FERRO_PUB, *connection, "-t", topic, "-m", "hello", "-r", "-q", "1"])
    assert (done.returncode, done.stderr) == (0, b""), done
    done = run([*FERRO_SUB, *connection, *(extra_sub or []), "-t", topic, "-C", "1", "-v"])
    assert (done.returncode, done.stderr) == (0, b""), done
    return done.stdout.replace(topic.encode(), b"TOPIC")


def test_unix_socket(tmp_path):
    path = str(tmp_path / "mqtt.sock")
    with Broker(sys_interval=0, unix_socket=path):
        assert publish_then_read(["--unix", path]) == b"TOPIC hello\n"
    done = run([*FERRO_PUB, "--unix", str(tmp_path / "missing.sock"), "-t", "a", "-m", "x"])
    assert (done.returncode, done.stderr) == (1, b"Error: No such file or directory\n")


def test_socks5h_proxy_with_credentials():
    with (
        Broker(host="127.0.0.1", port=0) as broker,
        TinyProxy("socks5", credentials=("ann", "p@ss")) as proxy,
    ):
        url = f"socks5h://ann:p%40ss@127.0.0.1:{proxy.port}"
        connection = ["-h", "localhost", "-p", str(broker.port), "--proxy", url]
        assert publish_then_read(connection) == b"TOPIC hello\n"
        assert proxy.requests == [("localhost", broker.port, "ann")] * 2
        assert proxy.tunnels == 2


@pytest.mark.interop
@pytest.mark.skipif(MOSQUITTO_PUB is None, reason="needs mosquitto_pub (mosquitto-clients)")
def test_mosquitto_pub_reads_the_same_proxy_url_the_same_way():
    with (
        Broker(host="127.0.0.1", port=0) as broker,
        TinyProxy("socks5", credentials=("ann", "pw")) as proxy,
    ):
        # (mosquitto_pub 2.0.11 does not decode %40 in the password, so none here.)
        url = f"socks5h://ann:pw@127.0.0.1:{proxy.port}"
        args = ["-h", "localhost", "-p", str(broker.port), "--proxy", url, "-t", "a", "-m", "x"]
        for tool in (FERRO_PUB, [MOSQUITTO_PUB or ""]):
            done = run([*tool, *args])
            assert (done.returncode, done.stderr) == (0, b""), done
        assert proxy.requests == [("localhost", broker.port, "ann")] * 2


@pytest.mark.parametrize(
    ("url", "code", "stderr"),
    [
        ("ftp://x", 1, "Error: Unsupported proxy protocol: ftp://x" + HINT),
        ("socks5h://127.0.0.1:1", 1, "Error: cannot connect to the SOCKS5 proxy 127.0.0.1:1"),
    ],
)
def test_proxy_failures(url, code, stderr):
    with Broker(host="127.0.0.1", port=0) as broker:
        done = run([*FERRO_PUB, "-p", str(broker.port), "--proxy", url, "-t", "a", "-m", "x"])
        assert done.returncode == code
        assert done.stderr.decode().startswith(stderr), done.stderr
        assert not broker.clients()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):  # type: ignore[no-untyped-def]
    trustme = pytest.importorskip("trustme", reason="trustme makes the test certificates")
    directory = tmp_path_factory.mktemp("cli-tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {name: str(directory / name) for name in ("ca.pem", "cert.pem", "key.pem")}
    ca.cert_pem.write_to_path(files["ca.pem"])
    server.cert_chain_pems[0].write_to_path(files["cert.pem"])
    server.private_key_pem.write_to_path(files["key.pem"])
    return files


def test_tls_version_and_ciphers(tls_files):
    tls13 = {"certfile": tls_files["cert.pem"], "keyfile": tls_files["key.pem"]}
    with Broker(host="127.0.0.1", port=0, tls_version="tlsv1.3", **tls13) as broker:
        base = ["-h", "127.0.0.1", "-p", str(broker.port), "--cafile", tls_files["ca.pem"]]
        assert publish_then_read([*base, "--tls-version", "tlsv1.3"]) == b"TOPIC hello\n"
        done = run([*FERRO_PUB, *base, "--tls-version", "tlsv1.2", "-t", "a", "-m", "x"])
        assert done.returncode == 8
        assert done.stderr.decode().splitlines()[0] == "Error: A TLS error occurred."
        done = run([*FERRO_PUB, *base, "--tls-version", "tlsv1.1", "-t", "a", "-m", "x"])
        assert done.returncode == 1
        assert done.stderr.decode().startswith("Error: Problem setting TLS options: tls_version")
        assert b"TLS 1.2 and 1.3" in done.stderr
    with Broker(host="127.0.0.1", port=0, **tls13) as broker:
        base = ["-h", "127.0.0.1", "-p", str(broker.port), "--cafile", tls_files["ca.pem"]]
        ciphers = ["--tls-version", "tlsv1.2", "--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"]
        assert publish_then_read([*base, *ciphers]) == b"TOPIC hello\n"
        done = run([*FERRO_PUB, *base, "--ciphers", "DES-CBC3-SHA", "-t", "a", "-m", "x"])
        assert done.returncode == 1
        assert b'unsupported cipher "DES-CBC3-SHA"' in done.stderr


@pytest.mark.parametrize("tool", [FERRO_PUB, FERRO_SUB], ids=["pub", "sub"])
def test_psk_is_refused_naming_what_is_missing(tool):
    message = ["-m", "x"] if tool is FERRO_PUB else []
    done = run([*tool, "-p", "1", "--psk", "0102", "--psk-identity", "me", "-t", "a", *message])
    assert done.returncode == 1
    assert b"TLS-PSK (--psk, --psk-identity) is not supported" in done.stderr
    assert b"rustls" in done.stderr
