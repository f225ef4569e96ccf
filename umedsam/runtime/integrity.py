"""sha256 of bundle files, remembered per file so that verifying a bundle at every open stays cheap.

A bundle's manifest records the sha256 of every file the exporter wrote. Hashing the graphs at every
open costs a read of the whole bundle (47 MB for the FP32 OpenVINO bundle), which is most of a cold
start on a slow disk. So the digest of each file is remembered in one JSON file keyed by the file's
real path, together with what ``stat`` says about it: size, inode, device, mtime and ctime (in
nanoseconds). A file whose stat is unchanged is not read again. Any write to the file changes its
ctime, and ctime cannot be set back by a user (``utime`` sets mtime and atime only), so a file that
was altered in place, truncated, or replaced by another file (another inode) is hashed again.

The cache file is ``$UMEDSAM_VERIFY_CACHE`` if set, else ``verified.json`` beside the OpenVINO
compile cache (the parent folder of ``$UMEDSAM_OV_CACHE``, default ``~/.cache/umedsam``). The native
runtime (``native/src/verify.cpp``) reads and writes the same file in the same format, so a bundle
checked by one runtime opens without re-hashing in the other. Entries of deleted files are dropped
whenever the file is rewritten, so it does not grow with temporary bundles. It is rewritten atomically; two
processes updating it at once may lose one's new entries (the next open hashes again), never corrupt
it. An unreadable or malformed cache file is ignored and rewritten; an unwritable one only costs
the hashing. The measured cost is in benchmarks/faults_2026-12-02.md.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from umedsam.assets import sha256_file
from umedsam.common import write_json

#: format version of the cache file (``{"version": 1, "files": {realpath: entry}}``)
CACHE_VERSION = 1


def verify_cache_path() -> Path:
    """The JSON file where verified digests are remembered (see the module docstring)."""
    env = os.environ.get("UMEDSAM_VERIFY_CACHE")
    if env:
        return Path(env)
    ov = os.environ.get("UMEDSAM_OV_CACHE")
    root = Path(ov).parent if ov else Path.home() / ".cache" / "umedsam"
    return root / "verified.json"


def stat_key(path: Path) -> dict[str, int]:
    """What must be unchanged for a remembered digest to still hold."""
    st = os.stat(path)
    return {"size": st.st_size, "ino": st.st_ino, "dev": st.st_dev, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns}


def _load(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


class DigestCache:
    """Digests of files by real path, valid while their :func:`stat_key` is unchanged."""

    def __init__(self, cache: Path | None = None) -> None:
        self.path = cache if cache is not None else verify_cache_path()
        self.entries = _load(self.path)
        self.dirty = False
        self.hashed: list[str] = []  # files read and hashed by this instance (the cost that was paid)

    def sha256(self, path: Path) -> str:
        """The file's sha256, from the cache when its stat is unchanged, else read and remembered."""
        real = os.path.realpath(path)
        key = stat_key(Path(real))
        entry = self.entries.get(real)
        if isinstance(entry, dict) and all(entry.get(k) == v for k, v in key.items()) \
                and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
        digest = sha256_file(real)
        if stat_key(Path(real)) == key:  # unchanged while it was read: safe to remember
            self.entries[real] = {**key, "sha256": digest}
            self.dirty = True
        self.hashed.append(real)
        return digest

    def save(self) -> None:
        """Write the cache back if anything was added (best effort: a read-only home only costs time)."""
        if not self.dirty:
            return
        fresh = _load(self.path)  # keep what another process added meanwhile
        fresh.update(self.entries)
        fresh = {k: v for k, v in fresh.items() if os.path.exists(k)}  # files since deleted (temporary bundles)
        try:
            write_json(self.path, {"version": CACHE_VERSION, "files": fresh}, indent=0)
        except OSError:
            return
        self.dirty = False


# ------------------------------------------------------------------ OpenVINO compile-cache blobs
#: per cache folder: blob file name -> sha256 recorded when the blob was first seen complete
BLOB_RECORD = "umedsam-blobs.json"


def _blob_record(cache_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((cache_dir / BLOB_RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return {k: v for k, v in data.get("blobs", {}).items() if isinstance(v, str)} if isinstance(data, dict) else {}


def check_blob_cache(cache_dir: Path, digests: DigestCache | None = None) -> list[str]:
    """Remove compiled blobs whose sha256 is not the one recorded for them; returns their names.

    OpenVINO rebuilds a truncated or garbage blob by itself, but imports one whose weights were
    damaged in place and computes NaNs or wrong masks from it (measured: flipping bytes in the
    middle of the encoder blob gives NaN embeddings). Every blob is therefore recorded (name ->
    sha256, :func:`record_blobs`) once complete, and checked before each compile: a blob that
    changed is deleted, so OpenVINO compiles the graph again and rewrites it. The check costs a
    ``stat`` per blob while blobs are unchanged (digests remembered in :class:`DigestCache`).
    """
    record = _blob_record(cache_dir)
    if not record:
        return []
    digests = digests if digests is not None else DigestCache()
    removed = []
    for name, digest in record.items():
        blob = cache_dir / name
        try:
            if blob.is_file() and digests.sha256(blob) == digest:
                continue
            blob.unlink(missing_ok=True)
        except OSError:
            continue  # unreadable or undeletable: OpenVINO's own import checks remain
        removed.append(name)
    if removed:
        _write_record(cache_dir, lambda rec: {k: v for k, v in rec.items() if k not in removed})
    digests.save()
    return removed


def record_blobs(cache_dir: Path, digests: DigestCache | None = None) -> None:
    """Record the sha256 of blobs not recorded yet (called after compiling, when OpenVINO has written them)."""
    record = _blob_record(cache_dir)
    digests = digests if digests is not None else DigestCache()
    new = {}
    for blob in sorted(cache_dir.glob("*.blob")):
        if blob.name not in record:
            try:
                key = stat_key(blob)
                digest = digests.sha256(blob)
                if stat_key(blob) == key:  # not being written while it was read
                    new[blob.name] = digest
            except OSError:
                continue
    if new:
        _write_record(cache_dir, lambda rec: {**rec, **new})
    digests.save()


def _write_record(cache_dir: Path, change) -> None:
    """Rewrite the record atomically from its current content (another process may have added blobs)."""
    try:
        write_json(cache_dir / BLOB_RECORD, {"version": CACHE_VERSION, "blobs": change(_blob_record(cache_dir))})
    except OSError:
        pass  # a read-only cache: the blobs stay unrecorded (OpenVINO's own checks remain)


#: lock file of a compile-cache folder (the native runtime takes the same lock: native/src/verify.cpp)
LOCK_NAME = ".umedsam.lock"


@contextmanager
def cache_lock(cache_dir: Path | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the cache folder while checking, compiling and recording blobs.

    Without it, two processes compiling the same graph write the same blob file at once and one may
    record the other's half-written blob (found by tests/runtime/test_compile_cache.py). With it the
    second process waits for the first compile and then imports its blob: both succeed, and no more
    CPU is spent than by one compile. The kernel drops the lock when a holder dies; a cache folder
    where the lock file cannot be created is used unlocked.
    """
    if cache_dir is None:
        yield
        return
    try:
        fd = os.open(cache_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
