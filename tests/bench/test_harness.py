"""benchmarks/challenge_harness.py: one fresh process per case and engine, DSC/NSD beside the times."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "challenge_harness.py"


def _harness():
    spec = importlib.util.spec_from_file_location("challenge_harness", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_harness_runs_every_engine_per_case(ov_bundle, small_2d, tmp_path, capsys, monkeypatch, request):
    try:  # the native binary too, where it can be built (always in CI)
        request.getfixturevalue("native_build")
        native = ["--engine", f"native=native:{ov_bundle[0]}"]
    except pytest.skip.Exception:
        native = []
    monkeypatch.setenv("UMEDSAM_BUNDLE", str(ov_bundle[0]))  # what the container's predict.sh runs
    monkeypatch.setenv("UMEDSAM_OV_CACHE", str(tmp_path / "ovcache"))
    out = tmp_path / "harness.json"
    container = SCRIPT.parents[1] / "docker" / "predict.sh"
    report = _harness().main(["--data", str(small_2d), "--threads", "2", "--json", str(out),
                              "--engine", f"openvino={ov_bundle[0]}", "--engine", f"container={container}", *native])
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(json.dumps(report))
    (case,) = report["cases"]
    assert set(case["engines"]) == {"reference", "torch", "openvino", "container"} | ({"native"} if native else set())
    dscs = {name: e["dsc"] for name, e in case["engines"].items()}
    assert all("error" not in e and e["seconds"] > 0 for e in case["engines"].values())
    assert len(set(round(d, 6) for d in dscs.values())) == 1  # FP32 everywhere: the same masks
    text = capsys.readouterr().out
    assert "| **total** |" in text and "conservative" in text


def test_harness_checkouts_and_overhead(ov_bundle, native_build, small_2d, tmp_path, monkeypatch):
    """--checkout runs an engine from another tree; overhead = wall - the engine's own encoder + decoder."""
    monkeypatch.setenv("UMEDSAM_OV_CACHE", str(tmp_path / "ovcache"))
    other = tmp_path / "checkout"
    other.mkdir()
    (other / ".nprefix").symlink_to(native_build.prefix)  # where --checkout looks for umedsam-native
    (other / "umedsam").symlink_to(SCRIPT.parents[1] / "umedsam")
    report = _harness().main(["--data", str(small_2d), "--threads", "2", "--skip-reference",
                              "--engine", f"python={ov_bundle[0]}", "--engine", f"native=native:{ov_bundle[0]}",
                              "--checkout", f"native={other}", "--checkout", f"python={other}"])
    (case,) = report["cases"]
    assert set(case["engines"]) == {"python", "native"}
    for name, e in case["engines"].items():
        assert "error" not in e, (name, e)
        assert len(e["encdec_runs"]) == 1 and 0 < e["encdec_runs"][0] < e["seconds"]
        assert e["overhead"] == pytest.approx(e["seconds"] - e["encdec_runs"][0])
