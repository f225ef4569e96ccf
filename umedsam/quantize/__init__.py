"""INT8 post-training quantization of exported bundles, accuracy-aware and gated against FP32.

One module per concern: ``options`` (what the command sets and returns), ``source`` (the FP32 bundle a
method works on), ``calibration`` (one source of calibration inputs for every method), ``presets`` (the
one table of what stays float), ``methods`` (one quantizer class per method over ``ort_qdq`` (ONNX
Runtime QDQ), ``nncf_ov`` (NNCF on OpenVINO IR) and ``inc`` + ``inc_worker`` (Intel neural-compressor in
its own environment)), ``search`` + ``accuracy`` (sensitivity ranking and float fallback), ``gate``
(parity and latency against FP32), ``report`` (the table), ``pipeline`` (the command's steps).
"""

from umedsam.quantize.options import METHODS, QuantizeOptions, QuantizeResult
from umedsam.quantize.pipeline import quantize_bundle
from umedsam.quantize.report import summary_row, summary_table

__all__ = ["METHODS", "QuantizeOptions", "QuantizeResult", "quantize_bundle", "summary_row", "summary_table"]
