"""Training samples from challenge npz folders (imgs/ + gts/), prepared the way inference sees them.

Each sample is one encoder input (a 2D image, or one slice of a 3D volume inside its GT's extent)
preprocessed exactly as at inference (INTER_AREA resize-longest-256, min-max, pad), with the GT mask
of every object resized to the same 256 grid (nearest); a batch item also gets its mask's signed
distance map for the shape-distance term. Batches draw an object, flip image and mask together (h/v, 50 % each), and
derive the box from the flipped mask with the LiteMedSAM training script's jitter: each side moves
outward by 0..``jitter`` px in 256-space.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from umedsam.data.npz import find_gts, require_cases, load_case, load_gt
from umedsam.errors import UmedsamError
from umedsam.runtime.preprocess import IMG_SIZE, new_size, normalize_pad, resize_longest_side
from umedsam.train.loss import signed_distance


@dataclass
class Sample:
    image: np.ndarray        # (3, 256, 256) float32
    masks: np.ndarray        # (K, 256, 256) uint8, one per object present
    source: str              # "case.npz" or "case.npz z=12"
    hw: tuple[int, int]      # the resized image inside the zero padding


@dataclass
class Batch:
    images: np.ndarray       # (B, 3, 256, 256) float32
    boxes: np.ndarray        # (N, 4) float32, 256-space xyxy, N >= B (several objects per image)
    masks: np.ndarray        # (N, 1, 256, 256) float32
    sdfs: np.ndarray         # (N, 1, 256, 256) float32
    owner: np.ndarray        # (N,) index of each box's image in ``images``
    keys: list[tuple[int, int]]   # (sample index, flip code) per image, for the teacher's embedding cache


def _mask256(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    nh, nw = new_size(h, w)
    out = np.zeros((IMG_SIZE, IMG_SIZE), np.uint8)
    out[:nh, :nw] = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
    return out


def _sample(image256: np.ndarray, gt: np.ndarray, source: str, min_pixels: int) -> Sample | None:
    masks = [m for m in (_mask256(gt == k) for k in np.unique(gt) if k != 0) if int(m.sum()) >= min_pixels]
    if not masks:
        return None
    stack = np.stack(masks)
    return Sample(image256, stack, source, new_size(*gt.shape[:2]))


def load_samples(folder: str | Path, max_slices_per_case: int = 8, min_pixels: int = 4,
                 skipped: list[str] | None = None) -> list[Sample]:
    """Samples of every case in ``folder`` (needs ground truth); 3D cases give up to N evenly spaced slices.

    A malformed case raises, unless ``skipped`` is given: then its one-line error is appended there
    and the other cases still load.
    """
    folder = Path(folder)
    gts_dir = find_gts(folder)
    cases = require_cases(folder)
    if not cases or gts_dir is None:
        raise UmedsamError(f"{folder}: training needs challenge cases with ground truth (imgs/ + gts/)")
    out: list[Sample] = []
    for path in cases:
        try:
            case = load_case(path)
            gts, _ = load_gt(gts_dir / path.name)
            if gts.shape[:2] != case.imgs.shape[:2] or (case.kind == "3D" and gts.shape != case.imgs.shape):
                raise UmedsamError(f"{gts_dir / path.name}: field 'gts': shape {gts.shape} does not match "
                                   f"imgs {case.imgs.shape}")
        except UmedsamError as exc:
            if skipped is None:
                raise
            skipped.append(str(exc))
            continue
        if case.kind == "2D":
            s = _sample(normalize_pad(resize_longest_side(case.imgs)), gts, path.name, min_pixels)
            out += [s] if s is not None else []
            continue
        zs = [z for z in range(len(gts)) if gts[z].any()]
        if len(zs) > max_slices_per_case:
            zs = [zs[int(i)] for i in np.linspace(0, len(zs) - 1, max_slices_per_case).round()]
        for z in zs:
            s = _sample(normalize_pad(resize_longest_side(case.imgs[z])), gts[z], f"{path.name} z={z}", min_pixels)
            out += [s] if s is not None else []
    if not out:
        raise UmedsamError(f"{folder}: no objects of at least {min_pixels} pixels in the ground truth")
    return out


def flip(a: np.ndarray, code: int, hw: tuple[int, int] | None = None) -> np.ndarray:
    """Flip the last two axes (bit 0 horizontal, bit 1 vertical) inside the image region ``hw``.

    The padding stays bottom/right, as inference always has it.
    """
    h, w = hw if hw is not None else a.shape[-2:]
    out = np.array(a, copy=True)
    region = out[..., :h, :w]
    if code & 1:
        region = region[..., ::-1]
    if code & 2:
        region = region[..., ::-1, :]
    out[..., :h, :w] = region
    return out


def jittered_box(mask: np.ndarray, rng: np.random.Generator, jitter: int) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    lo = rng.integers(0, jitter + 1, 2) if jitter > 0 else np.zeros(2, int)
    hi = rng.integers(0, jitter + 1, 2) if jitter > 0 else np.zeros(2, int)
    x0, y0 = max(0, xs.min() - lo[0]), max(0, ys.min() - lo[1])
    x1, y1 = min(IMG_SIZE - 1, xs.max() + hi[0]), min(IMG_SIZE - 1, ys.max() + hi[1])
    return np.array([x0, y0, x1, y1], np.float32)


def draw_batch(samples: list[Sample], rng: np.random.Generator, batch: int, jitter: int = 5,
               flips: bool = True, boxes_per_image: int = 1) -> Batch:
    """A random batch: ``batch`` images, each flipped at random, with up to ``boxes_per_image`` of its
    objects and their jittered boxes. Several boxes share one encoder pass (the decoder is cheap), so
    a step gets more supervision for the same encoder cost."""
    images, boxes, masks, sdfs, owner, keys = [], [], [], [], [], []
    for b in range(batch):
        i = int(rng.integers(len(samples)))
        s = samples[i]
        code = int(rng.integers(4)) if flips else 0
        images.append(flip(s.image, code, s.hw))
        keys.append((i, code))
        for k in rng.permutation(len(s.masks))[:max(1, boxes_per_image)]:
            mask = flip(s.masks[int(k)], code, s.hw)
            masks.append(mask[None].astype(np.float32))
            sdfs.append(signed_distance(mask)[None])
            boxes.append(jittered_box(mask, rng, jitter))
            owner.append(b)
    return Batch(np.stack(images), np.stack(boxes), np.stack(masks), np.stack(sdfs), np.asarray(owner), keys)
