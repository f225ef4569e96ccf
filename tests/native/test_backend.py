"""The native backend against the Python OpenVINO backend on the same bundle: pixel-identical segs.

The parity gate (``run_parity``, the code behind ``umedsam-parity``) compares the whole native
pipeline (C++ pre-processing, 3D propagation, post-processing) with the Python one on phantom and
real 2D and 3D cases, and in every box dtype whose arithmetic the reference's box scaling depends on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from umedsam.data.npz import find_cases, load_case


@pytest.fixture(scope="module")
def engines(native_build, ov_bundle):
    from umedsam.runtime.predictor import Predictor

    folder, _ = ov_bundle
    with Predictor(folder, backend="openvino", threads=2) as py, Predictor(folder, backend="native", threads=2) as nat:
        yield py, nat


def _gate(engines, data: Path):
    from umedsam.metrics.parity import run_parity

    py, nat = engines
    report = run_parity(py, nat, find_cases(data), data / "gts" if (data / "gts").is_dir() else None)
    return report


def test_native_info_and_precision(engines):
    _, nat = engines
    info = nat.backend.info()
    assert info["backend"] == "native" and info["threads"] == 2 and info["inference_precision"] == "f32"
    assert info["precision"] == "fp32" and info["native"].startswith("umedsam-native")


def test_parity_phantoms_pixel_identical(engines, small_cases):
    report = _gate(engines, small_cases)
    assert report.precision == "fp32"
    assert report.passed and report.overall["pixels_differ"] == 0 and report.overall["errors"] == 0
    assert {c.kind for c in report.cases} == {"2D", "3D"}


def test_parity_real_cases_pixel_identical(engines, real_cases):
    report = _gate(engines, real_cases)
    assert report.passed and report.overall["pixels_differ"] == 0, report.to_markdown()
    assert {c.kind for c in report.cases} == {"2D", "3D"}


@pytest.mark.parametrize("dtype", ["float32", "float16", "int16", "float64"])
def test_box_dtypes_and_edges_identical(engines, small_cases, dtype):
    """Box scaling truncates in the boxes' dtype; boxes partly or wholly outside are clipped/skipped.

    (The 3D clipping branch, z outside the volume included, runs in test_parity_* through real cases'
    boxes; its extra boxes here were cut for CI time.)"""
    py, nat = engines
    for path in find_cases(small_cases):
        if path.name.startswith("3D"):
            continue  # 2D only (box scaling is shared code; 3D runs in the parity tests): CI time
        case = load_case(path)
        boxes = case.boxes.astype(np.float64)
        h, w = (case.imgs.shape[:2]) if case.kind == "2D" else case.imgs.shape[1:]
        extra = np.array([[-7.5, -3, w / 3, h / 2], [w + 5, 2, w + 30, 20]]) if case.kind == "2D" else \
            np.array([[-7.5, -3, -2, w / 3, h / 2, 1], [2, 3, len(case.imgs) + 3, 20, 30, len(case.imgs) + 9]])
        boxes = np.concatenate([boxes, extra]).astype(dtype)
        a = py.segment_case(case.kind, case.imgs, boxes)
        b = nat.segment_case(case.kind, case.imgs, boxes)
        np.testing.assert_array_equal(a.labels, b.labels, err_msg=f"{path.name} {dtype}")
        assert a.warnings == b.warnings
        for sa, sb in zip(a.scores, b.scores):
            assert (sa["iou"] is None) == (sb["iou"] is None)
            if sa["iou"] is not None:
                assert abs(sa["iou"] - sb["iou"]) < 1e-6


def test_stage_tensors_bit_identical(engines, small_cases):
    from umedsam.runtime.preprocess import preprocess_image

    py, nat = engines
    case = load_case(find_cases(small_cases)[0])
    x, _ = preprocess_image(case.imgs)
    emb_py, emb_nat = py.backend.encode(x[None]), nat.backend.encode(x[None])
    np.testing.assert_array_equal(emb_py, emb_nat)
    two = np.stack([x, x[:, ::-1].copy()])  # a batch: both compile the dynamic encoder on first use
    np.testing.assert_array_equal(py.backend.encode(two), nat.backend.encode(two))
    np.testing.assert_allclose(nat.backend.encode(two)[:1], emb_nat, atol=1e-4, rtol=0)
    boxes = np.array([[10, 20, 120, 140], [30, 30, 90, 200]], np.float32)
    for n in (1, 2):  # one box (static decoder) and several (dynamic)
        lp, ip = py.backend.decode(emb_py, boxes[:n])
        ln, i_n = nat.backend.decode(emb_py, boxes[:n])
        np.testing.assert_array_equal(lp, ln)
        np.testing.assert_array_equal(ip, i_n)


def test_predict_with_native_backend_is_torch_free(native_build, ov_bundle, small_2d, tmp_path):
    from tests.runtime.test_torch_free_predict import BLOCKED, BLOCKER

    folder, _ = ov_bundle
    out = tmp_path / "out"
    env = {**os.environ, "UMEDSAM_TEST_BLOCKED": ",".join(BLOCKED + ("onnxruntime", "openvino"))}
    r = subprocess.run([sys.executable, "-c", BLOCKER, "-i", str(small_2d), "-o", str(out), "--engine",
                        str(folder), "--backend", "native", "--threads", "2"], capture_output=True, text=True, encoding="utf-8", errors="replace", env=env)
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("*.npz"))) == len(find_cases(small_2d))


def test_bundle_errors_are_one_line(native_build, ov_bundle, tmp_path):
    from umedsam.errors import EngineError
    from umedsam.runtime.formats import load_backend

    folder, _ = ov_bundle
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in Path(folder).iterdir():
        if f.name != "decoder.bin":
            (broken / f.name).write_bytes(f.read_bytes())
    with pytest.raises(EngineError) as exc:
        load_backend(broken, backend="native")
    assert "decoder" in str(exc.value) and "\n" not in str(exc.value)
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(EngineError) as exc:
        load_backend(broken, backend="native")
    assert "manifest" in str(exc.value)


def test_opening_the_native_runtime_keeps_the_host_locale(native_build, ov_bundle):
    """OpenVINO switched the process's C locale to "C" when the native runtime opened a bundle after the
    Python OpenVINO backend had: Python's text I/O then fell back to ASCII. Every entry point restores it."""
    import locale

    from umedsam.runtime.predictor import Predictor

    before = locale.setlocale(locale.LC_ALL)
    with Predictor(ov_bundle[0], backend="openvino", threads=1), Predictor(ov_bundle[0], backend="native", threads=1):
        assert locale.setlocale(locale.LC_ALL) == before
