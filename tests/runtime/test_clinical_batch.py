"""Clinical inputs through every engine kind: the native runtime gets the converted arrays and writes
the same label map as the Python OpenVINO path."""

from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from umedsam.data.clinical import ClinicalOptions  # noqa: E402
from umedsam.runtime.clinical_batch import predict_clinical  # noqa: E402
from umedsam.runtime.predictor import Predictor  # noqa: E402


@pytest.fixture
def ct_volume(tmp_path):
    hu = np.full((3, 48, 40), -1000, np.int16)
    hu[:, 10:38, 8:30] = 50
    hu[:, 18:30, 14:24] = 300
    img = sitk.GetImageFromArray(hu)
    img.SetSpacing((0.7, 0.7, 3.0))
    img.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))  # axes swapped: reoriented first
    sitk.WriteImage(img, str(tmp_path / "ct.mha"))
    (tmp_path / "ct.csv").write_text("x_min,y_min,z_min,x_max,y_max,z_max\n9,7,0,39,31,2\n")
    return tmp_path


def _native(request) -> None:
    from umedsam.runtime.native_lib import library_path

    if library_path() is None:
        request.getfixturevalue("native_build")  # builds it (CI) or skips with the reason


def test_native_runtime_on_a_clinical_volume_matches_python(ov_bundle, ct_volume, request):
    _native(request)
    folder, _ = ov_bundle
    outs = {}
    for backend in ("openvino", "native"):
        with Predictor(folder, backend=backend, threads=2) as p:
            results = predict_clinical(p, [ct_volume / "ct.mha"], ct_volume / backend, ClinicalOptions(),
                                       boxes=ct_volume / "ct.csv")
        assert [r.ok for r in results] == [True], results[0].error
        outs[backend] = sitk.ReadImage(str(ct_volume / backend / "ct.mha"))
    a, b = (sitk.GetArrayFromImage(outs[k]) for k in ("openvino", "native"))
    assert a.any() and np.array_equal(a, b)
    assert outs["native"].GetDirection() == (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def test_native_from_the_command_line_in_a_fresh_process(ov_bundle, ct_volume, request):
    """``umedsam-predict --backend native`` on a clinical volume, in its own process (the CLI path)."""
    import subprocess
    import sys

    _native(request)
    folder, _ = ov_bundle
    r = subprocess.run([sys.executable, "-m", "umedsam.cli.predict", "-i", str(ct_volume / "ct.mha"), "--boxes",
                        str(ct_volume / "ct.csv"), "-o", str(ct_volume / "cli"), "--engine", str(folder),
                        "--backend", "native", "--threads", "2"], capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 0, r.stderr[-2000:]
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(ct_volume / "cli" / "ct.mha"))).any()
