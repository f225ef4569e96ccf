"""``umedsam-native`` (the C ABI's own client) and the C ABI test program."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np

from umedsam.data.npz import find_cases, load_segs


def test_c_abi_program(native_build, ov_bundle):
    exe = native_build.build_dir / "umedsam-abi-test"
    folder, _ = ov_bundle
    r = subprocess.run([str(exe), str(folder)], capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 0, r.stderr + r.stdout
    info = json.loads(r.stdout.splitlines()[0])
    assert info["format"] == "openvino" and info["abi"] == 2


def test_cli_matches_python_and_survives_bad_cases(native_build, ov_bundle, small_cases, tmp_path):
    from umedsam.runtime.batch import predict_folder
    from umedsam.runtime.predictor import Predictor

    folder, _ = ov_bundle
    inputs = tmp_path / "in" / "imgs"
    inputs.mkdir(parents=True)
    for p in find_cases(small_cases):
        if p.name.startswith("2D"):  # the 3D path is compared in test_backend.py (CI time)
            shutil.copy(p, inputs / p.name)
    (inputs / "2Dbroken.npz").write_bytes(b"garbage")
    np.savez(inputs / "3Dnoboxes.npz", imgs=np.zeros((2, 8, 8), np.uint8))
    out = tmp_path / "native"
    profile = tmp_path / "profile.json"
    r = subprocess.run([str(native_build.executable), "-i", str(tmp_path / "in"), "-o", str(out), "--bundle",
                        str(folder), "--threads", "2", "--profile", "--profile-json", str(profile)],
                       capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 1, r.stderr  # the fast exit keeps the exit code
    _check_profile(json.loads(profile.read_text(encoding="utf-8")), r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and any("2Dbroken.npz: field '<file>'" in e for e in errors)
    assert any("3Dnoboxes.npz: field 'boxes': missing" in e for e in errors)
    assert not (out / "2Dbroken.npz").exists() and not list(out.glob(".*"))  # nothing half-written
    csv = (out / "efficiency.csv").read_text(encoding="utf-8").splitlines()
    good = [p for p in find_cases(small_cases) if p.name.startswith("2D")]
    assert csv[0] == "case,time" and len(csv) == 1 + len(good)

    with Predictor(folder, backend="openvino", threads=2) as p:
        predict_folder(p, small_cases, tmp_path / "python", sidecars=False)
    for path in good:
        np.testing.assert_array_equal(load_segs(out / path.name), load_segs(tmp_path / "python" / path.name))
        with np.load(out / path.name) as z:
            assert z.files == ["segs"] and z["segs"].dtype == np.uint16


def test_cli_usage_and_bundle_errors(native_build, tmp_path):
    exe = str(native_build.executable)
    r = subprocess.run([exe, "-i", str(tmp_path), "-o", str(tmp_path / "o")], capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 2 and "--bundle is required" in r.stderr
    r = subprocess.run([exe, "-i", str(tmp_path), "-o", str(tmp_path / "o"), "--bundle", str(tmp_path / "nope")],
                       capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 2 and "no manifest.json" in r.stderr
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 0 and "OpenVINO" in r.stdout


def _check_profile(prof: dict, stderr: str) -> None:
    """The --profile-json timeline: every step from process start to exit, in order, adding up."""
    stages = [e["stage"] for e in prof["timeline"]]
    for needed in ("process start -> main (loader, libraries, static init)", "open bundle", "openvino core",
                   "encoder (1 image): compile or import", "decoder (1 box): compile or import", "read case", "preprocess",
                   "encode", "write segs", "write efficiency.csv"):
        assert needed in stages, (needed, stages)
    assert any(s.startswith("decode + postprocess, ") for s in stages)
    starts = [e["start"] for e in prof["timeline"]]
    assert starts == sorted(starts) and starts[0] == 0.0
    assert all(0 <= e["start"] <= e["end"] <= prof["wall_s"] for e in prof["timeline"])
    # the decoder's import runs on a second thread, inside "open bundle"
    by_name = {e["stage"]: e for e in prof["timeline"]}
    opened, dec = by_name["open bundle"], by_name["decoder (1 box): compile or import"]
    assert dec["thread"] == 1 and opened["start"] <= dec["start"] and dec["end"] <= opened["end"]
    cases = prof["cases"]
    assert cases and all(c["encoder_calls"] == 1 and c["decoder_calls"] >= 1 for c in cases)
    assert abs(prof["encode_s"] - sum(c["encode_s"] for c in cases)) < 1e-5
    assert abs(prof["overhead_s"] - (prof["wall_s"] - prof["encode_s"] - prof["decode_s"])) < 1e-5
    assert "profile (seconds since process start):" in stderr and "overhead" in stderr


def test_cli_profile_compile_only_and_no_fast_exit(native_build, ov_bundle, tmp_path):
    folder, _ = ov_bundle
    exe = str(native_build.executable)
    r = subprocess.run([exe, "--bundle", str(folder), "--compile-only", "--quiet", "--profile", "--no-fast-exit"],
                       capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 0, r.stderr
    assert "encoder (1 image): compile or import" in r.stderr and "closing the session took" in r.stderr
    r = subprocess.run([exe, "--bundle", str(folder), "--compile-only", "--quiet", "--profile-json",
                        str(tmp_path / "missing" / "p.json")], capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 1 and "p.json: cannot write" in r.stderr
