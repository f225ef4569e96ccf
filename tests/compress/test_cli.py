"""``umedsam-compress`` end to end on the real weights: factorize, recover (2 SAM steps), save;
the checkpoint exports to ONNX and OpenVINO (strict parity with its .pth), predicts, and INT8 stacks."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from umedsam.data.phantoms import write_phantoms

pytestmark = pytest.mark.slow  # a minute or more each; `pytest -m "not slow"` skips them

runner = CliRunner()


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    from umedsam.cli.compress import app

    root = tmp_path_factory.mktemp("compress_cli")
    write_phantoms(root / "tune", n2d=2, n3d=0, seed=7)
    write_phantoms(root / "eval", n2d=2, n3d=0, seed=8)
    out = root / "lowrank.pth"
    res = runner.invoke(app, ["-o", str(out), "--flops-ratio", "0.7", "--finetune-data", str(root / "tune"),
                              "--data", str(root / "eval"), "--steps", "2", "--minutes", "1", "--local-share", "0.4",
                              "--no-sensitivity",
                              "--threads", "2", "--json", str(root / "report.json")])
    assert res.exit_code == 0, res.output
    return root, out, json.loads((root / "report.json").read_text(encoding="utf-8")), res.output


def test_report_and_files(compressed):
    root, out, report, output = compressed
    s = report["summary"]
    assert s["encoder_flops_ratio"] <= 0.70 + 1e-9 and s["data_aware"]
    assert out.is_file() and out.with_suffix(".factorized.json").is_file()
    assert report["recovery"]["steps"] == 2 and report["local_recovery"]["steps"] > 0
    assert set(report["accuracy"]) == {"before", "after"}
    for a in report["accuracy"].values():
        assert 0 <= a["cand_dsc"] <= 1 and a["cases"] == 2
    assert report["latency"]["original"]["p50_ms"] > 0
    layer = report["layers"][0]
    assert layer["params_after"] < layer["params_before"] and 0 <= layer["rel_error"] < 1
    assert "Factorized layers" in output and "before recovery" in output


def test_bad_options_are_one_line_errors(tmp_path):
    from umedsam.cli.compress import app

    res = runner.invoke(app, ["-o", str(tmp_path / "x.pth"), "--flops-ratio", "0.7", "--energy", "0.9"])
    assert res.exit_code == 1 and "exclusive" in res.output
    res = runner.invoke(app, ["-o", str(tmp_path / "x.onnx"), "--energy", "0.9"])
    assert res.exit_code == 1 and ".pth" in res.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("target", ["onnx", "openvino"])
def test_exports_predicts_and_gates_strictly(compressed, target):
    from umedsam.cli.export import app as export_app
    from umedsam.cli.parity import app as parity_app
    from umedsam.cli.predict import app as predict_app

    root, out, _, _ = compressed
    bundle = root / f"bundle-{target}"
    res = runner.invoke(export_app, ["--ckpt", str(out), "--target", target, "-o", str(bundle), "--threads", "2"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "passed" and manifest["compression"]["encoder_flops_ratio"] <= 0.7 + 1e-9
    assert manifest["source"]["sidecar"]["sha256"]
    res = runner.invoke(predict_app, ["-i", str(root / "eval"), "-o", str(root / f"segs-{target}"),
                                      "--engine", str(bundle), "--threads", "2"])
    assert res.exit_code == 0, res.output
    assert len(list((root / f"segs-{target}").glob("*.npz"))) == 2
    # its own checkpoint is the reference: judged as strictly as any FP32 export
    res = runner.invoke(parity_app, ["--candidate", str(bundle), "--reference", str(out), "--data",
                                     str(root / "eval"), "--threads", "2", "--json", str(root / f"p-{target}.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((root / f"p-{target}.json").read_text(encoding="utf-8"))["precision"] == "fp32"


def test_int8_stacks_on_the_compressed_bundle(compressed):
    from umedsam.cli.quantize import app as quantize_app

    root, _, _, _ = compressed
    bundle = root / "bundle-openvino"
    if not bundle.is_dir():
        pytest.skip("the OpenVINO export test did not run")
    out = root / "lowrank-int8"
    res = runner.invoke(quantize_app, ["--engine", str(bundle), "--calib", str(root / "tune"), "-o", str(out),
                                       "--method", "nncf", "--preset", "weights", "--data", str(root / "eval"),
                                       "--threads", "2"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["precision"] == "int8" and manifest["compression"]["factorized_layers"] > 0
    assert res.exit_code == (0 if manifest["status"] == "passed" else 1), res.output
    assert np.isfinite(manifest["parity"]["overall"]["cand_dsc"]) if "overall" in manifest["parity"] else True
