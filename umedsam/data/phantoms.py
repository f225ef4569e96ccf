"""Synthetic challenge cases with ground truth ("phantoms"). SYNTHETIC, not patient data.

They exist because real images with ground truth are scarce here. They mimic the challenge's inputs
closely enough to exercise every code path and to give meaningful DSC/NSD numbers, but a score on a
phantom is not a clinical score. Deterministic by seed.

* ``2DBox_Dermoscopy_*``: RGB skin texture, uneven illumination, 1-2 pigmented lesions of irregular
  outline with internal texture and soft borders, hairs;
* ``2DBox_US_*``: grey ultrasound-like speckle with 1-3 hypoechoic lesions with bright rims;
* ``3DBox_CT_*``: a body cross-section (air, fat, soft tissue) with 2-3 organs and lesions of varied
  shape and HU, noise, windowed L40/W400 to uint8 as the organisers do, anisotropic spacing;
* ``3DBox_MR_*``: the same anatomy with MR-like contrasts, a bias field, Rician noise and the
  organisers' 0.5-99.5 percentile normalisation of non-zero voxels.

Boxes are the GT's bounding boxes with 0-5 px outward jitter (x/y; z exact), label k = box k.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from umedsam.data.npz import save_npz_atomic


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float | tuple[float, ...]) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (field.std() + 1e-12)


def _blob(rng: np.random.Generator, shape: tuple[int, ...], center: np.ndarray, radii: np.ndarray,
          roughness: float, sigma: float | tuple[float, ...]) -> np.ndarray:
    """An irregular blob: an ellipsoid whose level set is perturbed by smooth noise."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    r2 = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, center, radii))
    return (r2 + roughness * _smooth_noise(rng, shape, sigma)) < 1.0


def _box_from_mask(rng: np.random.Generator, mask: np.ndarray, jitter: int = 5) -> list[int]:
    """xyxy (2D) or x0,y0,z0,x1,y1,z1 (3D) bounding box, x/y widened by 0..jitter px."""
    idx = np.nonzero(mask)
    if mask.ndim == 2:
        (y0, y1), (x0, x1) = [(int(i.min()), int(i.max())) for i in idx]
        h, w = mask.shape
    else:
        (z0, z1), (y0, y1), (x0, x1) = [(int(i.min()), int(i.max())) for i in idx]
        _, h, w = mask.shape
    j = rng.integers(0, jitter + 1, size=4)
    x0, y0 = max(0, x0 - int(j[0])), max(0, y0 - int(j[1]))
    x1, y1 = min(w - 1, x1 + int(j[2])), min(h - 1, y1 + int(j[3]))
    return [x0, y0, x1, y1] if mask.ndim == 2 else [x0, y0, z0, x1, y1, z1]


def _boxes(rng: np.random.Generator, gts: np.ndarray, jitter: int) -> np.ndarray:
    """One jittered box per label 1..gts.max(), in label order (box k prompts label k)."""
    boxes = [_box_from_mask(rng, gts == k, jitter) for k in range(1, int(gts.max()) + 1)]
    return np.array(boxes, np.int64).reshape(-1, 2 * gts.ndim)


def _place(gts: np.ndarray, make) -> bool:
    """Draw candidate blobs until one lands mostly on free space; write it as the next label.

    The label is ``gts.max() + 1``, so labels stay 1..n even when a placement fails.
    """
    for _ in range(20):
        blob = make() & (gts == 0)
        if blob.sum() > 50:
            gts[blob] = int(gts.max()) + 1
            return True
    return False


def _lesions_2d(rng: np.random.Generator, h: int, w: int, n: int, size: tuple[float, float],
                aspect: tuple[tuple[float, float], tuple[float, float]], roughness: float, sigma: float) -> np.ndarray:
    """Label map with up to ``n`` disjoint irregular lesions (labels 1..n), each inside the image."""
    gts = np.zeros((h, w), np.uint8)
    for _ in range(n):
        def make() -> np.ndarray:
            r = rng.uniform(*size) * min(h, w) * np.array([rng.uniform(*aspect[0]), rng.uniform(*aspect[1])])
            c = np.array([rng.uniform(r[0] + 5, h - r[0] - 5), rng.uniform(r[1] + 5, w - r[1] - 5)])
            return _blob(rng, (h, w), c, r, roughness, sigma)
        _place(gts, make)
    return gts


def dermoscopy(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = int(rng.integers(300, 460)), int(rng.integers(320, 520))
    skin = np.array([205, 160, 140]) + rng.normal(0, 10, 3)
    light = 1.0 + 0.12 * _smooth_noise(rng, (h, w), 60)
    tex = 6 * _smooth_noise(rng, (h, w), 2)
    img = skin[None, None, :] * light[..., None] + tex[..., None]
    gts = _lesions_2d(rng, h, w, int(rng.integers(1, 3)), (0.12, 0.22), ((0.7, 1.2), (0.7, 1.2)), 0.35, 8)
    lesion = gts > 0
    soft = ndimage.gaussian_filter(lesion.astype(float), 2.0)
    pigment = np.array([95, 60, 45]) + rng.normal(0, 8, 3)
    inner = 1.0 + 0.25 * _smooth_noise(rng, (h, w), 4)
    lesion_rgb = pigment[None, None, :] * inner[..., None]
    img = img * (1 - soft[..., None]) + lesion_rgb * soft[..., None]
    for _ in range(int(rng.integers(0, 6))):  # hairs: dark thin curves
        t = np.linspace(0, 1, 400)
        p0, p1 = rng.uniform(0, 1, 2) * [h, w], rng.uniform(0, 1, 2) * [h, w]
        bend = rng.normal(0, 30, 2)
        pts = p0[None] * (1 - t[:, None]) + p1[None] * t[:, None] + np.sin(np.pi * t)[:, None] * bend
        ys, xs = np.clip(pts[:, 0].astype(int), 0, h - 1), np.clip(pts[:, 1].astype(int), 0, w - 1)
        img[ys, xs] *= 0.35
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    return img, _boxes(rng, gts, jitter=5), gts


def ultrasound(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = int(rng.integers(280, 420)), int(rng.integers(300, 480))
    tissue = 110 + 25 * _smooth_noise(rng, (h, w), 12)
    gts = _lesions_2d(rng, h, w, int(rng.integers(1, 4)), (0.08, 0.18), ((0.6, 1.0), (0.8, 1.4)), 0.2, 10)
    lesion = ndimage.gaussian_filter((gts > 0).astype(float), 1.5)
    rim = ndimage.gaussian_filter(ndimage.morphological_gradient((gts > 0).astype(np.uint8), size=3).astype(float), 1.5)
    echo = tissue * (1 - lesion) + 30 * lesion + 90 * rim
    speckle = rng.rayleigh(1.0, (h, w)) / np.sqrt(np.pi / 2)
    grey = np.clip(ndimage.gaussian_filter(echo * speckle, 0.7), 0, 255).astype(np.uint8)
    img = np.repeat(grey[..., None], 3, axis=2)
    return img, _boxes(rng, gts, jitter=5), gts


def _anatomy(rng: np.random.Generator, d: int, h: int, w: int, sz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body mask, fat ring and organ labels (1..n) for a small torso-like volume."""
    grids = np.ogrid[0:d, 0:h, 0:w]
    cy, cx = h / 2 + rng.normal(0, 4), w / 2 + rng.normal(0, 4)
    ry, rx = h * rng.uniform(0.36, 0.42), w * rng.uniform(0.42, 0.47)
    body_r2 = ((grids[1] - cy) / ry) ** 2 + ((grids[2] - cx) / rx) ** 2 + 0 * grids[0]
    body = body_r2 < 1.0
    fat = body & (body_r2 > 0.8)
    gts = np.zeros((d, h, w), np.uint8)
    sigma = (1.0, 6.0 / sz * 0.8, 6.0 / sz * 0.8)
    n = int(rng.integers(2, 4))
    for _ in range(n):
        def make() -> np.ndarray:
            r = np.array([rng.uniform(0.25, 0.4) * d, rng.uniform(0.12, 0.22) * ry, rng.uniform(0.12, 0.22) * rx])
            ang = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(0.0, 0.45)
            c = np.array([rng.uniform(r[0], d - r[0]), cy + dist * ry * np.sin(ang), cx + dist * rx * np.cos(ang)])
            return _blob(rng, (d, h, w), c, r, 0.3, sigma) & body & ~fat
        _place(gts, make)
    return body, fat, gts


def ct(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d, h, w = int(rng.integers(12, 19)), int(rng.integers(150, 200)), int(rng.integers(170, 230))
    spacing = np.array([rng.choice([2.5, 3.0, 5.0]), rng.uniform(0.65, 0.9), 0.0])
    spacing[2] = spacing[1]
    body, fat, gts = _anatomy(rng, d, h, w, spacing[1])
    hu = np.full((d, h, w), -1000.0)
    hu[body] = 40 + 10 * _smooth_noise(rng, (d, h, w), 3)[body]
    hu[fat] = -100
    for k in range(1, int(gts.max()) + 1):
        hu[gts == k] = rng.choice([-20.0, 10.0, 70.0, 120.0, 160.0]) + rng.normal(0, 5)
    hu = ndimage.gaussian_filter(hu, (0.3, 0.8, 0.8)) + rng.normal(0, 12, hu.shape)
    lo, hi = 40 - 200, 40 + 200  # window L40 / W400
    imgs = np.round((np.clip(hu, lo, hi) - lo) / (hi - lo) * 255).astype(np.uint8)
    return imgs, _boxes(rng, gts, jitter=3), gts, spacing


def mr(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d, h, w = int(rng.integers(12, 19)), int(rng.integers(160, 220)), int(rng.integers(160, 220))
    spacing = np.array([rng.choice([3.0, 4.0, 6.0]), rng.uniform(0.9, 1.4), 0.0])
    spacing[2] = spacing[1]
    body, fat, gts = _anatomy(rng, d, h, w, spacing[1])
    sig = np.zeros((d, h, w))
    sig[body] = 300 + 30 * _smooth_noise(rng, (d, h, w), 3)[body]
    sig[fat] = 800
    for k in range(1, int(gts.max()) + 1):
        sig[gts == k] = rng.choice([120.0, 450.0, 600.0, 900.0]) + rng.normal(0, 20)
    bias = np.exp(0.2 * _smooth_noise(rng, (d, h, w), (4, 40, 40)))
    sig = ndimage.gaussian_filter(sig * bias, (0.3, 0.8, 0.8))
    noise = 25.0
    sig = np.hypot(sig + rng.normal(0, noise, sig.shape), rng.normal(0, noise, sig.shape))  # Rician
    nz = sig[sig > 2 * noise]
    lo, hi = np.percentile(nz, 0.5), np.percentile(nz, 99.5)
    imgs = np.round((np.clip(sig, lo, hi) - lo) / (hi - lo) * 255).astype(np.uint8)
    return imgs, _boxes(rng, gts, jitter=3), gts, spacing


GENERATORS_2D = (("Dermoscopy", dermoscopy), ("US", ultrasound))
GENERATORS_3D = (("CT", ct), ("MR", mr))


def write_phantoms(out: str | Path, n2d: int = 4, n3d: int = 2, seed: int = 0) -> list[Path]:
    """Write ``out/imgs/*.npz`` (inputs) and ``out/gts/*.npz`` (ground truth); return the input paths."""
    out = Path(out)
    paths: list[Path] = []
    for i in range(n2d):
        modality, gen = GENERATORS_2D[i % len(GENERATORS_2D)]
        rng = np.random.default_rng([seed, 2, i])
        img, boxes, gts = gen(rng)
        name = f"2DBox_{modality}_{i + 1:04d}.npz"
        save_npz_atomic(out / "imgs" / name, imgs=img, boxes=boxes)
        save_npz_atomic(out / "gts" / name, gts=gts)
        paths.append(out / "imgs" / name)
    for i in range(n3d):
        modality, gen = GENERATORS_3D[i % len(GENERATORS_3D)]
        rng = np.random.default_rng([seed, 3, i])
        imgs, boxes, gts, spacing = gen(rng)
        name = f"3DBox_{modality}_{i + 1:04d}.npz"
        save_npz_atomic(out / "imgs" / name, imgs=imgs, boxes=boxes, spacing=spacing)
        save_npz_atomic(out / "gts" / name, gts=gts, spacing=spacing)
        paths.append(out / "imgs" / name)
    return paths
