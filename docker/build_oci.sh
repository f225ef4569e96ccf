#!/usr/bin/env bash
# Build the native challenge image without a Docker daemon: a debootstrapped Debian bookworm root
# (minbase + libzip4, from Debian's own archive), the portable native install, the bundle and its
# compiled-blob cache, packed as an OCI image with umoci. Needs root, debootstrap and umoci
# (apt-get install debootstrap umoci), and the repository's .venv (or UMEDSAM_PYTHON) for the build.
#
#   bash docker/build_oci.sh BUNDLE OUT [TAG]
#
# OUT/rootfs       the root file system (what the image holds)
# OUT/oci          the OCI image layout (umoci), tag TAG (default umedsam-native)
# OUT/umedsam-native-oci.tar.gz   the layout as one archive (what would be shipped)
# docker/run_oci.sh runs it per case, as the challenge does, with chroot and an 8 GB memory limit.
set -euo pipefail
BUNDLE="$(realpath "$1")"
OUT="$(realpath -m "$2")"
TAG="${3:-umedsam-native}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${UMEDSAM_PYTHON:-$REPO/.venv/bin/python}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$OUT"
ROOT="$OUT/rootfs"

if [ ! -x "$ROOT/bin/bash" ]; then
    rm -rf "$ROOT"
    debootstrap --variant=minbase --include=libzip4 bookworm "$ROOT" "$MIRROR"
fi
# what a runtime image does not need: package caches and lists, documentation, man pages, locales
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* \
       "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/*

# the portable install: umedsam-native + libumedsam.so + OpenVINO's runtime libraries, rpath $ORIGIN
STAGE="$OUT/stage"
rm -rf "$STAGE"
PYTHONPATH="$REPO" "$PY" -c "
from pathlib import Path
from umedsam.native_build import build
r = build(build_dir=Path('$REPO/native/build-portable'), prefix=Path('$STAGE'), portable=True)
print(r.version)"
rm -rf "$ROOT/opt/umedsam"
mkdir -p "$ROOT/opt/umedsam" "$ROOT/workspace"
cp -a "$STAGE/bin" "$STAGE/lib" "$ROOT/opt/umedsam/"
cp -a "$BUNDLE" "$ROOT/opt/umedsam/bundle"
cp "$REPO/docker/predict-native.sh" "$ROOT/workspace/predict.sh"
# compile once inside the root, so each per-case run imports the cached blobs. /proc is mounted (in a
# private mount namespace) as in any container: the loader resolves $ORIGIN through /proc/self/exe.
unshare --mount --fork /bin/bash -c '
    set -e
    mount --make-rprivate /
    mkdir -p "$1/proc" && mount -t proc proc "$1/proc"
    mkdir -p "$1/sys" && mount --rbind /sys "$1/sys"
    chroot "$1" /usr/bin/env -i PATH=/opt/umedsam/bin:/usr/bin:/bin UMEDSAM_OV_CACHE=/opt/umedsam/ovcache \
        umedsam-native --bundle /opt/umedsam/bundle --compile-only --quiet
' _ "$ROOT"

# pack: an empty image, unpacked to get umoci's bundle layout, the root copied in, repacked as a layer
rm -rf "$OUT/oci" "$OUT/unpacked"
umoci init --layout "$OUT/oci"
umoci new --image "$OUT/oci:$TAG"
umoci unpack --image "$OUT/oci:$TAG" "$OUT/unpacked"
cp -a "$ROOT/." "$OUT/unpacked/rootfs/"
umoci repack --image "$OUT/oci:$TAG" "$OUT/unpacked"
umoci config --image "$OUT/oci:$TAG" --config.workingdir /workspace \
    --config.env PATH=/opt/umedsam/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env UMEDSAM_OV_CACHE=/opt/umedsam/ovcache --config.cmd bash --config.cmd /workspace/predict.sh
umoci gc --layout "$OUT/oci"
rm -rf "$OUT/unpacked" "$STAGE"
tar -C "$OUT" -czf "$OUT/$TAG-oci.tar.gz" oci
echo "root file system: $(du -sh "$ROOT" | cut -f1); OCI layout: $(du -sh "$OUT/oci" | cut -f1); archive: $(du -h "$OUT/$TAG-oci.tar.gz" | cut -f1)"
