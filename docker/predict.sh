#!/bin/sh
# Challenge entry point: segment every case in /workspace/inputs into /workspace/outputs with the
# baked-in bundle. POSIX sh: the challenge runs `/bin/bash -c "sh predict.sh"`, and Debian's sh is
# dash (no pipefail, no arrays). Each variable can be overridden (the tests run this script outside
# Docker):
#   UMEDSAM_INPUTS, UMEDSAM_OUTPUTS, UMEDSAM_BUNDLE, UMEDSAM_THREADS, UMEDSAM_PYTHON, UMEDSAM_OV_CACHE
set -eu
INPUTS="${UMEDSAM_INPUTS:-/workspace/inputs}"
OUTPUTS="${UMEDSAM_OUTPUTS:-/workspace/outputs}"
BUNDLE="${UMEDSAM_BUNDLE:-/opt/umedsam/bundle}"
PYTHON="${UMEDSAM_PYTHON:-python3}"
# compiled OpenVINO blobs baked into the image at build time: a per-case container skips compilation
UMEDSAM_OV_CACHE="${UMEDSAM_OV_CACHE:-/opt/umedsam/ovcache}"
export UMEDSAM_OV_CACHE
mkdir -p "$OUTPUTS"
set -- -i "$INPUTS" -o "$OUTPUTS" --engine "$BUNDLE" --no-sidecars
if [ -n "${UMEDSAM_THREADS:-}" ]; then set -- "$@" --threads "$UMEDSAM_THREADS"; fi
exec "$PYTHON" -m umedsam.cli.predict "$@"
