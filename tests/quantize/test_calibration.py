"""One calibration source: encoder images, real-box decoder inputs with real embeddings, its record."""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.data.npz import find_cases, load_case
from umedsam.errors import UmedsamError
from umedsam.quantize.calibration import RECOMMENDED_SAMPLES, load_calibration
from umedsam.runtime.preprocess import resize_box_to_256


def test_images_and_boxes_match_the_inference_preprocessing(small_cases):
    calib = load_calibration(small_cases, max_samples=50, slice_step=1)
    assert all(img.shape == (3, 256, 256) and img.dtype == np.float32 for img in calib.images)
    assert len(calib.images) == len(calib.boxes)
    case2d = load_case(next(p for p in find_cases(small_cases) if p.name.startswith("2D")))
    h, w = case2d.imgs.shape[:2]
    expected = np.stack([resize_box_to_256(b, (h, w)) for b in case2d.boxes]).astype(np.float32)
    np.testing.assert_array_equal(calib.boxes[0], expected[: len(calib.boxes[0])])
    assert calib.warnings and str(RECOMMENDED_SAMPLES) in calib.warnings[0]  # few samples: warns, still works
    rec = calib.record()
    assert rec["encoder_samples"] == len(calib.images) and len(rec["sha256"]) == 64 and rec["cases"] == 2


def test_decoder_feeds_pair_real_embeddings_with_real_boxes(small_cases):
    calib = load_calibration(small_cases, max_samples=3)
    with pytest.raises(UmedsamError, match="embeddings"):
        calib.feeds("decoder")
    calib.attach_embeddings(lambda x: np.full((1, 256, 64, 64), float(x.mean()), np.float32))
    feeds = calib.feeds("decoder")
    assert feeds and all(f["image_embeddings"].shape == (1, 256, 64, 64) and f["boxes"].shape[1] == 4 for f in feeds)
    assert calib.feeds("encoder")[0]["image"].shape == (1, 3, 256, 256)


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "imgs").mkdir()
    with pytest.raises(UmedsamError, match="no input case"):
        load_calibration(tmp_path)


def test_method_fits_the_engine_format(onnx_bundle, ov_bundle):
    """``umedsam-quantize`` without --method takes the method of the engine's format row."""
    from umedsam.quantize.source import default_method

    assert default_method(ov_bundle[0]) == "nncf"
    assert default_method(onnx_bundle[0]) == "ort"
    assert default_method(None) == default_method("builtin") == "ort"   # a checkpoint is exported to ONNX first
