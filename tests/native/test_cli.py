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
    r = subprocess.run([str(exe), str(folder)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    info = json.loads(r.stdout.splitlines()[0])
    assert info["format"] == "openvino" and info["abi"] == 1


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
    r = subprocess.run([str(native_build.executable), "-i", str(tmp_path / "in"), "-o", str(out), "--bundle",
                        str(folder), "--threads", "2"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and any("2Dbroken.npz: field '<file>'" in e for e in errors)
    assert any("3Dnoboxes.npz: field 'boxes': missing" in e for e in errors)
    assert not (out / "2Dbroken.npz").exists() and not list(out.glob(".*"))  # nothing half-written
    csv = (out / "efficiency.csv").read_text().splitlines()
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
    r = subprocess.run([exe, "-i", str(tmp_path), "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "--bundle is required" in r.stderr
    r = subprocess.run([exe, "-i", str(tmp_path), "-o", str(tmp_path / "o"), "--bundle", str(tmp_path / "nope")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no manifest.json" in r.stderr
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "OpenVINO" in r.stdout
