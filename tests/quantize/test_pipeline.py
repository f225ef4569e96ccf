"""umedsam-quantize end to end on the real built-in weights: every method, the search, the gate.

Small on purpose (two calibration phantoms, one gate case): these prove the machinery; the numbers
on real images are the benchmark's and the closing note's.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from umedsam.errors import UmedsamError
from umedsam.quantize import QuantizeOptions, quantize_bundle
from umedsam.quantize.inc import find_python
from umedsam.quantize.report import summary_row, summary_table
from umedsam.runtime import Predictor
from umedsam.runtime.bundle import open_bundle


def _opts(small_2d, **kw) -> QuantizeOptions:
    base = dict(data=small_2d, threads=2, sensitivity_inputs=1, max_evals=2, latency_iters=1, samples=4)
    base.update(kw)
    return QuantizeOptions(**base)


def _check_gate_verdict(result):
    """The status is 'passed' exactly when every gate bound holds (never over the tolerated drop)."""
    o, tol = result.parity.overall, result.parity.tolerances
    holds = (-o["dsc_delta"] <= tol.max_dsc_drop + 1e-12 and -o["nsd_delta"] <= tol.max_nsd_drop + 1e-12
             and all(a >= tol.min_agreement for c in result.parity.cases for a in c.agreement)
             and all(c.mean_boundary >= tol.min_boundary_agreement for c in result.parity.cases)
             and not any(c.error for c in result.parity.cases))
    assert result.manifest["parity"]["passed"] == holds
    search_ok = result.search is None or result.search.passed
    assert result.manifest["status"] == ("passed" if holds and search_ok else "failed")


@pytest.mark.slow
def test_ort_search_keeps_sensitive_blocks_float(onnx_bundle, calib_dir, small_2d, tmp_path):
    out = tmp_path / "int8"
    result = quantize_bundle(onnx_bundle[0], calib_dir, out, _opts(small_2d, method="ort", preset="encoder"))
    m = result.manifest
    q = m["quantization"]
    assert m["precision"] == "int8" and m["format"] == "onnx" and open_bundle(out).verify() == []
    assert q["method"] == "ort" and q["calibration"]["encoder_samples"] == 2
    assert q["calibration"]["sha256"] and q["decoder_quantized"] is False
    ranking = q["search"]["ranking"]
    assert len(ranking) > 10 and all(r["block"].startswith("image_encoder") for r in ranking)
    assert [r["sensitivity"] for r in ranking] == sorted((r["sensitivity"] for r in ranking), reverse=True)
    assert q["float_blocks"] == [r["block"] for r in ranking[: len(q["float_blocks"])]]
    enc = onnx.load(str(out / "encoder.onnx"), load_external_data=False)
    assert any(n.op_type == "QuantizeLinear" for n in enc.graph.node)
    fp32 = json.loads((onnx_bundle[0] / "manifest.json").read_text(encoding="utf-8"))["files"]["decoder.onnx"]
    assert m["files"]["decoder.onnx"] == fp32  # preset 'encoder': the decoder is the FP32 graph
    assert set(q["latency_ms"]) == {"fp32", "int8"}
    _check_gate_verdict(result)
    with Predictor(out, threads=2) as p:
        assert p.backend.info()["quantization"]["method"] == "ort"
    row = summary_row(result, out)
    assert row["method"] == "ort" and "| ort | encoder |" in summary_table([row])


@pytest.mark.slow
def test_nncf_search_reverts_blocks_without_recalibrating(ov_bundle, calib_dir, small_2d, tmp_path):
    import openvino as ov

    from umedsam.quantize.nncf_ov import int8_ops, quantized_blocks, revert_blocks

    out = tmp_path / "nncf"
    result = quantize_bundle(ov_bundle[0], calib_dir, out, _opts(small_2d, method="nncf", preset="encoder"))
    m = result.manifest
    q = m["quantization"]
    assert m["format"] == "openvino" and m["precision"] == "int8" and q["decoder_quantized"] is False
    assert m["export"]["stages"]["encoder"]["quantized"] and not m["export"]["stages"]["decoder"]["quantized"]
    assert len(q["search"]["ranking"]) > 10 and q["float_blocks"] == [r["block"] for r in q["search"]["ranking"]][: len(q["float_blocks"])]
    _check_gate_verdict(result)
    # reverting every block gives back (nearly) the FP32 encoder: FakeQuantize removed, biases restored
    core = ov.Core()
    fp32 = core.read_model(str(ov_bundle[0] / "encoder.xml"))
    quant = core.read_model(str(out / "encoder.xml"))
    reverted = revert_blocks(quant, fp32, quantized_blocks(quant))
    assert int8_ops(reverted) == 0
    x = np.random.default_rng(0).standard_normal((1, 3, 256, 256)).astype(np.float32)
    cfg = {"INFERENCE_PRECISION_HINT": "f32"}
    ref, back, int8 = (core.compile_model(mdl, "CPU", cfg)(x)[0] for mdl in (fp32, reverted, quant))
    assert np.abs(back - ref).max() < 0.2 * np.abs(int8 - ref).max()


def test_cli_nncf_weight_only(ov_bundle, calib_dir, small_2d, tmp_path):
    """``umedsam quantize --method nncf --preset weights``: the table, the JSON, the exit code of the gate."""
    from typer.testing import CliRunner

    from umedsam.cli.main import app

    out, js = tmp_path / "weights", tmp_path / "q.json"
    res = CliRunner().invoke(app, ["quantize", "--engine", str(ov_bundle[0]), "--calib", str(calib_dir), "-o", str(out),
                                   "--method", "nncf", "--preset", "weights", "--data", str(small_2d),
                                   "--threads", "2", "--json", str(js)])
    doc = json.loads(js.read_text(encoding="utf-8"))
    m = doc["manifest"]
    assert res.exit_code == (0 if m["status"] == "passed" else 1), res.output
    assert "| nncf | weights |" in res.output and "gate (INT8 vs FP32" in res.output
    assert m["quantization"]["weights_only"] is True and "validation" not in m["quantization"]
    assert doc["parity"]["overall"]["min_agreement"] > 0.95  # INT8 weights, float activations: nearly lossless
    fp32 = json.loads((ov_bundle[0] / "manifest.json").read_text(encoding="utf-8"))["export"]["stages"]
    assert m["export"]["stages"]["encoder"]["bytes"] < 0.5 * fp32["encoder"]["openvino"]["bytes"]  # ~4x smaller


def _inc_python():
    try:
        return find_python()
    except UmedsamError as exc:
        pytest.skip(f"neural-compressor environment not installed ({exc})")


def test_inc_smoothquant_in_its_own_environment(onnx_bundle, calib_dir, small_2d, tmp_path):
    _inc_python()
    out = tmp_path / "inc"
    result = quantize_bundle(onnx_bundle[0], calib_dir, out, _opts(small_2d, method="inc", preset="encoder", search=False))
    enc = result.manifest["export"]["stages"]["encoder"]
    assert enc["onnx_neural_compressor"] and enc["numpy"].startswith("1.")  # ran in the numpy<2 environment
    graph = onnx.load(str(out / "encoder.onnx"), load_external_data=False)
    assert any(n.op_type == "QuantizeLinear" for n in graph.graph.node)
    _check_gate_verdict(result)


def test_refusals_are_one_line_errors(onnx_bundle, ov_bundle, calib_dir, small_2d, tmp_path):
    with pytest.raises(UmedsamError, match="--method"):
        quantize_bundle(onnx_bundle[0], calib_dir, tmp_path / "a", QuantizeOptions(method="tflite"))
    with pytest.raises(UmedsamError, match="--preset"):
        quantize_bundle(onnx_bundle[0], calib_dir, tmp_path / "b", QuantizeOptions(preset="everything"))
    with pytest.raises(UmedsamError, match="openvino bundle"):
        quantize_bundle(ov_bundle[0], calib_dir, tmp_path / "c", QuantizeOptions(method="ort"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("x")
    with pytest.raises(UmedsamError, match="--force"):
        quantize_bundle(onnx_bundle[0], calib_dir, tmp_path / "d", QuantizeOptions())
    assert (tmp_path / "d" / "keep.txt").read_text(encoding="utf-8") == "x"  # nothing already there is lost
    assert not list(tmp_path.glob(".*partial*"))  # no half-written bundle left behind


def test_killed_run_leaves_no_half_bundle(ov_bundle, calib_dir, tmp_path):
    """SIGTERM mid-run: the hidden temporary folder is removed, nothing appears at -o."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "umedsam.cli.quantize", "--engine", str(ov_bundle[0]), "--calib",
                             str(calib_dir), "-o", str(out), "--method", "nncf", "--threads", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".killed.partial-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert list(tmp_path.glob(".killed.partial-*")), "the run never started writing"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert not out.exists() and not list(tmp_path.glob(".killed.partial-*"))
