"""What a segmentation returns, in its own module below the backends and the predictor.

The Python predictor (:mod:`umedsam.runtime.predictor`) and the native backend, which runs whole cases
in C++ (:mod:`umedsam.runtime.backends.native_backend`), both produce a :class:`Segmentation`; keeping
the type here lets a backend return one without importing the predictor that sits above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Segmentation:
    """Result of one case: a label map, per-box scores and what happened on the way."""

    labels: np.ndarray                      # uint16, (H, W) or (D, H, W); label k = box k
    scores: list[dict[str, Any]]            # per box: label, iou (the IoU head's prediction), ...
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    calls: list[dict[str, Any]] = field(default_factory=list)  # 3D: one entry per decoder call
