#!/usr/bin/env bash
# Export the bundle, build the challenge image, save it as the challenge asks (a .tar.gz).
#   bash docker/build.sh [CKPT] [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT="${1:-}"
TAG="${2:-umedsam:latest}"
rm -rf docker/bundle
.venv/bin/umedsam-export ${CKPT:+--ckpt "$CKPT"} --target openvino -o docker/bundle
docker build -f docker/Dockerfile -t "$TAG" .
docker save "$TAG" | gzip > "${TAG%%:*}.tar.gz"
echo "saved ${TAG%%:*}.tar.gz"
