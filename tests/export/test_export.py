"""Export: bundles, manifests, the export-time check, and the one-line failures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from umedsam.assets import BUILTIN_SHA256
from umedsam.errors import UmedsamError
from umedsam.runtime.bundle import open_bundle


@pytest.mark.parametrize("fixture", ["onnx_bundle", "ov_bundle"])
def test_bundle_manifest_and_check(request, fixture):
    folder, manifest = request.getfixturevalue(fixture)
    on_disk = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(manifest, default=str))
    assert manifest["status"] == "passed" and manifest["parity"]["passed"]
    assert manifest["precision"] == "fp32" and manifest["opset"] == 18
    assert manifest["source"]["sha256"] == BUILTIN_SHA256 and manifest["source"]["builtin"]
    assert {"torch", "onnx", "onnxruntime", "openvino", "python"} <= manifest["versions"].keys()
    bundle = open_bundle(folder)
    assert bundle.verify() == []  # every file hashed, every hash right
    suffix = ".onnx" if fixture == "onnx_bundle" else ".xml"
    assert {s: p.suffix for s, p in bundle.graphs.items()} == {"encoder": suffix, "decoder": suffix}
    assert not list(folder.parent.glob(".*partial*"))  # the temporary folder was renamed into place
    tensors = manifest["parity"]["tensors"]
    assert tensors["encoder"]["max_abs"] < 1e-4 and tensors["decoder_logits"]["max_abs"] < 1e-4
    assert manifest["parity"]["min_agreement"] >= 0.999


def test_onnx_graphs_are_dynamic_and_layernorm_is_one_node(onnx_bundle):
    import onnx

    folder, _ = onnx_bundle
    enc = onnx.load(str(folder / "encoder.onnx"))
    dec = onnx.load(str(folder / "decoder.onnx"))
    assert enc.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    assert dec.graph.input[1].type.tensor_type.shape.dim[0].dim_param  # symbolic box count
    assert any(n.op_type == "LayerNormalization" for n in enc.graph.node)
    assert [i.name for i in dec.graph.input] == ["image_embeddings", "boxes"]


def test_openvino_ir_keeps_fp32_weights(ov_bundle):
    folder, manifest = ov_bundle
    xml = (folder / "encoder.xml").read_text(encoding="utf-8")
    assert 'element_type="f16"' not in xml  # save_model would compress to FP16 unless told not to
    assert manifest["export"]["stages"]["encoder"]["openvino"]["weights"] == "f32"


def test_failed_check_is_recorded_not_hidden(onnx_bundle, torch_model, small_2d):
    """A bundle checked against a different model must fail the check (the check can fail)."""
    import copy

    import torch

    from umedsam.export.check import export_check
    from umedsam.runtime.formats import load_backend

    other = copy.deepcopy(torch_model)
    with torch.no_grad():
        other.mask_decoder.iou_prediction_head.layers[-1].bias += 0.5
        other.mask_decoder.output_hypernetworks_mlps[0].layers[-1].bias += 0.05
    folder, _ = onnx_bundle
    with load_backend(folder, threads=2) as backend:
        result = export_check(other, backend, "fp32", small_2d, threads=2)
    assert not result["passed"]
    assert result["tensors"]["encoder"]["passed"] and not result["tensors"]["decoder_iou"]["passed"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "umedsam.cli.main", *args], capture_output=True, text=True, encoding="utf-8", errors="replace")


def test_trt_without_tensorrt_is_one_clear_line(tmp_path):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    r = _cli("export", "--target", "trt", "-o", str(tmp_path / "b"))
    assert r.returncode != 0
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "TensorRT" in lines[0] and "pip install tensorrt" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "b").exists()


@pytest.mark.parametrize("args, message", [
    (["--target", "onnx", "--precision", "fp16"], "--target onnx writes fp32"),
    (["--target", "onnx", "--precision", "int8"], "umedsam-quantize"),
    (["--target", "tflite"], "choose one of"),
    (["--opset", "16"], "must be >= 17"),
])
def test_bad_export_options(tmp_path, args, message):
    r = _cli("export", "-o", str(tmp_path / "b"), *args)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_existing_output_needs_force(onnx_bundle):
    from umedsam.export import ExportOptions, export_bundle

    folder, _ = onnx_bundle
    with pytest.raises(UmedsamError, match="--force"):
        export_bundle(None, folder, ExportOptions())


def test_merged_graph(onnx_bundle, tmp_path, torch_model):
    """A lone merged graph runs (re-encoding per call); a lone single stage asks for its bundle."""
    import torch

    from umedsam.errors import EngineError
    from umedsam.export.onnx_export import merge_stages
    from umedsam.runtime.formats import load_backend

    folder, _ = onnx_bundle
    merged = merge_stages(folder / "encoder.onnx", folder / "decoder.onnx", tmp_path / "model.onnx")
    rng = np.random.default_rng(0)
    image = rng.random((1, 3, 256, 256), dtype=np.float32)
    boxes = np.array([[20, 30, 150, 200], [5, 5, 60, 60]], np.float32)
    with load_backend(merged, threads=2) as backend:
        assert backend.info()["merged"]
        logits, iou = backend.decode(backend.encode(image), boxes)
    with torch.no_grad():
        ref_logits, _ = torch_model.decode(torch_model.image_encoder(torch.from_numpy(image)), torch.from_numpy(boxes))
    np.testing.assert_allclose(logits, ref_logits.numpy(), atol=1e-3)
    lone = tmp_path / "encoder.onnx"
    lone.write_bytes((folder / "encoder.onnx").read_bytes())
    with pytest.raises(EngineError, match="single stage .* pass the bundle folder"):
        load_backend(lone)
    # inside a bundle, the manifest's merged_graph (umedsam-export --merged) names the merged file
    copy = tmp_path / "bundle"
    copy.mkdir()
    for name in ("encoder.onnx", "decoder.onnx"):
        (copy / name).write_bytes((folder / name).read_bytes())
    (copy / "model.onnx").write_bytes(merged.read_bytes())
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(merged_graph="model.onnx", status="failed")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert open_bundle(copy / "model.onnx").merged and not open_bundle(copy).merged
    with pytest.warns(UserWarning, match="FAILED its check"):
        load_backend(copy, threads=1).close()


def test_openvino_from_an_onnx_bundle(onnx_bundle, small_2d, tmp_path):
    """--from-onnx: IR built from an existing ONNX bundle, no second torch export."""
    from umedsam.export import ExportOptions, export_bundle

    folder, src = onnx_bundle
    manifest = export_bundle(None, tmp_path / "ov", ExportOptions(target="openvino", from_onnx=folder,
                                                                 check_data=small_2d, threads=2))
    assert manifest["status"] == "passed" and manifest["export"]["stages"]["encoder"]["onnx"]["copied_from"]
    assert manifest["from_onnx"]["files"] == src["files"]
    with pytest.raises(UmedsamError, match="--from-onnx"):
        export_bundle(None, tmp_path / "x", ExportOptions(target="onnx", from_onnx=folder))


def test_bf16_bundle_computes_in_bf16_where_the_cpu_can(request, onnx_bundle, small_2d, tmp_path):
    """--precision bf16: FP16 weights, bf16 compute on CPUs with BF16, f32 (the fp16 class) elsewhere;
    the native runtime asks for the same precision, so its masks equal the Python backend's."""
    import openvino as ov

    from umedsam.export import ExportOptions, export_bundle
    from umedsam.metrics.parity import precision_class, run_parity
    from umedsam.runtime.predictor import Predictor

    folder, _ = onnx_bundle
    out = tmp_path / "bf16"
    manifest = export_bundle(None, out, ExportOptions(target="openvino", precision="bf16", from_onnx=folder,
                                                      check_data=small_2d, threads=2))
    assert manifest["precision"] == "bf16" and manifest["status"] == "passed"
    assert manifest["export"]["stages"]["encoder"]["openvino"]["weights"] == "f16"
    assert list(manifest["parity"]["thresholds"]["encoder_atol_rtol"]) == [None, None]  # reported, not gated
    has_bf16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    with Predictor(out, backend="openvino", threads=2) as py:
        info = py.backend.info()
        assert info["inference_precision"] == ("bf16" if has_bf16 else "f32")
        assert precision_class(info) == ("bf16" if has_bf16 else "fp16")
        request.getfixturevalue("native_build")  # skips (or fails under UMEDSAM_REQUIRE_NATIVE=1) without it
        with Predictor(out, backend="native", threads=2) as nat:
            assert nat.backend.info()["inference_precision"] == info["inference_precision"]
            report = run_parity(py, nat, sorted((small_2d / "imgs").glob("*.npz")), None)
        assert report.overall["min_agreement"] == 1.0 and report.overall["pixels_differ"] == 0
