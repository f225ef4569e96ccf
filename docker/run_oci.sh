#!/usr/bin/env bash
# Run the native challenge image the way the challenge runs a container, without a Docker daemon:
# a fresh container per call (an overlay with an empty upper layer in memory over the image's root,
# as Docker's overlay2 does: nothing one run writes, such as compiled blobs, reaches the next), the
# image's root being docker/build_oci.sh's OUT/rootfs or `umoci unpack` of its OCI layout, with the case folders
# bind-mounted at /workspace/inputs and /workspace/outputs, /proc, /sys and /dev from the host, an
# empty environment plus the image's, in a private mount namespace, under a memory cgroup limited to
# UMEDSAM_MEMORY (default 8G, the challenge's `docker run -m 8G`), running the challenge's command
# `/bin/bash -c "sh predict.sh"` in /workspace. Needs root and cgroup v1's memory controller.
#
#   UMEDSAM_OCI_ROOT=OUT/rootfs UMEDSAM_INPUTS=IN UMEDSAM_OUTPUTS=OUT [UMEDSAM_THREADS=N] bash docker/run_oci.sh
#
# The harness calls it like the Python image's predict.sh:
#   python benchmarks/challenge_harness.py --engine container=docker/run_oci.sh ...
# The peak memory of the run (the cgroup's max_usage) is printed on stderr.
set -euo pipefail
ROOT="$(realpath "${UMEDSAM_OCI_ROOT:?set UMEDSAM_OCI_ROOT to the image root file system}")"
IN="$(realpath "${UMEDSAM_INPUTS:?}")"
OUT="$(realpath -m "${UMEDSAM_OUTPUTS:?}")"
MEM="${UMEDSAM_MEMORY:-8G}"
mkdir -p "$OUT"
CG="/sys/fs/cgroup/memory/umedsam-oci-$$"
mkdir "$CG"
trap 'rmdir "$CG" 2>/dev/null || true' EXIT
echo "$MEM" > "$CG/memory.limit_in_bytes"
echo "$MEM" > "$CG/memory.memsw.limit_in_bytes" 2>/dev/null || true  # no swap beyond the limit, where accounted
ENVS=(PATH=/opt/umedsam/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
      UMEDSAM_OV_CACHE=/opt/umedsam/ovcache HOME=/root)
if [ -n "${UMEDSAM_THREADS:-}" ]; then ENVS+=(UMEDSAM_THREADS="$UMEDSAM_THREADS"); fi
status=0
unshare --mount --fork /bin/bash -c '
    set -e
    echo $$ > "$1/cgroup.procs"
    mount --make-rprivate /
    C="$(mktemp -d /tmp/umedsam-oci.XXXXXX)"
    mount -t tmpfs tmpfs "$C"
    mkdir -p "$C/upper" "$C/work" "$C/root"
    mount -t overlay overlay -o "lowerdir=$2,upperdir=$C/upper,workdir=$C/work" "$C/root"
    R="$C/root"
    mkdir -p "$R/workspace/inputs" "$R/workspace/outputs" "$R/proc" "$R/sys" "$R/dev"
    mount --bind "$3" "$R/workspace/inputs"
    mount --bind "$4" "$R/workspace/outputs"
    mount -t proc proc "$R/proc"
    mount --rbind /sys "$R/sys"
    mount --rbind /dev "$R/dev"
    shift 4
    status=0
    chroot "$R" /usr/bin/env -i "$@" /bin/bash -c "cd /workspace && sh predict.sh" || status=$?
    umount -R "$R" 2>/dev/null || umount -l "$R"
    umount -l "$C" && rmdir "$C"
    exit $status
' _ "$CG" "$ROOT" "$IN" "$OUT" "${ENVS[@]}" || status=$?
echo "run_oci: peak memory $(( $(cat "$CG/memory.max_usage_in_bytes") / 1048576 )) MiB (limit $MEM)" >&2
exit "$status"
