"""The parity gate: statistics, thresholds, verdicts, and the CLI exit code."""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
from typer.testing import CliRunner

from umedsam.data.npz import find_cases
from tests.markdown_tables import assert_tables_render
from umedsam.metrics.parity import (ReferenceMemo, Tolerances, first_divergence, precision_class, run_parity, tensor_stats,
                                    with_overrides)
from umedsam.runtime import Predictor


def test_tensor_stats_abs_or_rel():
    ref = np.array([0.0, 1.0, 100.0, -5.0], np.float32)
    cand = ref + np.array([5e-4, 5e-4, 0.05, 0.0], np.float32)
    s = tensor_stats(ref, cand, atol=1e-3, rtol=1e-3)
    assert s["passed"] and s["violations"] == 0  # 0.05 on 100 is within rtol
    s = tensor_stats(ref, cand, atol=1e-4, rtol=1e-4)
    assert not s["passed"] and s["violations"] == 3
    assert math.isclose(s["max_abs"], 0.05, rel_tol=1e-3) and 0.999 < s["cosine"] <= 1.0
    assert tensor_stats(ref, cand)["passed"] is None  # not gated
    assert tensor_stats(ref, cand[:2])["passed"] is False


def test_precision_classes_and_defaults():
    assert precision_class({"precision": "fp32"}) == "fp32"
    assert precision_class({"precision": "fp16"}) == "fp16"
    # bf16 only where the CPU computed in bf16; a bf16 bundle run in f32 is an fp16-weights engine
    assert precision_class({"precision": "bf16", "inference_precision": "bf16"}) == "bf16"
    assert precision_class({"precision": "bf16", "inference_precision": "f32"}) == "fp16"
    assert Tolerances.for_precision("bf16") == Tolerances.for_precision("int8")
    assert precision_class({"precision": "fp32", "quantization": {"method": "nncf"}}) == "int8"
    assert precision_class({"precision": "fp32", "compression": {"method": "svd"}}) == "lowrank"
    assert Tolerances.for_precision("fp32").symmetric
    assert Tolerances.for_precision("int8").atol is None
    assert with_overrides(Tolerances(), atol=None, max_dsc_drop=0.005).max_dsc_drop == 0.005


def test_recording_keeps_the_first_box_only():
    """Engines batch boxes differently (TensorRT 16, CPUs 1): compare the first box of the first call."""
    from umedsam.metrics.parity import RecordingBackend
    from umedsam.runtime import Backend

    class Fake(Backend):
        def encode(self, images):
            return np.zeros((len(images), 256, 64, 64), np.float32)

        def decode(self, embedding, boxes256):
            n = len(boxes256)
            return np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * np.ones((n, 1, 256, 256), np.float32), \
                np.zeros((n, 1), np.float32)

    rec = RecordingBackend(Fake("<fake>"))
    rec.decode(rec.encode(np.zeros((1, 3, 256, 256), np.float32)), np.zeros((3, 4), np.float32))
    assert rec.logits.shape == (1, 1, 256, 256) and rec.iou.shape == (1, 1) and rec.logits.max() == 0


def test_first_divergence_names_the_slice():
    ref = [{"z": 5, "label": 1, "box256": [1, 2, 3, 4]}, {"z": 6, "label": 1, "box256": [1, 2, 3, 5]}]
    cand = [{"z": 5, "label": 1, "box256": [1, 2, 3, 4]}, {"z": 6, "label": 1, "box256": [1, 2, 3, 6]}]
    assert first_divergence(ref, cand, 1)["z"] == 6
    assert first_divergence(ref, ref, 1) is None


def test_run_parity_torch_vs_onnxruntime(predictor, onnx_bundle, small_cases, tmp_path):
    case_2d = [p for p in find_cases(small_cases) if p.name.startswith("2D")]
    reference = Predictor(predictor.backend)  # shares the session's torch backend, wrapped only here
    memo = ReferenceMemo(reference)
    with Predictor(onnx_bundle[0], threads=2) as cand:
        report = run_parity(reference, cand, case_2d, small_cases / "gts", memo=memo)
        assert report.passed, report.to_markdown()
        c = report.cases[0]
        assert c.min_agreement >= 0.999 and abs(c.cand_dsc - c.ref_dsc) <= 1e-3
        assert c.tensors["embedding"]["max_abs"] < 1e-3 and c.tensors["logits"]["passed"]
        assert memo.hits == 0
        # the second gate against the same reference reuses its results: masks, tensors, scores and seconds
        strict = run_parity(reference, cand, case_2d, small_cases / "gts", Tolerances(atol=0.0, rtol=0.0), memo=memo)
        assert memo.hits == len(case_2d)
        for a, b in zip(report.cases, strict.cases):
            assert (a.ref_dsc, a.ref_nsd, a.seconds["reference"], a.agreement) == \
                (b.ref_dsc, b.ref_nsd, b.seconds["reference"], b.agreement)
            assert a.tensors["embedding"]["max_abs"] == b.tensors["embedding"]["max_abs"]
        # a case file rewritten since is segmented again; a memo of another reference is not used
        copy = tmp_path / case_2d[0].name
        shutil.copy2(case_2d[0], copy)
        run_parity(reference, cand, [copy], None, memo=memo)
        os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 1))
        run_parity(reference, cand, [copy], None, memo=memo)
        run_parity(Predictor(predictor.backend), cand, [copy], None, memo=memo)
        assert memo.hits == len(case_2d)
    assert not strict.passed and "FAILED" in strict.to_markdown()
    assert assert_tables_render(strict.to_markdown()) == 1   # 'emb max|Δ|' headers escaped: 15 cells everywhere
    assert any("embedding" in f for f in strict.cases[0].failures)


def test_parity_cli_openvino_2d_and_3d(ov_bundle, small_cases, tmp_path):
    from umedsam.cli.main import app

    out = tmp_path / "parity.json"
    result = CliRunner().invoke(app, ["parity", "--candidate", str(ov_bundle[0]), "--data", str(small_cases),
                                      "--threads", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "parity PASSED" in result.output and "3DBox_CT_0001.npz" in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["passed"] and report["precision"] == "fp32" and len(report["cases"]) == 2
    assert report["overall"]["min_agreement"] >= 0.999
    assert abs(report["overall"]["dsc_delta"]) <= 1e-3 and abs(report["overall"]["nsd_delta"]) <= 1e-3


def test_boundary_agreement_forgives_one_model_pixel_not_more():
    from umedsam.metrics.parity import boundary_agreement, label_agreement

    ref = np.zeros((256, 256), np.uint16)
    ref[100:106, 100:106] = 1                     # a 6x6 nucleus
    one = np.roll(ref, 1, axis=1)                 # shifted by one pixel
    three = np.roll(ref, 3, axis=1)
    assert label_agreement(ref, one, 1)[0] < 0.85  # Dice punishes the tiny shift ...
    assert boundary_agreement(ref, one, 1) == [1.0]  # ... the boundary is within one pixel everywhere
    assert boundary_agreement(ref, three, 1)[0] < 0.8
    assert boundary_agreement(ref, np.zeros_like(ref), 2) == [0.0, 1.0]  # lost object; both empty
    big = np.zeros((1024, 1024), np.uint16)        # 4 image pixels per model pixel
    big[400:440, 400:440] = 1
    assert boundary_agreement(big, np.roll(big, 4, axis=0), 1) == [1.0]
    assert boundary_agreement(big, np.roll(big, 12, axis=0), 1)[0] < 0.9
