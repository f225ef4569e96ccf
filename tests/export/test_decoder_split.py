"""The decoder split (umedsam-export --split-decoder): decoder_image once per image + decoder_box per box."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from umedsam.export.decoder_split import IMAGE_PARTS, DecoderBoxGraph, DecoderImageGraph
from umedsam.export.graphs import DecoderGraph


@pytest.fixture(scope="module")
def model():
    from umedsam.model import load_checkpoint

    return load_checkpoint(None)


@pytest.mark.parametrize("n_boxes", [1, 3])
def test_split_equals_the_whole_decoder_in_torch(model, n_boxes):
    g = torch.Generator().manual_seed(n_boxes)
    emb = torch.randn(1, 256, 64, 64, generator=g)
    boxes = torch.sort(torch.rand(n_boxes, 2, 2, generator=g) * 255, dim=1).values.transpose(1, 2).reshape(n_boxes, 4)
    with torch.no_grad():
        logits, iou = DecoderGraph(model).eval()(emb, boxes)
        parts = DecoderImageGraph(model).eval()(emb)
        split_logits, split_iou = DecoderBoxGraph(model).eval()(*parts, boxes)
    assert [tuple(p.shape) for p in parts] == [(1, 4096, 256)] + [(1, 4096, 128)] * 3 and len(parts) == len(IMAGE_PARTS)
    # the same operations on the same values: equal, not merely close
    assert torch.equal(logits, split_logits) and torch.equal(iou, split_iou)


def test_split_refused_for_tensorrt_and_from_onnx(tmp_path):
    from umedsam.errors import UmedsamError
    from umedsam.export import ExportOptions, export_bundle

    with pytest.raises(UmedsamError, match="--split-decoder: ONNX and OpenVINO bundles only"):
        export_bundle(None, tmp_path / "t", ExportOptions(target="trt", split_decoder=True))
    with pytest.raises(UmedsamError, match="--from-onnx"):
        export_bundle(None, tmp_path / "o", ExportOptions(target="openvino", split_decoder=True, from_onnx=tmp_path))


@pytest.mark.slow
def test_split_bundle_gives_the_same_masks(tmp_path_factory, small_cases, small_2d, ov_bundle, request):
    """An OpenVINO bundle with the split: Python and native segment as the unsplit bundle does, pixel for pixel."""
    from umedsam.data.npz import find_cases, load_case, load_segs
    from umedsam.export import ExportOptions, export_bundle
    from umedsam.runtime.predictor import Predictor

    out = tmp_path_factory.mktemp("split") / "ov-split"
    manifest = export_bundle(None, out, ExportOptions(target="openvino", threads=2, check_data=small_2d,
                                                      split_decoder=True))
    assert {"encoder", "decoder", "decoder_image", "decoder_box"} <= manifest["graphs"].keys()
    assert manifest["status"] == "passed"
    base = {}
    with Predictor(ov_bundle[0], backend="openvino", threads=2) as p:
        for path in find_cases(small_cases):
            case = load_case(path)
            base[path.name] = p.segment_case(case.kind, case.imgs, case.boxes).labels
    with Predictor(out, backend="openvino", threads=2) as p:
        assert p.backend.split_decoder and "decoder" not in p.backend.compiled  # the split replaces it
        for path in find_cases(small_cases):
            case = load_case(path)
            np.testing.assert_array_equal(p.segment_case(case.kind, case.imgs, case.boxes).labels, base[path.name])
        # decoder_image runs once per embedding, however many boxes follow
        emb = p.backend.encode(np.zeros((1, 3, 256, 256), np.float32))
        box = np.array([[10, 10, 100, 100]], np.float32)
        p.backend.decode(emb, box)
        kept = p.backend._parts
        p.backend.decode(emb, box + 1)
        assert p.backend._parts is kept
        p.backend.decode(emb + 1, box)
        assert p.backend._parts is not kept
    try:
        native = request.getfixturevalue("native_build")
    except pytest.skip.Exception:
        return
    seg_dir = tmp_path_factory.mktemp("split_native")
    r = subprocess.run([str(native.executable), "-i", str(small_cases), "-o", str(seg_dir), "--bundle", str(out),
                        "--threads", "2", "--profile"], capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 0, r.stderr
    assert "decoder_image: compile or import" in r.stderr and "decoder_box (1 box): compile or import" in r.stderr
    for name, labels in base.items():
        np.testing.assert_array_equal(load_segs(seg_dir / name), labels)
    info = subprocess.run([str(native.executable), "--bundle", str(out), "--compile-only"], capture_output=True,
                          text=True, encoding="utf-8", errors="replace", check=True)
    assert json.loads(info.stdout)["split_decoder"] is True
