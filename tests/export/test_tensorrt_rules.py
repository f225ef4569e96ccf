"""TensorRT build rules: everything that does not need a GPU or TensorRT."""

from __future__ import annotations

import pytest

from umedsam.errors import UmedsamError
from umedsam.export.tensorrt_rules import (BuildPlan, engine_cache_key, gpu_label, keep_fp32, plan_build, profiles,
                                           timing_cache_name)

TITAN_XP = (6, 1)
T4 = (7, 5)
A100 = (8, 0)
P100 = (6, 0)


def test_pascal_needs_tensorrt_86():
    with pytest.raises(UmedsamError, match=r"TensorRT >= 10 needs SM >= 7.5.*TensorRT 8.6"):
        plan_build("10.3.0", TITAN_XP, "fp32")
    assert plan_build("8.6.1", TITAN_XP, "fp32") == BuildPlan("fp32", False, False, None, ("TF32 disabled for parity",))
    with pytest.raises(UmedsamError, match="too old"):
        plan_build("8.5.3", A100, "fp32")


def test_no_fast_fp16_on_sm61_is_refused_not_built_slow():
    with pytest.raises(UmedsamError, match="not a fast precision on SM 6.1 \\(Pascal\\)"):
        plan_build("8.6.1", TITAN_XP, "fp16")
    plan = plan_build("8.6.1", P100, "fp16")  # the P100 has full-rate FP16
    assert plan.fp16 and not plan.int8
    assert any("FP32" in n for n in plan_build("10.3.0", T4, "fp16").notes)


def test_int8_modes():
    # Pascal + TensorRT 8.6: calibrator (implicit), no FP16 fallback layers
    plan = plan_build("8.6.1", TITAN_XP, "int8", has_calibration=True)
    assert plan.int8 and plan.int8_mode == "implicit" and not plan.fp16
    with pytest.raises(UmedsamError, match="--calib"):
        plan_build("8.6.1", TITAN_XP, "int8")
    # TensorRT 10: explicit quantization from a QDQ graph only
    with pytest.raises(UmedsamError, match="QDQ ONNX"):
        plan_build("10.3.0", A100, "int8", has_calibration=True)
    plan = plan_build("10.3.0", A100, "int8", has_qdq=True)
    assert plan.int8_mode == "explicit" and plan.fp16
    with pytest.raises(UmedsamError, match="DP4A"):
        plan_build("8.6.1", (5, 2), "int8", has_calibration=True)
    with pytest.raises(UmedsamError, match="--precision bf16"):
        plan_build("10.3.0", A100, "bf16")


def test_layers_kept_fp32():
    assert keep_fp32("NORMALIZATION") and keep_fp32("SOFTMAX") and keep_fp32("REDUCE")
    assert keep_fp32("UNARY", "EXP") and keep_fp32("ELEMENTWISE", "POW")
    assert not keep_fp32("CONVOLUTION") and not keep_fp32("UNARY", "ABS") and not keep_fp32("ELEMENTWISE", "SUM")


def test_profiles_cover_boxes_and_slice_batches():
    p = profiles(max_boxes=64, max_slice_batch=8, opt_boxes=4)
    assert p["decoder"]["boxes"] == ((1, 4), (4, 4), (64, 4))
    assert p["decoder"]["image_embeddings"] == ((1, 256, 64, 64),) * 3
    assert p["encoder"]["image"][0][0] == 1 and p["encoder"]["image"][2][0] == 8
    with pytest.raises(UmedsamError, match="opt"):
        profiles(max_boxes=4, opt_boxes=8)


def test_cache_keys_change_with_everything_that_invalidates_an_engine():
    plan = plan_build("10.3.0", A100, "fp32")
    prof = profiles()["decoder"]
    base = engine_cache_key("abc", "10.3.0", A100, plan, prof)
    assert base == engine_cache_key("abc", "10.3.0", A100, plan, prof)
    assert base != engine_cache_key("abd", "10.3.0", A100, plan, prof)
    assert base != engine_cache_key("abc", "10.4.0", A100, plan, prof)
    assert base != engine_cache_key("abc", "10.3.0", (8, 6), plan, prof)
    assert base != engine_cache_key("abc", "10.3.0", A100, plan_build("10.3.0", A100, "fp16"), prof)
    assert base != engine_cache_key("abc", "10.3.0", A100, plan, profiles(max_boxes=8)["decoder"])
    assert timing_cache_name("8.6.1", TITAN_XP) == "timing-trt8.6.1-sm61.cache"
    assert gpu_label(T4) == "SM 7.5 (Turing)"
