"""PNG overlays of image, boxes and masks for visual review (2D: the image; 3D: each box's middle slice)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from umedsam.common import write_bytes_atomic
from umedsam.data.npz import Case
from umedsam.runtime.preprocess import middle_slice


def _colors(n: int) -> np.ndarray:
    rng = np.random.default_rng(2024)  # fixed colours, as the reference seeds its overlay colours
    return rng.integers(40, 256, size=(n + 1, 3)).astype(np.uint8)


def _blend(rgb: np.ndarray, labels: np.ndarray, colors: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    out = rgb.astype(np.float32)
    fg = labels > 0
    out[fg] = (1 - alpha) * out[fg] + alpha * colors[np.minimum(labels[fg], len(colors) - 1)]
    return out.astype(np.uint8)


def render(case: Case, labels: np.ndarray) -> np.ndarray:
    """An RGB picture of the case with its masks and boxes."""
    n = len(case.boxes)
    colors = _colors(max(n, 1))
    if case.kind == "2D":
        pic = _blend(case.imgs, labels, colors)
        for k, b in enumerate(case.boxes, start=1):
            cv2.rectangle(pic, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), colors[k].tolist(), 1)
        return pic
    d = case.imgs.shape[0]
    zs = sorted({middle_slice(b[2], b[5], d) for b in case.boxes}) or [d // 2]
    tiles = []
    for z in zs[:6]:
        tile = _blend(np.repeat(case.imgs[z][..., None], 3, axis=2), labels[z], colors)
        for k, b in enumerate(case.boxes, start=1):
            if b[2] <= z <= b[5]:
                cv2.rectangle(tile, (int(b[0]), int(b[1])), (int(b[3]), int(b[4])), colors[k].tolist(), 1)
        cv2.putText(tile, f"z={z}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)


def write_overlay(path: str | Path, case: Case, labels: np.ndarray) -> None:
    """Write the overlay PNG (RGB image saved in OpenCV's BGR order)."""
    ok, buf = cv2.imencode(".png", render(case, labels)[..., ::-1])
    if ok:
        write_bytes_atomic(path, buf.tobytes())
