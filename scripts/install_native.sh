#!/usr/bin/env bash
# Build the native runtime (libumedsam.so + umedsam-native) into .venv: Debian's build dependencies
# (installed when missing and apt-get is usable as root), then `umedsam native build`.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="cmake g++ pkg-config ninja-build libzip-dev nlohmann-json3-dev libssl-dev"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends $missing >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
    else
        echo "native runtime needs:$missing (apt-get install them, then: .venv/bin/umedsam native build)" >&2
        exit 1
    fi
fi
.venv/bin/umedsam native build
