#!/usr/bin/env bash
# Challenge entry point of the native image: segment every case in /workspace/inputs into
# /workspace/outputs with the baked-in bundle, no Python involved. Each variable can be overridden
# (the tests run this script outside Docker):
#   UMEDSAM_INPUTS, UMEDSAM_OUTPUTS, UMEDSAM_BUNDLE, UMEDSAM_THREADS, UMEDSAM_NATIVE, UMEDSAM_OV_CACHE
set -euo pipefail
INPUTS="${UMEDSAM_INPUTS:-/workspace/inputs}"
OUTPUTS="${UMEDSAM_OUTPUTS:-/workspace/outputs}"
BUNDLE="${UMEDSAM_BUNDLE:-/opt/umedsam/bundle}"
NATIVE="${UMEDSAM_NATIVE:-umedsam-native}"
export UMEDSAM_OV_CACHE="${UMEDSAM_OV_CACHE:-/opt/umedsam/ovcache}"
mkdir -p "$OUTPUTS"
args=(-i "$INPUTS" -o "$OUTPUTS" --bundle "$BUNDLE")
if [ -n "${UMEDSAM_THREADS:-}" ]; then args+=(--threads "$UMEDSAM_THREADS"); fi
exec "$NATIVE" "${args[@]}"
