#!/usr/bin/env bash
# Challenge entry point: segment every case in /workspace/inputs into /workspace/outputs with the
# baked-in bundle. Each variable can be overridden (the tests run this script outside Docker):
#   UMEDSAM_INPUTS, UMEDSAM_OUTPUTS, UMEDSAM_BUNDLE, UMEDSAM_THREADS, UMEDSAM_PYTHON, UMEDSAM_OV_CACHE
set -euo pipefail
INPUTS="${UMEDSAM_INPUTS:-/workspace/inputs}"
OUTPUTS="${UMEDSAM_OUTPUTS:-/workspace/outputs}"
BUNDLE="${UMEDSAM_BUNDLE:-/opt/umedsam/bundle}"
PYTHON="${UMEDSAM_PYTHON:-python3}"
# compiled OpenVINO blobs baked into the image at build time: a per-case container skips compilation
export UMEDSAM_OV_CACHE="${UMEDSAM_OV_CACHE:-/opt/umedsam/ovcache}"
mkdir -p "$OUTPUTS"
args=(-i "$INPUTS" -o "$OUTPUTS" --engine "$BUNDLE" --no-sidecars)
if [ -n "${UMEDSAM_THREADS:-}" ]; then args+=(--threads "$UMEDSAM_THREADS"); fi
exec "$PYTHON" -m umedsam.cli.predict "${args[@]}"
