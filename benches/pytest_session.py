"""A pytest session of N tests (default 200), each with a fresh broker and one
publish/subscribe round trip: ferromqtt's ``mqtt_broker`` fixture against a Mosquitto
subprocess per test (pytest-mqtt's way, minus Docker). Reports the wall time of each run.

    python benches/pytest_session.py [--tests 200] [--xdist 2]

The test body and the client (ferromqtt.client) are the same in both suites; only the
fixture that provides the broker differs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import require_release_build  # noqa: E402

TEST_BODY = """
import threading

import pytest

import ferromqtt.client as mqtt


@pytest.mark.parametrize("n", range({tests}))
def test_round_trip(n, mqtt_broker):
    arrived, subscribed = threading.Event(), threading.Event()
    got = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{{n}}")
    client.on_message = lambda c, u, m: (got.append(m.payload), arrived.set())
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(mqtt_broker.host, mqtt_broker.port)
    client.loop_start()
    try:
        client.subscribe("bench/t", qos=1)
        assert subscribed.wait(5)
        client.publish("bench/t", str(n), qos=1)
        assert arrived.wait(5)
        assert got == [str(n).encode()]
    finally:
        client.disconnect()
        client.loop_stop()
"""

MOSQUITTO_CONFTEST = """
import os
import socket
import subprocess
import time
from types import SimpleNamespace

import pytest

MOSQUITTO = {mosquitto!r}


@pytest.fixture
def mqtt_broker(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {{port}} 127.0.0.1\\nallow_anonymous true\\n")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while True:  # wait until it accepts, as a fixture polling the port does
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.001)
    try:
        yield SimpleNamespace(host="127.0.0.1", port=port)
    finally:
        process.terminate()
        process.wait(10)
"""


def run_suite(directory: Path, extra: list[str]) -> tuple[float, str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"suite failed in {directory}: {summary}")
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--xdist", type=int, default=0, help="also run with -n N")
    args = parser.parse_args()
    require_release_build(sys.executable)

    with tempfile.TemporaryDirectory() as root:
        suites = {}
        ours = Path(root, "ferromqtt_fixture")
        ours.mkdir()
        (ours / "test_round_trip.py").write_text(TEST_BODY.format(tests=args.tests))
        (ours / "pytest.ini").write_text("[pytest]\n")
        suites["ferromqtt mqtt_broker fixture"] = (ours, [])

        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if os.path.exists(mosquitto):
            theirs = Path(root, "mosquitto_subprocess")
            theirs.mkdir()
            (theirs / "test_round_trip.py").write_text(TEST_BODY.format(tests=args.tests))
            (theirs / "conftest.py").write_text(MOSQUITTO_CONFTEST.format(mosquitto=mosquitto))
            (theirs / "pytest.ini").write_text("[pytest]\n")
            suites["mosquitto subprocess per test"] = (theirs, ["-p", "no:ferromqtt"])
        else:
            print("mosquitto: not installed, that suite is skipped")

        print(f"{args.tests} tests, each a fresh broker and one publish/subscribe round trip")
        for name, (directory, extra) in suites.items():
            elapsed, summary = run_suite(directory, extra)
            print(f"{name:<36} {elapsed:6.2f} s wall   ({summary})")
            if args.xdist and importlib.util.find_spec("xdist") is not None:
                elapsed, summary = run_suite(directory, [*extra, "-n", str(args.xdist)])
                label = f"{name}, -n {args.xdist}"
                print(f"{label:<36} {elapsed:6.2f} s wall   ({summary})")
        print(f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
