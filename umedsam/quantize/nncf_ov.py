"""NNCF on OpenVINO IR: static INT8 (transformer model type), accuracy control driven by our DSC, weight-only.

* ``quantize_ir``: ``nncf.quantize`` with ``ModelType.TRANSFORMER`` (SmoothQuant on the MatMul inputs,
  float LayerNorm/GELU/Softmax paths, fast bias correction), the preset's float scopes and any
  blocks the search keeps in float as an ``IgnoredScope`` of name patterns (OpenVINO keeps the ONNX
  node names, which carry the module path).
* ``quantize_ir_with_accuracy_control``: ``nncf.quantize_with_accuracy_control`` on the encoder, its
  validation function being the real thing: the full predictor (this candidate encoder, the FP32
  decoder) on validation cases, scored by the challenge DSC. NNCF ranks quantizer groups and reverts
  them to float until the absolute DSC drop is within ``max_drop``.
* ``compress_ir_weights``: ``nncf.compress_weights`` INT8 (asymmetric, per output channel):
  weights stored as INT8, decompressed on the fly; activations stay float, no calibration needed.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from umedsam.quantize.presets import Preset


def _quiet_nncf() -> None:
    logging.getLogger("nncf").setLevel(logging.ERROR)


def ignored_scope(preset: Preset, float_blocks: Iterable[str] = ()):
    """The preset's float scopes plus ``float_blocks`` as NNCF name patterns (module-path prefixes)."""
    import nncf

    scopes = list(preset.exclude_scopes) + list(float_blocks)
    patterns = [rf"^{re.escape(s)}[./].*" for s in scopes]
    return nncf.IgnoredScope(patterns=patterns, validate=False)


def quantize_ir(model, feeds: list[dict[str, np.ndarray]], preset: Preset, float_blocks: Iterable[str] = ()):
    """``nncf.quantize`` of an ``ov.Model`` (a new model is returned)."""
    import nncf

    _quiet_nncf()
    return nncf.quantize(model, nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER,
                         preset=nncf.QuantizationPreset.MIXED, subset_size=len(feeds),
                         ignored_scope=ignored_scope(preset, float_blocks))


def compress_ir_weights(model, preset: Preset):
    """Weight-only INT8 of an ``ov.Model``."""
    import nncf

    _quiet_nncf()
    return nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM,
                                 ignored_scope=ignored_scope(preset))


def quantize_ir_with_accuracy_control(model, feeds: list[dict[str, np.ndarray]], preset: Preset,
                                      val_items: list[Any],
                                      score: Callable[[Any, list[Any]], tuple[float, list[float]]],
                                      max_drop: float, max_iterations: int = 8):
    """``nncf.quantize_with_accuracy_control`` (absolute drop in DSC fractions).

    ``score(compiled_encoder, items)`` returns (mean DSC, per-item DSC); NNCF calls it with the FP32
    and the quantized encoder and while it ranks and reverts quantizer groups.
    """
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    _quiet_nncf()
    return nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(feeds), nncf.Dataset(val_items), score, max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE, model_type=nncf.ModelType.TRANSFORMER,
        preset=nncf.QuantizationPreset.MIXED, subset_size=len(feeds), ignored_scope=ignored_scope(preset),
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            max_num_iterations=max_iterations, ranking_subset_size=min(len(val_items), 8)))


def save_ir(model, path: Path) -> dict[str, Any]:
    import openvino as ov

    start = time.perf_counter()
    ov.save_model(model, str(path), compress_to_fp16=False)
    return {"seconds": round(time.perf_counter() - start, 2),
            "bytes": path.stat().st_size + path.with_suffix(".bin").stat().st_size}


def int8_ops(model) -> int:
    """FakeQuantize / INT8 weight constants in a model (0 = nothing was quantized)."""
    n = 0
    for op in model.get_ordered_ops():
        t = op.get_type_name()
        if t in ("FakeQuantize", "FakeConvert") or (t == "Constant" and str(op.get_element_type()) in ("i8", "u8")):
            n += 1
    return n
