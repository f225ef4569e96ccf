#!/bin/sh
# Challenge entry point of the native image: segment every case in /workspace/inputs into
# /workspace/outputs with the baked-in bundle, no Python involved. POSIX sh: the challenge runs
# `/bin/bash -c "sh predict.sh"`, and Debian's sh is dash (no pipefail, no arrays). Each variable can
# be overridden (the tests run this script outside Docker):
#   UMEDSAM_INPUTS, UMEDSAM_OUTPUTS, UMEDSAM_BUNDLE, UMEDSAM_THREADS, UMEDSAM_NATIVE, UMEDSAM_OV_CACHE
set -eu
INPUTS="${UMEDSAM_INPUTS:-/workspace/inputs}"
OUTPUTS="${UMEDSAM_OUTPUTS:-/workspace/outputs}"
BUNDLE="${UMEDSAM_BUNDLE:-/opt/umedsam/bundle}"
NATIVE="${UMEDSAM_NATIVE:-umedsam-native}"
UMEDSAM_OV_CACHE="${UMEDSAM_OV_CACHE:-/opt/umedsam/ovcache}"
export UMEDSAM_OV_CACHE
mkdir -p "$OUTPUTS"
set -- -i "$INPUTS" -o "$OUTPUTS" --bundle "$BUNDLE"
if [ -n "${UMEDSAM_THREADS:-}" ]; then set -- "$@" --threads "$UMEDSAM_THREADS"; fi
exec "$NATIVE" "$@"
