"""OpenVINO IR from the exported ONNX graphs (the same graph ONNX Runtime runs, so the two agree).

``openvino.save_model`` compresses weights to FP16 unless told otherwise; the precision is therefore
always passed explicitly: FP32 weights for ``fp32`` (the parity default), FP16 weights for ``fp16``
(half the file size; the CPU plugin still computes in f32 unless its precision hint says otherwise),
and FP16 weights for ``bf16`` too: that bundle differs only in the precision the runtime asks the CPU
for (``Bundle.inference_precision``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openvino as ov

from umedsam.errors import UmedsamError


def convert_stage(onnx_path: Path, xml_path: Path, precision: str = "fp32") -> dict[str, Any]:
    """Convert one ONNX stage to IR (``.xml`` + ``.bin``)."""
    start = time.perf_counter()
    f16 = precision in ("fp16", "bf16")
    try:
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(xml_path), compress_to_fp16=f16)
    except Exception as exc:  # OpenVINO raises RuntimeError/OpConversionFailure with long messages
        raise UmedsamError(f"{onnx_path}: OpenVINO conversion failed: {str(exc).strip().splitlines()[0]}") from None
    return {"seconds": round(time.perf_counter() - start, 2),
            "bytes": xml_path.stat().st_size + xml_path.with_suffix(".bin").stat().st_size,
            "weights": "f16" if f16 else "f32"}
