"""The predictor shared by every backend: 2D cases and 3D slice-wise box propagation.

Reproduces the LiteMedSAM reference pipeline (``CVPR24_LiteMedSAM_infer.py``) mask for mask, with
two changes that do not alter masks:

* each 3D slice is encoded once and its embedding shared by every box (the reference re-encodes per
  box and slice), in a bounded LRU cache; slices are encoded ahead in small batches;
* the boxes of a 2D image may go through the decoder together (``box_batch``; the reference decodes
  one at a time, as CPU backends do by default; batched logits differ by ~3e-5).

Reference quirks kept (they change masks): INTER_AREA resizing of images and of the propagated
label masks holding the value k (not 1), truncating box scaling in the box's own dtype, +-3 px
propagated boxes clipped to [0, 256], fallback to the middle-slice box when the previous slice is
empty, later boxes overwriting earlier ones. Departures, all for inputs the reference crashes on
or mishandles: ``z_min == z_max`` runs one slice (the reference asserts), labels are uint16 (the
reference's uint8 wraps at 256 boxes), boxes partly outside the image are clipped (with a warning)
and boxes wholly outside it leave their label empty (with a warning).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from umedsam.runtime.backends.base import Backend
from umedsam.runtime.cache import DEFAULT_MAX_CACHE_MB, EmbeddingCache
from umedsam.runtime.postprocess import logits_to_masks
from umedsam.runtime.preprocess import (
    middle_slice,
    new_size,
    normalize_pad,
    preprocess_image,
    propagated_box,
    resize_box_to_256,
    resize_longest_side,
)
from umedsam.runtime.result import Segmentation


class _Clock:
    """Accumulates seconds per stage."""

    def __init__(self) -> None:
        self.t: dict[str, float] = defaultdict(float)

    def add(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.t[stage] += now - start
        return now


def _clip_boxes(boxes: np.ndarray, h: int, w: int, d: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Clip x/y of boxes to the image; return (boxes, keep mask, warnings).

    z is not clipped: the reference derives the middle slice from the given z range and clips the
    passes itself (``min(z_max + 1, D)``, ``max(-1, z_min - 1)``), so clipping z would move it.
    """
    boxes = np.asarray(boxes)
    half = boxes.shape[1] // 2
    size = np.array([w, h], dtype=np.float64)
    keep = np.ones(len(boxes), dtype=bool)
    warnings: list[str] = []
    out = boxes.copy()
    for k, box in enumerate(boxes):
        lo, hi = box[:2].astype(np.float64), box[half:half + 2].astype(np.float64)
        outside = bool(np.any(lo >= size) or np.any(hi < 0))
        if d is not None:
            outside |= bool(box[2] > d - 1 or box[5] < 0)
        if outside:
            keep[k] = False
            warnings.append(f"box {k + 1} lies outside the image; its label stays empty")
            continue
        if np.any(lo < 0) or np.any(hi > size):
            out[k, :2] = np.clip(lo, 0, size).astype(boxes.dtype)
            out[k, half:half + 2] = np.clip(hi, 0, size).astype(boxes.dtype)
            warnings.append(f"box {k + 1} extends outside the image in x/y; clipped to it")
        if d is not None and (box[2] < 0 or box[5] > d - 1):
            warnings.append(f"box {k + 1} extends outside the volume in z; slices beyond it are skipped")
    return out, keep, warnings


class Predictor:
    """Segment challenge cases with any backend.

    >>> from umedsam.runtime import Predictor
    >>> with Predictor() as p:                      # built-in LiteMedSAM weights, PyTorch
    ...     seg = p.segment_2d(image, boxes)        # image (H,W,3) uint8, boxes (N,4) xyxy pixels
    ...     seg.labels, seg.scores

    ``engine`` is anything the format table resolves (``.pth``, bundle folder, ...) or a ready
    :class:`Backend`. ``box_batch`` bounds how many boxes go through the decoder at once (None: the
    backend's preference, 1 on CPUs),
    ``slice_batch`` how many 3D slices are encoded together, ``max_cache_mb`` the embedding cache.
    ``verify=False`` skips the check of the bundle's graph files against its manifest's sha256
    (on by default: a graph altered after export is refused instead of segmenting silently).
    """

    def __init__(self, engine: str | Path | Backend | None = None, backend: str | None = None,
                 threads: int | None = None, box_batch: int | None = None, slice_batch: int = 1,
                 max_cache_mb: float = DEFAULT_MAX_CACHE_MB, verify: bool = True) -> None:
        if isinstance(engine, Backend):
            self.backend = engine
        else:
            from umedsam.runtime.formats import load_backend

            self.backend = load_backend(engine, backend=backend, threads=threads, verify=verify)
        self.box_batch = max(1, int(box_batch if box_batch is not None else self.backend.preferred_box_batch))
        self.slice_batch = max(1, int(slice_batch))
        self.max_cache_mb = max_cache_mb

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------- 2D
    def segment_2d(self, image: np.ndarray, boxes: np.ndarray) -> Segmentation:
        """Label map (H, W) for an RGB (H, W, 3) uint8 image and (N, 4) boxes in pixels."""
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        h, w = image.shape[:2]
        labels = np.zeros((h, w), dtype=np.uint16)
        boxes = np.asarray(boxes).reshape(-1, 4)
        clock = _Clock()
        if len(boxes) == 0:
            return Segmentation(labels, [], ["no boxes; all-zero segs"], dict(clock.t))
        boxes, keep, warnings = _clip_boxes(boxes, h, w)
        t = time.perf_counter()
        x, new_hw = preprocess_image(image)
        t = clock.add("preprocess", t)
        emb = self.backend.encode(x[None])
        t = clock.add("encode", t)
        scores: list[dict[str, Any]] = [{"label": k + 1, "iou": None} for k in range(len(boxes))]
        idx = np.nonzero(keep)[0]
        for start in range(0, len(idx), self.box_batch):
            chunk = idx[start:start + self.box_batch]
            boxes256 = np.stack([resize_box_to_256(boxes[k], (h, w)) for k in chunk]).astype(np.float32)
            t = time.perf_counter()
            logits, iou = self.backend.decode(emb, boxes256)
            t = clock.add("decode", t)
            masks = logits_to_masks(logits, new_hw, (h, w))
            for j, k in enumerate(chunk):  # file order: later boxes overwrite earlier ones
                labels[masks[j]] = k + 1
                scores[k]["iou"] = float(iou[j, 0])
            clock.add("postprocess", t)
        return Segmentation(labels, scores, warnings, dict(clock.t))

    # ----------------------------------------------------------------------------------------- 3D
    def segment_3d(self, volume: np.ndarray, boxes: np.ndarray) -> Segmentation:
        """Label map (D, H, W) for a uint8 volume and (N, 6) boxes ``[x0, y0, z0, x1, y1, z1]``."""
        d, h, w = volume.shape
        labels = np.zeros((d, h, w), dtype=np.uint16)
        boxes = np.asarray(boxes).reshape(-1, 6)
        clock = _Clock()
        if len(boxes) == 0:
            return Segmentation(labels, [], ["no boxes; all-zero segs"], dict(clock.t))
        boxes, keep, warnings = _clip_boxes(boxes, h, w, d)
        cache = EmbeddingCache(self.max_cache_mb)
        new_hw = new_size(h, w)
        needed = np.zeros(d, dtype=bool)
        for k in np.nonzero(keep)[0]:
            needed[max(int(boxes[k, 2]), 0):int(boxes[k, 5]) + 1] = True
        scores: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for k, box in enumerate(boxes):
            label = k + 1
            if not keep[k]:
                scores.append({"label": label, "iou": None, "slices": 0})
                continue
            temp = np.zeros((d, h, w), dtype=bool)
            x0, y0, z0, x1, y1, z1 = box.tolist()
            z_mid = middle_slice(z0, z1, d)
            mid256 = resize_box_to_256(box[[0, 1, 3, 4]], (h, w))
            ious = []
            passes = (range(z_mid, min(int(z1) + 1, d)), range(z_mid - 1, max(-1, int(z0) - 1), -1))
            for step, zs in zip((1, -1), passes):
                for z in zs:
                    source = 0
                    box256 = mid256
                    if z != z_mid:
                        t = time.perf_counter()
                        prop = propagated_box(temp[z - step], label)
                        clock.add("postprocess", t)
                        source = 1 if prop is not None else 2
                        box256 = prop if prop is not None else mid256
                    emb = self._slice_embedding(volume, z, step, needed, cache, clock)
                    t = time.perf_counter()
                    logits, iou = self.backend.decode(emb, np.asarray(box256, dtype=np.float32)[None])
                    t = clock.add("decode", t)
                    temp[z] = logits_to_masks(logits, new_hw, (h, w))[0]
                    clock.add("postprocess", t)
                    ious.append(float(iou[0, 0]))
                    calls.append({"z": z, "label": label, "box_source": source,
                                  "box256": [float(v) for v in box256], "iou": ious[-1]})
            labels[temp] = label
            scores.append({"label": label, "iou": float(np.mean(ious)) if ious else None,
                           "slices": len(ious)})
        timings = dict(clock.t)
        timings.update(cache_hits=cache.hits, cache_misses=cache.misses, cache_evictions=cache.evictions)
        return Segmentation(labels, scores, warnings, timings, calls)

    def _slice_embedding(self, volume: np.ndarray, z: int, step: int, needed: np.ndarray,
                         cache: EmbeddingCache, clock: _Clock) -> np.ndarray:
        """Embedding of slice z, encoding it (and the next needed slices in the pass direction) on a miss."""
        emb = cache.get(z)
        if emb is not None:
            return emb[None]
        zs = [z]
        nxt = z + step
        while len(zs) < self.slice_batch and 0 <= nxt < len(volume) and needed[nxt] and nxt not in cache:
            zs.append(nxt)
            nxt += step
        t = time.perf_counter()
        batch = np.stack([normalize_pad(resize_longest_side(volume[i])) for i in zs])
        t = clock.add("preprocess", t)
        embs = self.backend.encode(batch)
        clock.add("encode", t)
        for i, e in zip(zs, embs):
            cache.put(i, e)
        return embs[0][None]

    def segment_case(self, kind: str, imgs: np.ndarray, boxes: np.ndarray) -> Segmentation:
        """Dispatch on the case kind ('2D' or '3D'); a backend that segments whole cases (native) does it."""
        whole = self.backend.segment_case(kind, imgs, boxes)
        if whole is not None:
            return whole
        return self.segment_2d(imgs, boxes) if kind == "2D" else self.segment_3d(imgs, boxes)
