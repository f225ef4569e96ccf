"""Torch-free post-processing: crop the 256x256 logits to the resized image, bilinear to the original.

The bilinear resize reimplements ``F.interpolate(mode="bilinear", align_corners=False)`` in numpy,
separably and in float32 with PyTorch's index/weight arithmetic (source = scale * (dst + 0.5) - 0.5,
clamped at 0; scale = in / out in float32). cv2's INTER_LINEAR uses the same convention but rounds
its weights differently (up to 1.3e-4 on the golden logits, against ~1e-5 here).

Masks are ``logit > 0``, which equals the reference's ``sigmoid(logit) > 0.5`` except for logits in
(0, 1.2e-7), where float32 sigmoid rounds to exactly 0.5.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=64)
def _linear_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w0, w1) for a half-pixel linear resize of one axis, as PyTorch computes them."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = scale * (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = (src - i0.astype(np.float32)).astype(np.float32)
    w0 = (np.float32(1) - w1).astype(np.float32)
    return i0, i1, w0, w1


def resize_bilinear(x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of the last two axes of a float32 array (align_corners=False, no antialias)."""
    h, w = out_hw
    r0, r1, a0, a1 = _linear_weights(x.shape[-2], h)
    c0, c1, b0, b1 = _linear_weights(x.shape[-1], w)
    rows = x[..., r0, :] * a0[:, None] + x[..., r1, :] * a1[:, None]
    return rows[..., c0] * b0 + rows[..., c1] * b1


def upsample_logits(logits: np.ndarray, new_hw: tuple[int, int], original_hw: tuple[int, int]) -> np.ndarray:
    """(N, 256, 256) or (N, 1, 256, 256) logits -> (N, H, W) float32 logits."""
    logits = np.asarray(logits, dtype=np.float32)
    logits = logits.reshape(-1, logits.shape[-2], logits.shape[-1])
    newh, neww = new_hw
    return resize_bilinear(logits[:, :newh, :neww], original_hw)


def logits_to_masks(logits: np.ndarray, new_hw: tuple[int, int], original_hw: tuple[int, int]) -> np.ndarray:
    """(N, H, W) boolean masks from low-res logits."""
    return upsample_logits(logits, new_hw, original_hw) > 0
