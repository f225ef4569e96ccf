#!/usr/bin/env bash
# Export the bundle, build the challenge image, save it as the challenge asks (a .tar.gz).
#   bash docker/build.sh [CKPT] [TAG]              # Python runtime image (docker/Dockerfile)
#   VARIANT=native bash docker/build.sh [CKPT] [TAG] # native image (docker/Dockerfile.native)
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT="${1:-}"
VARIANT="${VARIANT:-python}"
if [ "$VARIANT" = native ]; then DOCKERFILE=docker/Dockerfile.native; DEFAULT_TAG=umedsam:native
else DOCKERFILE=docker/Dockerfile; DEFAULT_TAG=umedsam:latest; fi
TAG="${2:-$DEFAULT_TAG}"
rm -rf docker/bundle
.venv/bin/umedsam-export ${CKPT:+--ckpt "$CKPT"} --target openvino -o docker/bundle
docker build -f "$DOCKERFILE" -t "$TAG" .
docker save "$TAG" | gzip > "${TAG//:/-}.tar.gz"
echo "saved ${TAG//:/-}.tar.gz"
