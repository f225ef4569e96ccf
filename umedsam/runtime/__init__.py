"""Torch-free runtime: pre/post-processing, backends chosen by the format table, the predictor.

``import umedsam.runtime`` imports numpy and OpenCV only; a backend's library (torch, onnxruntime,
openvino, tensorrt) is imported when that backend is constructed.
"""

from umedsam.runtime.backends.base import Backend
from umedsam.runtime.formats import FORMATS, load_backend, resolve_format
from umedsam.runtime.predictor import Predictor
from umedsam.runtime.result import Segmentation

__all__ = ["Backend", "FORMATS", "Predictor", "Segmentation", "load_backend", "resolve_format"]
