#!/usr/bin/env bash
# The test command (README, `make test`, .ci/run): installs what the tests need and runs
# every check: formatting, lints, cargo tests, the extension build and pytest (interop
# tests included). Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Python environment (.venv)"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "maturin>=1.7,<2" "pytest>=7" pytest-timeout "paho-mqtt==2.2.*" \
    ruff trustme "mypy>=1.10" uvloop pytest-xdist aiomqtt nbclient nbformat ipykernel dnspython

step "Test peers: mosquitto, mosquitto_pub, mosquitto_sub"
bash scripts/install-peers.sh

step "Rust: format, lints, tests"
cargo fmt --all -- --check
cargo clippy --all-targets --all-features -- -D warnings
cargo test --quiet

step "Python: lints"
ruff check python tests examples benches
ruff format --check python tests examples benches

step "Python: build the extension into .venv"
maturin develop --quiet
python -m mypy.stubtest ferromqtt._core
mypy --strict examples/*.py

step "Python: tests"
python -m pytest -q -p no:cacheprovider

step "Packaging: the release wheel installs and runs without Rust"
bash scripts/check-wheel.sh
