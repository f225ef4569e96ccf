"""umedsam-optimize on a tiny real budget: real candidates (export, INT8 weight-only, low rank) on phantoms,
gated against the PyTorch model and timed; cached re-runs; the budget; the Pareto frontier."""

from __future__ import annotations

import json
import math

import pytest

from tests.markdown_tables import assert_tables_render
from umedsam.optimize.evaluate import Evaluation
from umedsam.optimize.search import CandidateResult, OptimizeJob, pareto_front, run_optimize
from umedsam.optimize.space import candidate_space

ONLY = ("fp32-openvino", "int8w-openvino", "lowrank0.7-openvino")


def test_space_follows_the_backend():
    ov = {c.name for c in candidate_space("openvino")}
    assert {"fp32-openvino", "fp32-onnxruntime", "fp16-openvino", "int8w-openvino", "int8-openvino",
            "lowrank0.9-openvino", "lowrank0.8-openvino", "lowrank0.7-openvino", "lowrank0.9+int8-openvino"} <= ov
    ort = {c.name for c in candidate_space("onnxruntime", static_int8=False)}
    assert "int8w-onnxruntime" in ort and not any("fp16" in n or "bf16" in n for n in ort)
    bf16 = {c.name: c for c in candidate_space("native")}["bf16-native"]
    assert bf16.bf16 and not bf16.int8 and bf16.passes[0].settings["precision"] == "bf16"
    assert "fp32-native" in {c.name for c in candidate_space("native")}
    with pytest.raises(ValueError, match="--backend tensorrt"):
        candidate_space("tensorrt")
    # QAT candidates only with a training budget, only where OpenVINO IR is the format
    assert not any("qat" in n for n in ov)
    qat = {c.name: c for c in candidate_space("native", qat_minutes=5)}
    assert [p.kind for p in qat["int8qat-native"].passes] == ["qat"] and qat["int8qat-native"].int8
    assert [p.kind for p in qat["lowrank0.9+int8qat-native"].passes] == ["lowrank", "qat"]
    assert not any("qat" in n for n in (c.name for c in candidate_space("onnxruntime", qat_minutes=5)))


def _row(name: str, t: float, d: float, passed: bool = True) -> CandidateResult:
    return CandidateResult(name, "x", "openvino", [], status="evaluated",
                           evaluation=Evaluation(passed=passed, case_s=t, dsc_delta=d))


def test_pareto_front_keeps_only_undominated_points():
    rows = [_row("a", 1.0, 0.0), _row("b", 0.8, -0.002), _row("c", 0.9, -0.003), _row("d", 0.5, -0.05)]
    assert [r.name for r in pareto_front(rows)] == ["d", "b", "a"]


@pytest.mark.slow
def test_optimize_tiny_budget_end_to_end(small_2d, calib_dir, tmp_path, monkeypatch):
    out = tmp_path / "opt"
    job = OptimizeJob(None, calib_dir, small_2d, out, backend="openvino", minutes=30, recovery_minutes=0,
                      ratios=(0.7,), static_int8=False, threads=2, rounds=1, only=ONLY)
    seen = []
    result = run_optimize(job, log=lambda m: None, on_candidate=lambda r, i, n: seen.append((r.name, i, n)))
    assert [s[1:] for s in seen] == [(1, 3), (2, 3), (3, 3)]
    rows = {r.name: r for r in result.candidates}
    assert set(rows) == set(ONLY) and all(r.status == "evaluated" for r in rows.values()), \
        {n: (r.status, r.reason) for n, r in rows.items()}
    fp32 = rows["fp32-openvino"].evaluation
    assert fp32.passed and fp32.gate_class == "fp32" and fp32.min_agreement >= 0.999
    assert rows["lowrank0.7-openvino"].evaluation.gate_class == "lowrank"
    assert rows["int8w-openvino"].evaluation.gate_class == "int8"
    for r in rows.values():
        e = r.evaluation
        assert e.case_s > 0 and e.cold_start_s > e.case_s and e.size_mb > 1 and not math.isnan(e.ref_dsc)
    assert rows["int8w-openvino"].evaluation.size_mb < 0.6 * fp32.size_mb    # INT8 weights: a smaller bundle
    assert rows["fp32-openvino"].speedup == pytest.approx(1.0)
    # the winner: the fastest passing candidate, copied with the reason in its manifest
    passing = [r for r in rows.values() if r.evaluation.passed and r.eligible]
    assert result.best == min(passing, key=lambda r: r.evaluation.case_s).name
    manifest = json.loads((out / "best" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["optimize"]["candidate"] == result.best
    # reports
    from umedsam.optimize.report import write_reports

    paths = write_reports(result, out, {"cpu": {"model": "test", "usable_cores": 2, "flags": []}})
    assert assert_tables_render(paths["md"].read_text(encoding="utf-8")) == 1
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["best"] == result.best
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    # a re-run with the same inputs reuses every result; a budget too small skips instead of running
    again = run_optimize(job, log=lambda m: None)
    assert all(r.reused for r in again.candidates) and again.best == result.best
    # on a CPU where INT8 does not pay, the INT8 candidate is reported (its cached result) but never chosen
    monkeypatch.setattr("umedsam.optimize.search.int8_pays", lambda: False)
    no_int8 = run_optimize(job, log=lambda m: None)
    row = {r.name: r for r in no_int8.candidates}["int8w-openvino"]
    assert row.status == "evaluated" and not row.eligible and "VNNI" in row.reason
    assert no_int8.best != "int8w-openvino"
    monkeypatch.undo()
    tiny = run_optimize(OptimizeJob(None, calib_dir, small_2d, tmp_path / "tiny", minutes=0.01, ratios=(0.7,),
                                    recovery_minutes=0, static_int8=False, threads=2, only=ONLY), log=lambda m: None)
    assert all(r.status == "skipped" and "budget" in r.reason for r in tiny.candidates) and tiny.best is None


def test_calib_and_data_must_differ(small_2d, tmp_path):
    from umedsam.errors import UmedsamError

    with pytest.raises(UmedsamError, match="kept apart"):
        run_optimize(OptimizeJob(None, small_2d, small_2d, tmp_path / "o"), log=lambda m: None)


@pytest.mark.slow
def test_optimize_builds_on_a_local_ray_cluster(small_2d, calib_dir, tmp_path):
    """--cluster local: two candidates sharing their FP32 export are built at once by two Ray workers (the
    shared pass once, under its lock), then gated and timed here."""
    pytest.importorskip("ray")
    only = ("fp32-openvino", "int8w-openvino")
    job = OptimizeJob(None, calib_dir, small_2d, tmp_path / "opt", minutes=30, recovery_minutes=0, ratios=(),
                      static_int8=False, threads=1, rounds=1, cold_start=False, only=only, cluster="local")
    logs: list[str] = []
    result = run_optimize(job, log=logs.append)
    assert sum("built on the cluster" in m for m in logs) == 2
    rows = {r.name: r for r in result.candidates}
    assert all(r.status == "evaluated" for r in rows.values()), {n: r.reason for n, r in rows.items()}
    exports = [rec for r in rows.values() for rec in r.records if rec["pass"].startswith("export")]
    assert len(exports) == 2 and sorted(rec["reused"] for rec in exports) == [False, True]
    assert rows["fp32-openvino"].evaluation.passed


def test_best_copy_runs_where_only_the_tuning_check_failed(ov_bundle, tmp_path):
    """A bundle whose own check failed on the tuning cases but that passed the held-out gate is copied to
    best/ as passed (predict runs it without --allow-failed), with its own verdict kept on record."""
    import shutil

    from umedsam.common import write_json
    from umedsam.optimize.search import copy_best
    from umedsam.runtime.bundle import read_manifest

    engine = tmp_path / "cand"
    shutil.copytree(ov_bundle[0], engine)
    manifest = read_manifest(engine)
    manifest.update(status="failed", parity={"failures": ["2DBox_Corpus_0018.npz: label 1: mask agreement 0.49 < 0.5"],
                                             "cases": {"a.npz": {"ref_dsc": float("nan")}}})
    write_json(engine / "manifest.json", manifest, indent=2)
    row = CandidateResult("int8w-openvino", "int8", "openvino", [], engine=str(engine), status="evaluated",
                          evaluation=Evaluation(passed=True, case_s=1.0, dsc_delta=0.001))
    copy_best(row, [row], tmp_path / "best")
    # strict JSON (the native runtime's parser refuses a bare NaN): non-finite numbers are null
    text = (tmp_path / "best" / "manifest.json").read_text(encoding="utf-8")
    best = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert best["parity"]["cases"]["a.npz"]["ref_dsc"] is None
    assert best["status"] == "passed" and "held-out" in best["status_reason"]
    assert best["optimize"]["own_status"]["status"] == "failed"
    assert "0018" in best["optimize"]["own_status"]["failures"][0]
    from umedsam.runtime.predictor import Predictor

    with Predictor(tmp_path / "best", threads=1):
        pass
