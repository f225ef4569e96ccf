"""PNG overlays for visual review: image, box prompts, predicted masks and the ground truth's outline.

2D: the image; 3D: the middle slice of each box (up to six). Predicted labels are filled in their
colour, box prompts are rectangles in the same colour, and where ground truth is known its outline is
drawn in white. A legend strip under the picture says which is which, so an overlay read on its own
(in a report, a ticket) is not mistaken for something else.
"""

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


GT_COLOR = (255, 255, 255)


def _outline(pic: np.ndarray, gt: np.ndarray | None) -> None:
    """Draw the outline of every ground-truth label in white, in place."""
    if gt is None:
        return
    for value in np.unique(gt):
        if value == 0:
            continue
        contours, _ = cv2.findContours((gt == value).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(pic, contours, -1, GT_COLOR, 1)


def _legend(width: int, colors: np.ndarray, n: int, has_gt: bool) -> np.ndarray:
    """A strip: one swatch per label (up to 12 named), and what fill, rectangle and outline mean."""
    strip = np.full((34, max(width, 1), 3), 32, np.uint8)
    font, x = cv2.FONT_HERSHEY_SIMPLEX, 4
    text = "fill: predicted label k   rectangle: box prompt k" + ("   white outline: ground truth" if has_gt else "")
    cv2.putText(strip, text, (4, 12), font, 0.35, (230, 230, 230), 1)
    for k in range(1, min(n, 12) + 1):
        cv2.rectangle(strip, (x, 18), (x + 10, 28), colors[k].tolist(), -1)
        cv2.putText(strip, str(k), (x + 13, 28), font, 0.35, (230, 230, 230), 1)
        x += 34
    if n > 12:
        cv2.putText(strip, f"... {n} labels", (x, 28), font, 0.35, (230, 230, 230), 1)
    return strip


def render(case: Case, labels: np.ndarray, gt: np.ndarray | None = None) -> np.ndarray:
    """An RGB picture of the case with its masks, boxes, the ground truth's outline (if given) and a legend."""
    n = len(case.boxes)
    colors = _colors(max(n, 1))
    if gt is not None and gt.shape != labels.shape:
        gt = None  # a GT of another shape outlines nothing rather than something wrong
    if case.kind == "2D":
        pic = _blend(case.imgs, labels, colors)
        _outline(pic, gt)
        for k, b in enumerate(case.boxes, start=1):
            cv2.rectangle(pic, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), colors[k].tolist(), 1)
        return np.concatenate([pic, _legend(pic.shape[1], colors, n, gt is not None)], axis=0)
    d = case.imgs.shape[0]
    zs = sorted({middle_slice(b[2], b[5], d) for b in case.boxes}) or [d // 2]
    tiles = []
    for z in zs[:6]:
        tile = _blend(np.repeat(case.imgs[z][..., None], 3, axis=2), labels[z], colors)
        _outline(tile, None if gt is None else gt[z])
        for k, b in enumerate(case.boxes, start=1):
            if b[2] <= z <= b[5]:
                cv2.rectangle(tile, (int(b[0]), int(b[1])), (int(b[3]), int(b[4])), colors[k].tolist(), 1)
        cv2.putText(tile, f"z={z}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        tiles.append(tile)
    pic = np.concatenate(tiles, axis=1)
    return np.concatenate([pic, _legend(pic.shape[1], colors, n, gt is not None)], axis=0)


def gt_beside(path: Path) -> Path | None:
    """The ground-truth file of a case in ``ROOT/imgs/`` when ``ROOT/gts/`` holds one of the same name."""
    gt = path.parent.parent / "gts" / path.name
    return gt if path.parent.name == "imgs" and gt.is_file() else None


def write_overlay(path: str | Path, case: Case, labels: np.ndarray, gt: np.ndarray | None = None) -> None:
    """Write the overlay PNG (RGB image saved in OpenCV's BGR order)."""
    ok, buf = cv2.imencode(".png", render(case, labels, gt)[..., ::-1])
    if ok:
        write_bytes_atomic(path, buf.tobytes())
