"""QAT with distillation, end to end on a tiny budget: PTQ start, training steps, checkpoint and resume,
an OpenVINO INT8 encoder whose IR matches the fake-quantized torch model, and the gate on held-out cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from umedsam.quantize.qat import QatOptions
from umedsam.quantize.qat_pipeline import QatJob, run_qat


@pytest.mark.slow
def test_qat_tiny_budget_resume_and_gate(small_2d, tmp_path):
    opts = QatOptions(minutes=0.05, corpus_size=6, val_items=2, ptq_samples=2, threads=2, eval_minutes=10,
                      checkpoint_minutes=10, latency_iters=1)
    logs: list[str] = []
    report = run_qat(QatJob(None, small_2d, tmp_path / "qat", tmp_path / "work", opts), log=logs.append)
    assert report.state.step >= 1 and (tmp_path / "work" / "qat_state.pt").is_file()
    assert report.state.curve[0]["minutes"] == 0.0 and report.state.curve[-1]["step"] == report.state.step
    assert 0 <= report.state.curve[-1]["min"] <= report.state.curve[-1]["mean"] <= 1
    assert report.export["int8_ops"] > 50 and np.isfinite(report.export["ir_vs_torch_rel_mse"])
    assert report.export["ir_vs_torch_rel_mse"] < 0.05
    manifest = json.loads((tmp_path / "qat" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["precision"] == "int8" and manifest["quantization"]["method"] == "nncf-qat"
    assert manifest["status"] in ("passed", "failed") and manifest["parity"]["cases"]
    assert report.passed == (manifest["status"] == "passed")
    lat = manifest["quantization"]["latency_ms"]
    assert lat["int8"]["encoder"] > 0 and lat["fp32"]["encoder"] > 0
    assert (tmp_path / "qat" / "qat_report.md").read_text(encoding="utf-8").startswith("# QAT INT8 encoder")
    # resume: a longer budget continues from the checkpoint (steps carry on, the PTQ start is not redone)
    more = QatOptions(**{**opts.__dict__, "minutes": report.state.elapsed / 60 + 0.2, "resume": True,
                         "latency_iters": 0})
    again = run_qat(QatJob(None, small_2d, tmp_path / "qat2", tmp_path / "work", more, gate=False), log=logs.append)
    assert any("resumed at step" in m for m in logs) and again.state.step > report.state.step
    assert again.state.curve[0] == report.state.curve[0]
    assert "latency_ms" not in json.loads((tmp_path / "qat2" / "manifest.json").read_text(encoding="utf-8"))["quantization"]
    from umedsam.runtime.predictor import Predictor
    from umedsam.data.npz import find_cases, load_case

    case = load_case(find_cases(small_2d)[0])
    with Predictor(tmp_path / "qat2", threads=2) as p:
        assert p.segment_case(case.kind, case.imgs, case.boxes).labels.max() > 0
