"""umedsam-bench: structure of the markdown, JSON and PNG outputs; statistics."""

from __future__ import annotations

import json
import math

import numpy as np
from typer.testing import CliRunner

from tests.markdown_tables import assert_tables_render

from umedsam.bench.stats import speedup, summarize


def test_summarize_and_speedup():
    s = summarize([0.1, 0.2, 0.3, 0.4], items_per_sample=2)
    assert s["n"] == 4 and math.isclose(s["p50"], 0.25) and math.isclose(s["mean"], 0.25)
    assert math.isclose(s["std"], float(np.std([0.1, 0.2, 0.3, 0.4], ddof=1)))
    assert math.isclose(s["throughput"], 8.0) and s["p90"] <= s["p99"] <= s["max"]
    assert summarize([]) == {"n": 0}
    assert math.isclose(speedup({"p50": 2.0}, {"p50": 0.5}), 4.0) and math.isnan(speedup({}, {"p50": 1}))


def test_bench_cli_outputs(onnx_bundle, ov_bundle, small_2d, tmp_path):
    from umedsam.cli.main import app

    root = small_2d
    js, png = tmp_path / "bench.json", tmp_path / "bench.png"
    result = CliRunner().invoke(app, ["bench", "--engine", str(onnx_bundle[0]), "--engine", str(ov_bundle[0]),
                                      "--data", str(root), "--threads", "2", "--warmup", "1", "--iters", "2",
                                      "--settle", "0", "--json", str(js), "--png", str(png)])
    assert result.exit_code == 0, result.output
    for section in ("### Stages (ms)", "### Cases", "### Where case time goes", "### Cold start", "### Accuracy"):
        assert section in result.output
    assert assert_tables_render(result.output, at_least=5) >= 5
    assert "threads 2;" in result.output and "×" not in result.output.replace("× faster", "").replace("× slower", "")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert {"environment", "config", "engines"} <= data.keys()
    assert data["environment"]["cpu"]["model"] and "numpy" in data["environment"]["versions"]
    assert [e["backend"] for e in data["engines"]] == ["onnxruntime", "openvino"]
    for e in data["engines"]:
        assert e["precision"] == "fp32"
        for stage in ("preprocess", "encoder", "decoder_new_image_1box", "decoder_1box", "decoder_per_box_16",
                      "postprocess_per_box"):
            st = e["stages"][stage]
            assert st["n"] == 2 and 0 < st["min"] <= st["p50"] <= st["p99"] <= st["max"]
        assert e["cold_start"]["wall_s"] > e["cold_start"]["load_s"] > 0
        assert e["cold_start"]["peak_rss_mb"] > 50 and e["cold_start"]["torch_imported"] is False
        assert 0 <= e["accuracy"]["dsc"] <= 1 and e["accuracy"]["min_agreement_vs_reference"] >= 0.999
        assert set(e["speedup"]) == {"encoder", "decoder_1box", "case_total", "cold_start"}
    assert data["engines"][0]["speedup"]["encoder"] == 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
