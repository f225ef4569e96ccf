"""Bundle integrity at open: a graph altered after export is refused by the Python API, ``umedsam-predict``
and ``umedsam-native``; ``--no-verify`` and ``--allow-failed`` are the only ways past the checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from umedsam.errors import EngineError
from umedsam.runtime import Predictor
from umedsam.runtime.bundle import open_bundle
from umedsam.runtime.integrity import DigestCache, verify_cache_path


@pytest.fixture()
def verify_cache(tmp_path, monkeypatch):
    path = tmp_path / "verified.json"
    monkeypatch.setenv("UMEDSAM_VERIFY_CACHE", str(path))
    return path


def _copy_bundle(ov_bundle, dest: Path) -> Path:
    folder, _ = ov_bundle
    shutil.copytree(folder, dest)
    return dest


def _flip_byte(path: Path, offset: int = 4096) -> None:
    """Change one byte in place: same size; mtime set back, so only the inode's ctime tells."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _predict_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "umedsam.cli.predict", *args], capture_output=True, text=True, encoding="utf-8", errors="replace",
                          env=env, timeout=600)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_digest_cache_remembers_by_stat_and_sees_in_place_edits(tmp_path, verify_cache):
    f = tmp_path / "graph.bin"
    f.write_bytes(b"x" * 100_000)
    cache = DigestCache()
    first = cache.sha256(f)
    cache.save()
    assert cache.hashed == [str(f.resolve())] and verify_cache.is_file()
    again = DigestCache()
    assert again.sha256(f) == first and again.hashed == []  # a stat, no read
    _flip_byte(f, 10)  # same size, same mtime: the ctime moved
    third = DigestCache()
    assert third.sha256(f) != first and third.hashed == [str(f.resolve())]
    verify_cache.write_text("{not json")  # a corrupt cache is ignored and rewritten
    fourth = DigestCache()
    assert fourth.sha256(f) == third.sha256(f)
    fourth.save()
    assert json.loads(verify_cache.read_text(encoding="utf-8"))["version"] == 1


def test_cache_path_follows_the_openvino_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("UMEDSAM_VERIFY_CACHE", raising=False)
    monkeypatch.setenv("UMEDSAM_OV_CACHE", str(tmp_path / "ov"))
    assert verify_cache_path() == tmp_path / "verified.json"


def test_tampered_graph_refused_by_the_python_api(ov_bundle, tmp_path, verify_cache):
    bundle = _copy_bundle(ov_bundle, tmp_path / "b")
    open_bundle(bundle).verify_graphs()  # intact: passes (and fills the cache)
    with Predictor(bundle, backend="openvino", threads=1) as p:
        assert p.backend.verified
    _flip_byte(bundle / "encoder.bin")
    with pytest.raises(EngineError) as err:
        Predictor(bundle, backend="openvino", threads=1)
    msg = str(err.value)
    assert msg.startswith(f"{bundle / 'encoder.bin'}: sha256 ") and "does not match the manifest" in msg
    assert "\n" not in msg and "--no-verify" in msg
    with pytest.raises(EngineError, match="encoder.bin: sha256"):
        Predictor(bundle, backend="onnxruntime", threads=1)  # every backend of a bundle checks (before ORT fails)
    with Predictor(bundle, backend="openvino", threads=1, verify=False) as p:  # explicit opt-out loads it
        assert not p.backend.verified
    (bundle / "decoder.xml").write_text((bundle / "decoder.xml").read_text(encoding="utf-8")[:-200])  # truncated
    with pytest.raises(EngineError, match=r"encoder\.bin: sha256|decoder\.xml: sha256"):
        Predictor(bundle, backend="openvino", threads=1)


def _failed_copy(ov_bundle, dest: Path) -> Path:
    """A copy of the bundle whose manifest says the export-time check failed."""
    bundle = _copy_bundle(ov_bundle, dest)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["status"] = "failed"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def test_tampered_graph_and_failed_status_refused_by_umedsam_predict(ov_bundle, small_2d, tmp_path, verify_cache):
    bundle = _copy_bundle(ov_bundle, tmp_path / "b")
    env = {**os.environ, "UMEDSAM_VERIFY_CACHE": str(verify_cache)}
    _flip_byte(bundle / "decoder.bin")
    r = _predict_cli("-i", str(small_2d), "-o", str(tmp_path / "o1"), "--engine", str(bundle), "--threads", "1", env=env)
    assert r.returncode == 1
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and f"{bundle / 'decoder.bin'}: sha256" in errors[0], r.stderr
    assert not (tmp_path / "o1").exists() or not list((tmp_path / "o1").glob("*.npz"))
    r = _predict_cli("-i", str(small_2d), "-o", str(tmp_path / "o2"), "--engine", str(bundle), "--threads", "1",
                     "--no-verify", env=env)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "o2").glob("2D*.npz"))) == 1

    good = _failed_copy(ov_bundle, tmp_path / "failed")
    r = _predict_cli("-i", str(small_2d), "-o", str(tmp_path / "o3"), "--engine", str(good), "--threads", "1", env=env)
    assert r.returncode == 1
    errors = _error_lines(r.stderr)
    assert len(errors) == 1 and "manifest.json: field 'status': \"failed\"" in errors[0] and "--allow-failed" in errors[0]
    r = _predict_cli("-i", str(small_2d), "-o", str(tmp_path / "o4"), "--engine", str(good), "--threads", "1",
                     "--allow-failed", env=env)
    assert r.returncode == 0, r.stderr


def test_tampered_graph_and_failed_status_refused_by_umedsam_native(native_build, ov_bundle, small_2d, tmp_path,
                                                                    verify_cache):
    exe = str(native_build.executable)
    env = {**os.environ, "UMEDSAM_VERIFY_CACHE": str(verify_cache)}
    bundle = _copy_bundle(ov_bundle, tmp_path / "b")

    def run(*extra: str, bundle_dir: Path = bundle, out: str = "o") -> subprocess.CompletedProcess:
        return subprocess.run([exe, "-i", str(small_2d), "-o", str(tmp_path / out), "--bundle", str(bundle_dir),
                               "--threads", "1", "--quiet", *extra], capture_output=True, text=True, encoding="utf-8", errors="replace", env=env, timeout=600)

    r = run("--compile-only")
    assert r.returncode == 0, r.stderr
    cached = json.loads(verify_cache.read_text(encoding="utf-8"))["files"]  # the native runtime writes the shared cache format
    assert str((bundle / "encoder.bin").resolve()) in cached
    py = DigestCache()
    assert py.sha256(bundle / "encoder.bin") == cached[str((bundle / "encoder.bin").resolve())]["sha256"]
    assert py.hashed == []  # Python reuses the digest the native runtime remembered

    _flip_byte(bundle / "encoder.bin")
    r = run()
    assert r.returncode == 2
    assert r.stderr.strip() == (f"umedsam-native: {bundle / 'encoder.bin'}: sha256 "
                                f"{py.sha256(bundle / 'encoder.bin')[:12]}\u2026 does not match the manifest "
                                f"({json.loads((bundle / 'manifest.json').read_text(encoding='utf-8'))['files']['encoder.bin'][:12]}"
                                f"\u2026): the file changed after export; re-export the bundle, or pass --no-verify")
    r = run("--no-verify", out="o2")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "o2").glob("2D*.npz"))) == 1

    failed = _failed_copy(ov_bundle, tmp_path / "failed")
    r = run(bundle_dir=failed, out="o3")
    assert r.returncode == 2 and "manifest.json: field 'status': \"failed\"" in r.stderr and "--allow-failed" in r.stderr
    r = run("--allow-failed", bundle_dir=failed, out="o4")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "o4").glob("2D*.npz"))) == 1


def test_native_options_verify_by_default_for_older_callers(lib, ov_bundle, tmp_path, verify_cache):
    import ctypes

    from umedsam.runtime import native_lib as nl

    bundle = _copy_bundle(ov_bundle, tmp_path / "b")
    _flip_byte(bundle / "decoder.bin")
    opts = nl.Options()
    lib.umedsam_options_default(ctypes.byref(opts))
    assert opts.verify == 1 and opts.allow_failed == 0
    opts.size = nl.Options.verify.offset  # a caller built against the header before these two fields
    opts.verify = 0  # beyond the size it passes: not read
    handle = ctypes.c_void_p()
    assert lib.umedsam_open(str(bundle).encode(), ctypes.byref(opts), ctypes.byref(handle)) == nl.ERR_BUNDLE
    assert nl.last_error(lib).startswith(f"{bundle / 'decoder.bin'}: sha256 ")
    opts.size = ctypes.sizeof(nl.Options)
    assert lib.umedsam_open(str(bundle).encode(), ctypes.byref(opts), ctypes.byref(handle)) == nl.OK
    lib.umedsam_close(handle)
