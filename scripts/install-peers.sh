#!/usr/bin/env bash
# Installs the real MQTT peers the interop tests use (Debian: mosquitto, mosquitto-clients)
# when running as root and they are missing; otherwise says what to install. The broker
# service the package would start is kept from starting: tests start their own on free
# loopback ports.
set -euo pipefail
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
if [ ${#missing[@]} -eq 0 ]; then
    echo "mosquitto peers present"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing test peers: ${missing[*]}. Install them (Debian/Ubuntu:"
    echo "  sudo apt-get install ${missing[*]}); the tests that need them are skipped."
    exit 0
fi
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ "$created_policy" = 1 ]; then
    rm -f "$policy"
fi
echo "installed: ${missing[*]}"
