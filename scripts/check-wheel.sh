#!/usr/bin/env bash
# Builds the release wheel and checks that it is one abi3 wheel (CPython >= 3.9) which
# installs into a fresh virtualenv without Rust and passes a smoke test there: import,
# start a broker, a publish/subscribe round trip with ferromqtt.client.
#
#   scripts/check-wheel.sh          # MATURIN / PYTHON override the tools used
#
# The test command runs it last (it costs a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
MATURIN=${MATURIN:-maturin}
PYTHON=${PYTHON:-python3}
started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$MATURIN" build --release --out "$work/dist" >&2
shopt -s nullglob
wheels=("$work"/dist/*.whl)
if [ "${#wheels[@]}" -ne 1 ]; then
    echo "check-wheel: expected one wheel, got ${#wheels[@]}: ${wheels[*]}" >&2
    exit 1
fi
wheel=${wheels[0]}
case "$(basename "$wheel")" in
    ferromqtt-*-cp39-abi3-*.whl) ;;
    *) echo "check-wheel: not a cp39-abi3 wheel: $(basename "$wheel")" >&2; exit 1 ;;
esac

# A fresh virtualenv, and a PATH without cargo/rustc: the install must not build anything.
"$PYTHON" -m venv "$work/venv"
no_rust_path=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e cargo -e rustup | paste -sd:)
if PATH=$no_rust_path command -v cargo >/dev/null; then
    echo "check-wheel: cargo is still on PATH ($(PATH=$no_rust_path command -v cargo))" >&2
    exit 1
fi
PATH=$no_rust_path "$work/venv/bin/pip" install -q --no-index --only-binary=:all: "$wheel"

# Run from an empty directory, so the checkout's python/ cannot be imported instead.
mkdir "$work/smoke"
cat > "$work/smoke/smoke.py" <<'EOF'
import sys
import threading

import ferromqtt
import ferromqtt.client as mqtt
from ferromqtt.broker import Broker

assert sys.prefix in ferromqtt.__file__, f"imported from {ferromqtt.__file__}"
received = []
arrived = threading.Event()

def on_message(client, userdata, message):
    received.append((message.topic, message.payload))
    arrived.set()

with Broker(port=0) as broker:
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    client.subscribe("smoke/#", qos=1)
    assert subscribed.wait(5), "no SUBACK"
    client.publish("smoke/test", b"round trip", qos=1).wait_for_publish(5)
    assert arrived.wait(5), "message did not come back"
    client.disconnect()
    client.loop_stop()
assert received == [("smoke/test", b"round trip")], received
print(f"smoke test passed: ferromqtt {ferromqtt.__version__} from {ferromqtt.__file__}")
EOF
(cd "$work/smoke" && PATH=$no_rust_path "$work/venv/bin/python" -X dev smoke.py)
echo "check-wheel: $(basename "$wheel") OK in $(( $(date +%s) - started )) s"
