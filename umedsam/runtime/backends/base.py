"""The one interface every backend implements (torch, ONNX Runtime, OpenVINO, TensorRT, native).

Lifecycle (Polygraphy-style): construct (loads/compiles), ``encode``/``decode`` any number of times,
``close`` (also via ``with``). Arrays in and out are numpy float32; a backend never returns a view of
its own buffers and never writes into its inputs (OpenVINO may modify input tensors in place, so its
backend copies what it hands over), because the predictor caches embeddings across boxes and slices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class Backend(ABC):
    """Encoder + decoder stages of one engine."""

    #: format-table name of the backend (``torch``, ``onnxruntime``, ...)
    name: str = "?"
    #: boxes per decoder call when the user does not say. On CPUs one box per call is fastest
    #: (measured per box at 2 threads: torch 81 ms at 1 vs 128 ms at 16, ONNX Runtime 60 vs 71,
    #: OpenVINO 50 vs 71: the repeated 256x64x64 embedding costs memory traffic, not compute);
    #: GPUs (TensorRT) gain from batching.
    preferred_box_batch: int = 1

    def __init__(self, path: str, threads: int | None = None) -> None:
        self.path = str(path)
        self.threads = threads

    @abstractmethod
    def encode(self, images: np.ndarray) -> np.ndarray:
        """(B, 3, 256, 256) normalised images -> (B, 256, 64, 64) embeddings."""

    @abstractmethod
    def decode(self, embedding: np.ndarray, boxes256: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, 256, 64, 64) embedding + (N, 4) boxes in 256-space -> logits (N, 1, 256, 256), iou (N, 1)."""

    def segment_case(self, kind: str, imgs: np.ndarray, boxes: np.ndarray) -> Any:
        """A whole case segmented by the backend itself, or None (the default): the predictor does it.

        The native runtime implements the complete pipeline in C++; the predictor hands it whole
        cases so that what is compared and timed is that pipeline, not only its graphs.
        """
        return None

    def info(self) -> dict[str, Any]:
        """Metadata for reports: backend, precision, engine path, threads."""
        return {"backend": self.name, "engine": self.path, "precision": "fp32", "threads": self.threads}

    def close(self) -> None:
        """Release sessions and buffers."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
