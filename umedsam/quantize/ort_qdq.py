"""ONNX Runtime static INT8 (QDQ): calibrated activations, per-channel weights, preset exclusions.

``quantize_static`` with a calibration *cache*: the float ranges are collected once per stage (one
pass over the calibration set through an augmented graph) and every later variant - another preset,
another set of blocks kept in float during the accuracy-aware search - reuses them, so a variant
costs seconds instead of a calibration pass.

Activations are asymmetric uint8 and weights symmetric int8 (U8S8), the combination ONNX Runtime's
x86 kernels are built for. ``reduce_range`` (7-bit weights) avoids the int16 saturation of
``vpmaddubsw`` on AVX2/AVX-512 CPUs without VNNI; it costs some accuracy, so it is an option.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quant_pre_process, quantize_dynamic, quantize_static)

from umedsam.quantize.presets import Preset, block_of, in_scopes

CALIBRATION_METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                       "percentile": CalibrationMethod.Percentile}


class FeedReader(CalibrationDataReader):
    """ONNX Runtime's calibration reader over preprocessed feeds (shared with the other methods)."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]], on_feed: Callable[[str], None] = lambda s: None) -> None:
        self.feeds = list(feeds)
        self._it = iter(self.feeds)
        self.on_feed = on_feed

    def get_next(self) -> dict[str, np.ndarray] | None:
        item = next(self._it, None)
        if item is not None:
            self.on_feed("")
        return item

    def rewind(self) -> None:
        self._it = iter(self.feeds)

    def __len__(self) -> int:
        return len(self.feeds)


def _initializers(model: onnx.ModelProto) -> set[str]:
    names = {i.name for i in model.graph.initializer}
    names |= {n.output[0] for n in model.graph.node if n.op_type == "Constant"}
    return names


def select_nodes(model: onnx.ModelProto, preset: Preset, float_blocks: Iterable[str] = ()) -> tuple[list[str] | None, list[str]]:
    """(nodes_to_quantize or None for 'all', nodes_to_exclude) for ``quantize_static``."""
    float_blocks = set(float_blocks)
    consts = _initializers(model)
    include, exclude = [], []
    for node in model.graph.node:
        keep_float = in_scopes(node.name, preset.exclude_scopes) or block_of(node.name) in float_blocks
        if preset.op_types is not None:
            wanted = node.op_type in preset.op_types
            if node.op_type == "MatMul" and not preset.attention_matmuls and not any(i in consts for i in node.input):
                wanted = False  # q @ k^T, attn @ v: both inputs are activations
            if wanted and not keep_float:
                include.append(node.name)
        elif keep_float:
            exclude.append(node.name)
    return (include if preset.op_types is not None else None), exclude


def graph_blocks(path: Path, preset: Preset) -> list[str]:
    """The blocks (in graph order) holding nodes that ``preset`` quantizes in the graph at ``path``."""
    model = onnx.load(str(path), load_external_data=False)
    include, _ = select_nodes(model, preset)
    names = include if include is not None else [n.name for n in model.graph.node]
    return list(dict.fromkeys(block_of(n) for n in names))


def prepare(src: Path, dst: Path) -> Path:
    """Shape inference for the quantizer (no graph rewrites: node names must survive)."""
    quant_pre_process(str(src), str(dst), skip_optimization=True, skip_onnx_shape=False, skip_symbolic_shape=False)
    return dst


def quantize_stage(src: Path, dst: Path, feeds: list[dict[str, np.ndarray]] | None, preset: Preset,
                   float_blocks: Iterable[str] = (), per_channel: bool = True, reduce_range: bool = False,
                   calibration: str = "minmax", cache: Path | None = None,
                   on_feed: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Quantize one stage graph ``src`` -> ``dst``; returns what the manifest records.

    ``feeds`` may be None when ``cache`` already holds the ranges (or for weight-only).
    """
    start = time.perf_counter()
    model = onnx.load(str(src))
    include, exclude = select_nodes(model, preset, float_blocks)
    if include is not None and not include:  # nothing left to quantize (an empty list means "all" to ORT)
        shutil.copyfile(src, dst)
        return {"seconds": round(time.perf_counter() - start, 2), "quantized_nodes": 0,
                "float_nodes": len(model.graph.node), "quantize_ops": 0, "bytes": dst.stat().st_size}
    logging.getLogger("root").setLevel(logging.ERROR)  # the quantizer logs per node at WARNING
    if preset.weights_only:
        # dynamic quantization: INT8 weights stored once, activations quantized per call (no calibration)
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(preset.op_types or ()) or None,
                         nodes_to_quantize=include, nodes_to_exclude=exclude, per_channel=per_channel,
                         reduce_range=reduce_range, weight_type=QuantType.QInt8)
    else:
        quantize_static(str(src), str(dst), FeedReader(feeds, on_feed) if feeds is not None else None,
                        quant_format=QuantFormat.QDQ, per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_quantize=include, nodes_to_exclude=exclude,
                        op_types_to_quantize=list(preset.op_types) if preset.op_types else None,
                        calibrate_method=CALIBRATION_METHODS[calibration],
                        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
                        calibration_cache_path=cache)
    out = onnx.load(str(dst), load_external_data=False)
    qdq = sum(1 for n in out.graph.node if n.op_type in ("QuantizeLinear", "DynamicQuantizeLinear"))
    return {"seconds": round(time.perf_counter() - start, 2), "quantized_nodes": len(include) if include is not None
            else None, "float_nodes": len(exclude) if include is None else len(model.graph.node) - len(include),
            "quantize_ops": qdq, "bytes": dst.stat().st_size}
