"""Torch-free pre-processing identical to the LiteMedSAM reference (docs/PIPELINE.md, "Pre-processing",
"Box scaling" and "3D propagation").

* ``resize_longest_side``: ``cv2.resize(..., INTER_AREA)`` to a longest side of 256, rounding the new
  size with ``int(x * scale + 0.5)``. OpenCV's INTER_AREA is not reproducible with other resizers
  (it enlarges nearest-like with blending only at source-pixel borders), so cv2 is used on purpose.
* min-max normalisation over the whole resized image (all channels jointly), computed in float64 as
  the reference does (numpy promotes its uint8 arithmetic there) and then cast to float32;
* zero padding to 256x256 at the bottom/right, CHW layout.
"""

from __future__ import annotations

import cv2
import numpy as np

from umedsam.data.geometry import IMG_SIZE, new_size

__all__ = ["IMG_SIZE", "new_size", "resize_longest_side", "normalize_pad", "preprocess_image",
           "resize_box_to_256", "middle_slice", "box_from_mask256", "propagated_box"]


def resize_longest_side(image: np.ndarray, target: int = IMG_SIZE) -> np.ndarray:
    """INTER_AREA resize so that the longest side is ``target`` (uint8 in, uint8 out)."""
    newh, neww = new_size(image.shape[0], image.shape[1], target)
    return cv2.resize(image, (neww, newh), interpolation=cv2.INTER_AREA)


def normalize_pad(resized: np.ndarray, channels: int = 3) -> np.ndarray:
    """Min-max normalise a resized uint8 image and zero-pad to (channels, 256, 256) float32.

    A single-channel input is repeated to ``channels`` (the 3D path repeats each slice to RGB; since
    channels are resized independently, resizing one channel and repeating it is identical).
    """
    lo, hi = int(resized.min()), int(resized.max())
    lut = ((np.arange(256, dtype=np.float64) - lo) / max(float(hi - lo), 1e-8)).astype(np.float32)
    norm = lut[resized]
    out = np.zeros((channels, IMG_SIZE, IMG_SIZE), dtype=np.float32)
    h, w = resized.shape[:2]
    if norm.ndim == 2:
        out[:, :h, :w] = norm[None]
    else:
        out[:, :h, :w] = norm.transpose(2, 0, 1)
    return out


def preprocess_image(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """uint8 (H,W,3) or (H,W) image -> encoder input (3,256,256) float32 and (newh, neww)."""
    resized = resize_longest_side(image)
    return normalize_pad(resized), (resized.shape[0], resized.shape[1])


def resize_box_to_256(box: np.ndarray, original_size: tuple[int, int]) -> np.ndarray:
    """Scale box coordinates to 256-space with truncation, keeping the input dtype.

    Mirrors the reference exactly, including numpy 2 promotion: float32 boxes are multiplied in
    float32 (a float32 ``97 * 256/97`` gives 255, not 256), integer boxes in float64.
    """
    box = np.asarray(box)
    ratio = IMG_SIZE / max(int(s) for s in original_size)  # a Python float, as with img.shape
    scaled = box * ratio  # python float is "weak": float32 stays float32, ints promote to float64
    return np.trunc(scaled).astype(box.dtype)


def middle_slice(z_min: float, z_max: float, depth: int) -> int:
    """The reference's start slice ``int((z_max - z_min) / 2 + z_min)``, kept inside the volume."""
    return min(max(int((z_max - z_min) / 2 + z_min), 0), depth - 1)


def box_from_mask256(mask256: np.ndarray, shift: int = 3) -> np.ndarray | None:
    """``[x_min-3, y_min-3, x_max+3, y_max+3]`` of a padded 256x256 mask, clipped to [0, 256]; None if empty.

    The upper clip is 256 (not 255), as in the reference's ``get_bbox256``.
    """
    ys, xs = np.nonzero(mask256 > 0)
    if len(xs) == 0:
        return None
    h, w = mask256.shape
    return np.array([max(0, xs.min() - shift), max(0, ys.min() - shift),
                     min(w, xs.max() + shift), min(h, ys.max() + shift)], dtype=np.int64)


def propagated_box(prev_mask: np.ndarray, label_value: int) -> np.ndarray | None:
    """Box for the next slice from the previous slice's mask, as the reference computes it.

    The reference resizes the temporary mask holding the label *value* k (not 1) with INTER_AREA,
    so labels >= 2 keep more partial pixels at edges; we keep that (values clamp at 255 in uint8).
    """
    value = np.uint8(min(label_value, 255))
    temp = np.where(prev_mask, value, np.uint8(0)).astype(np.uint8)
    small = resize_longest_side(temp)
    if small.max() == 0:
        return None
    padded = np.zeros((IMG_SIZE, IMG_SIZE), dtype=np.uint8)
    padded[: small.shape[0], : small.shape[1]] = small
    return box_from_mask256(padded)
