"""Export a checkpoint to a bundle: ONNX (dynamo), OpenVINO IR, TensorRT engines, plus manifest and check.

Imports torch and onnx (export is a build step); the runtime that runs bundles does not.
"""

from umedsam.export.bundle import TARGETS, ExportOptions, export_bundle

__all__ = ["TARGETS", "ExportOptions", "export_bundle"]
