"""The native image's layout outside Docker: a portable install (what docker/Dockerfile.native copies to
/opt/umedsam) runs docker/predict-native.sh with no Python and no wheel on its library path, and
writes the same segs as the Python OpenVINO path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from umedsam.data.npz import find_cases, load_segs

SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "predict-native.sh"


def test_portable_install_runs_predict_native_sh(native_build, ov_bundle, small_2d, tmp_path):
    from umedsam.native_build import build
    from umedsam.runtime.batch import predict_folder
    from umedsam.runtime.predictor import Predictor

    prefix = tmp_path / "opt-umedsam"
    result = build(build_dir=tmp_path / "build", prefix=prefix, portable=True, jobs=2)
    libdir = prefix / "lib" / "umedsam"
    assert (libdir / "libopenvino_intel_cpu_plugin.so").is_file() and list(libdir.glob("libtbb.so*"))
    ldd = subprocess.run(["ldd", str(result.executable)], capture_output=True, text=True, encoding="utf-8", errors="replace").stdout
    ov_lines = [line for line in ldd.splitlines() if "openvino" in line or "libtbb" in line or "libumedsam" in line]
    resolved = [os.path.realpath(line.split("=>")[1].split("(")[0].strip()) for line in ov_lines]
    assert resolved and all(r.startswith(str(libdir.resolve())) for r in resolved), ldd  # nothing from the wheel
    assert "not found" not in ldd

    inputs, outputs = tmp_path / "inputs", tmp_path / "outputs"
    inputs.mkdir()
    for p in find_cases(small_2d):
        (inputs / p.name).write_bytes(p.read_bytes())
    env = {k: v for k, v in os.environ.items() if k not in ("UMEDSAM_NATIVE_LIB", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env.update(PATH="/usr/bin:/bin", UMEDSAM_INPUTS=str(inputs), UMEDSAM_OUTPUTS=str(outputs),
               UMEDSAM_BUNDLE=str(ov_bundle[0]), UMEDSAM_THREADS="2", UMEDSAM_NATIVE=str(result.executable),
               UMEDSAM_OV_CACHE=str(tmp_path / "ovcache"))
    # `sh`, as the challenge runs it (`/bin/bash -c "sh predict.sh"`): dash on Debian
    r = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 0, r.stderr
    assert any((tmp_path / "ovcache").iterdir())
    with Predictor(ov_bundle[0], backend="openvino", threads=2) as p:
        predict_folder(p, small_2d, tmp_path / "python", sidecars=False)
    for path in find_cases(small_2d):
        np.testing.assert_array_equal(load_segs(outputs / path.name), load_segs(tmp_path / "python" / path.name))
