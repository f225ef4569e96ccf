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

    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    _quiet_nncf()
    # weights keep their FakeQuantize in memory (compressed to INT8 only when saved, see save_ir), so
    # revert_blocks can return a block's weights to float as well as its activations
    return nncf.quantize(model, nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER,
                         preset=nncf.QuantizationPreset.MIXED, subset_size=len(feeds),
                         ignored_scope=ignored_scope(preset, float_blocks),
                         advanced_parameters=AdvancedQuantizationParameters(backend_params={"compress_weights": False}))


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
    """Save with INT8 weights: FakeQuantize on constant weights folded into int8 constants (what NNCF
    does itself unless told not to); float weights and activations are untouched."""
    import openvino as ov
    from openvino._offline_transformations import compress_quantize_weights_transformation

    start = time.perf_counter()
    model = model.clone()
    compress_quantize_weights_transformation(model)
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


def quantized_blocks(model) -> list[str]:
    """Blocks holding FakeQuantize ops, in graph order (NNCF names them after the op they feed)."""
    from umedsam.quantize.presets import block_of

    return list(dict.fromkeys(block_of(op.get_friendly_name()) for op in model.get_ordered_ops()
                              if op.get_type_name() == "FakeQuantize"))


def revert_blocks(quantized, fp32, float_blocks: Iterable[str]):
    """A copy of ``quantized`` with the FakeQuantize ops of ``float_blocks`` removed and those blocks'
    bias-corrected constants restored from ``fp32``: the blocks run in float, the rest keeps its
    calibrated ranges, and no recalibration is needed (NNCF's own accuracy control reverts the same way).

    Only constants that feed an ``Add`` (biases) are restored: SmoothQuant rescales a MatMul's weights
    against a ``Multiply`` it inserts on the activations, an exact rewrite in float that must be kept.
    """
    import openvino as ov

    from umedsam.quantize.presets import block_of

    float_blocks = set(float_blocks)
    model = quantized.clone()
    originals = {op.get_friendly_name(): op for op in fp32.get_ordered_ops() if op.get_type_name() == "Constant"}
    for op in model.get_ordered_ops():
        name = op.get_friendly_name()
        if block_of(name) not in float_blocks:
            continue
        if op.get_type_name() == "FakeQuantize":
            op.output(0).replace(op.input_value(0))
        elif op.get_type_name() == "Constant" and name in originals and _feeds_only_add(op):
            orig = originals[name]
            if orig.get_output_partial_shape(0) == op.get_output_partial_shape(0):
                a, b = orig.get_data(), op.get_data()
                if a.dtype == b.dtype and not np.array_equal(a, b):
                    restored = ov.op.Constant(np.array(a))
                    restored.set_friendly_name(name)
                    op.output(0).replace(restored.output(0))
    model.validate_nodes_and_infer_types()
    return model


def _feeds_only_add(op) -> bool:
    targets = [t.get_node() for out in op.outputs() for t in out.get_target_inputs()]
    return bool(targets) and all(t.get_type_name() == "Add" for t in targets)
