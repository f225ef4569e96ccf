"""The OpenVINO compile cache under faults, for the Python OpenVINO backend and the native runtime:
blobs truncated, replaced by garbage or damaged in place are rebuilt and the outputs stay exact; two
processes compiling into one empty cache at once both succeed with the same outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from umedsam.runtime.integrity import BLOB_RECORD, check_blob_cache


def _damage(blob: Path, how: str) -> None:
    os.chmod(blob, 0o640)  # OpenVINO writes blobs read-only
    size = blob.stat().st_size
    if how == "truncated":
        os.truncate(blob, size // 10)
    elif how == "garbage":
        blob.write_bytes(np.random.default_rng(0).integers(0, 256, size // 4, dtype=np.uint8).tobytes())
    else:  # in place: the header intact, weights damaged (OpenVINO imports it and computes NaNs)
        with open(blob, "r+b") as f:
            for off in range(size // 3, 2 * size // 3, 4096):
                f.seek(off)
                b = f.read(4)
                f.seek(off)
                f.write(bytes(x ^ 0x55 for x in b))


def _open(kind: str, bundle: Path, cache: Path):
    if kind == "python":
        from umedsam.runtime.backends.openvino_backend import OpenVINOBackend

        return OpenVINOBackend(str(bundle), threads=1, cache_dir=cache)
    from umedsam.runtime.backends.native_backend import NativeBackend

    return NativeBackend(str(bundle), threads=1, cache_dir=str(cache))


def _outputs(backend, golden) -> tuple[np.ndarray, np.ndarray]:
    emb = backend.encode(golden["a_images"][:1])
    logits, _ = backend.decode(emb, golden["b_boxes256"][0][:1])
    return emb, logits


@pytest.fixture(params=["python", "native"])
def kind(request):
    if request.param == "native":
        request.getfixturevalue("lib")
    return request.param


def test_damaged_blobs_rebuilt_with_exact_outputs(kind, ov_bundle, golden, tmp_path, monkeypatch):
    monkeypatch.setenv("UMEDSAM_VERIFY_CACHE", str(tmp_path / "verified.json"))
    bundle, _ = ov_bundle
    cache = tmp_path / "ov"
    with _open(kind, bundle, cache) as b:
        ref = _outputs(b, golden)
    blobs = sorted(cache.glob("*.blob"))
    assert len(blobs) == 2 and set(json.loads((cache / BLOB_RECORD).read_text(encoding="utf-8"))["blobs"]) == {p.name for p in blobs}
    for how in ("in_place", "truncated", "garbage"):
        for blob in blobs:
            _damage(blob, how)
        with _open(kind, bundle, cache) as b:
            if kind == "python":
                assert sorted(b.rebuilt_blobs) == [p.name for p in blobs], how
            out = _outputs(b, golden)
        for want, got in zip(ref, out):
            np.testing.assert_array_equal(got, want, err_msg=how)
        assert check_blob_cache(cache) == []  # rebuilt and recorded again


def test_a_stage_compiled_on_first_use_is_recorded_at_once(kind, ov_bundle, golden, tmp_path, monkeypatch):
    """The multi-box decoder is compiled on the first multi-box call; its blob is in the record as soon
    as that call returns, not at some later open (where a blob damaged meanwhile would pass as good)."""
    monkeypatch.setenv("UMEDSAM_VERIFY_CACHE", str(tmp_path / "verified.json"))
    bundle, _ = ov_bundle
    cache = tmp_path / "ov"
    with _open(kind, bundle, cache) as b:
        emb = b.encode(golden["a_images"][:1])
        assert len(list(cache.glob("*.blob"))) == 2
        b.decode(emb, np.repeat(golden["b_boxes256"][0][:1], 2, axis=0))
        blobs = {p.name for p in cache.glob("*.blob")}
        assert len(blobs) == 3
        assert set(json.loads((cache / BLOB_RECORD).read_text(encoding="utf-8"))["blobs"]) == blobs


CHILD = r"""
import sys, numpy as np
kind, bundle, cache, golden = sys.argv[1:]
from tests.runtime.test_compile_cache import _open, _outputs
g = dict(np.load(golden))
with _open(kind, bundle, __import__("pathlib").Path(cache)) as b:
    emb, logits = _outputs(b, g)
print(float(np.float64(emb).sum()), float(np.float64(logits).sum()))
"""


def test_two_processes_compile_into_one_cache(kind, ov_bundle, tmp_path):
    from tests.conftest import GOLDEN

    bundle, _ = ov_bundle
    cache = tmp_path / "ov"
    env = {**os.environ, "UMEDSAM_VERIFY_CACHE": str(tmp_path / "verified.json")}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, kind, str(bundle), str(cache), str(GOLDEN)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", env=env) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        results.append(out.split())
    assert results[0] == results[1]
    assert len(list(cache.glob("*.blob"))) == 2 and check_blob_cache(cache) == []
    again = subprocess.run([sys.executable, "-c", CHILD, kind, str(bundle), str(cache), str(GOLDEN)],
                           capture_output=True, text=True, encoding="utf-8", errors="replace", env=env, timeout=600)
    assert again.returncode == 0 and again.stdout.split() == results[0]
