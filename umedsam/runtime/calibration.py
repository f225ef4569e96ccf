"""Calibration inputs from challenge npz folders, preprocessed exactly as inference preprocesses them.

One source for every INT8 path (TensorRT's calibrator now; ONNX Runtime's CalibrationDataReader,
``nncf.Dataset`` and neural-compressor in the quantize step): 2D images, and for 3D cases the slices
inside the boxes' z ranges (every ``slice_step``-th), each resized, normalised and padded to
(3, 256, 256) float32. The folder must be kept apart from any data a number is reported on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import numpy as np

from umedsam.data.npz import Case, find_cases, load_case
from umedsam.runtime.preprocess import normalize_pad, preprocess_image, resize_longest_side


def calibration_frames(folder: str | Path, max_samples: int = 300,
                       slice_step: int = 2) -> Iterator[tuple[np.ndarray, Case, int | None]]:
    """Yield up to ``max_samples`` (preprocessed (3, 256, 256) float32 image, its case, slice or None)."""
    n = 0
    for path in find_cases(folder):
        case = load_case(path)
        if case.kind == "2D":
            frames = [(preprocess_image(case.imgs)[0], None)]
        else:
            zs = sorted({z for b in case.boxes for z in range(max(int(b[2]), 0), min(int(b[5]) + 1, len(case.imgs)))})
            frames = ((normalize_pad(resize_longest_side(case.imgs[z])), z) for z in zs[::max(1, slice_step)])
        for frame, z in frames:
            yield frame, case, z
            n += 1
            if n >= max_samples:
                return


def calibration_images(folder: str | Path, max_samples: int = 300, slice_step: int = 2) -> Iterator[np.ndarray]:
    """Yield up to ``max_samples`` preprocessed (3, 256, 256) float32 images, in file order."""
    for frame, _, _ in calibration_frames(folder, max_samples, slice_step):
        yield frame


def calibration_hash(folder: str | Path) -> str:
    """sha256 over the names and bytes of the calibration files (recorded in manifests)."""
    h = hashlib.sha256()
    for path in find_cases(folder):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()
