"""INT8 post-training quantization of exported bundles, accuracy-aware and gated against FP32.

One module per concern: ``calibration`` (one source of calibration inputs for every method),
``presets`` (the one table of what stays float), ``ort_qdq`` (ONNX Runtime QDQ), ``nncf_ov``
(NNCF on OpenVINO IR), ``inc`` + ``inc_worker`` (Intel neural-compressor in its own environment),
``search`` (sensitivity ranking and float fallback), ``pipeline`` (the command's steps).
"""

from umedsam.quantize.pipeline import METHODS, QuantizeOptions, QuantizeResult, quantize_bundle

__all__ = ["METHODS", "QuantizeOptions", "QuantizeResult", "quantize_bundle"]
