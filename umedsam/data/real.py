"""Real images with ground truth that PyPI wheels ship, turned into challenge cases.

* stardist 0.9.2: ``stardist/data/images/img2d.tif`` + ``mask2d.tif``, a fluorescence nuclei image from
  the DSB2018 data set (512x512, 125 instance labels). Written as four quadrant cases
  ``2DBox_Microscopy_DSB2018q{1..4}.npz`` (one box per nucleus) so calibration/fine-tuning and
  evaluation can use different quadrants.
* nilearn: the MNI152 2009 template T1 with its white-matter probability map (real 3D MRI, 1 mm).
  Written as ``3DBox_MR_MNI152{a,b}.npz``: two axial slabs, label 1 = left-hemisphere white matter,
  label 2 = right-hemisphere white matter (probability > 0.5).

Both packages are located with ``importlib.util.find_spec`` and never imported (stardist would pull
TensorFlow-era dependencies). Install them with ``pip install --no-deps stardist==0.9.2 nilearn``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from umedsam.data.npz import save_npz_atomic
from umedsam.errors import UmedsamError


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it (stardist and nilearn pull heavy
    dependencies at import; only their data files are needed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise UmedsamError(f"package '{name}' is not installed (pip install --no-deps {name})")
    return Path(list(spec.submodule_search_locations)[0])


def _relabel(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """Keep instances with at least ``min_pixels`` pixels, relabelled 1..n in order of first appearance."""
    out = np.zeros(mask.shape, np.uint16)
    ids, counts = np.unique(mask[mask > 0], return_counts=True)
    for new, old in enumerate(ids[counts >= min_pixels], start=1):
        out[mask == old] = new
    return out


def _boxes_2d(labels: np.ndarray) -> np.ndarray:
    boxes = []
    for k in range(1, int(labels.max()) + 1):
        ys, xs = np.nonzero(labels == k)
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
    return np.array(boxes, np.int64).reshape(-1, 4)


def write_dsb2018(out: str | Path, quadrants: tuple[int, ...] = (1, 2, 3, 4)) -> list[Path]:
    """The stardist DSB2018 nuclei image as quadrant 2D cases (+ GT); q1/q2 for calibration, q3/q4 to report on."""
    import tifffile

    root = package_dir("stardist") / "data" / "images"
    img = tifffile.imread(root / "img2d.tif").astype(np.float64)
    mask = tifffile.imread(root / "mask2d.tif")
    lo, hi = np.percentile(img, (0.5, 99.8))
    grey = np.round(np.clip((img - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    out = Path(out)
    paths = []
    h, w = grey.shape
    quads = [(slice(0, h // 2), slice(0, w // 2)), (slice(0, h // 2), slice(w // 2, w)),
             (slice(h // 2, h), slice(0, w // 2)), (slice(h // 2, h), slice(w // 2, w))]
    for q, (ys, xs) in enumerate(quads, start=1):
        if q not in quadrants:
            continue
        labels = _relabel(mask[ys, xs], min_pixels=20)
        name = f"2DBox_Microscopy_DSB2018q{q}.npz"
        save_npz_atomic(out / "imgs" / name, imgs=np.repeat(grey[ys, xs][..., None], 3, axis=2),
                        boxes=_boxes_2d(labels))
        save_npz_atomic(out / "gts" / name, gts=labels)
        paths.append(out / "imgs" / name)
    return paths


def write_mni152(out: str | Path, slabs: tuple[tuple[int, int], ...] = ((70, 82), (96, 108))) -> list[Path]:
    """Axial slabs of the MNI152 template T1 with left/right white-matter labels (+ GT)."""
    import nibabel as nib

    root = package_dir("nilearn") / "datasets" / "data"
    t1 = np.asarray(nib.load(root / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz").dataobj, np.float64)
    wm = np.asarray(nib.load(root / "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz").dataobj, np.float64)
    # (x, y, z) RAS -> (z, y, x) with anterior at the top, as a radiologist reads an axial slice
    t1 = t1.transpose(2, 1, 0)[:, ::-1, :]
    wm = wm.transpose(2, 1, 0)[:, ::-1, :] > 0.5 * wm.max()
    nz = t1[t1 > 0]
    lo, hi = np.percentile(nz, (0.5, 99.5))
    vol = np.round(np.clip((t1 - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    mid = t1.shape[2] // 2
    out = Path(out)
    paths = []
    for tag, (z0, z1) in zip("ab", slabs):
        gts = np.zeros(vol[z0:z1].shape, np.uint8)
        gts[:, :, :mid][wm[z0:z1, :, :mid]] = 1
        gts[:, :, mid:][wm[z0:z1, :, mid:]] = 2
        boxes = []
        for k in (1, 2):
            zs, ys, xs = np.nonzero(gts == k)
            boxes.append([xs.min(), ys.min(), zs.min(), xs.max(), ys.max(), zs.max()])
        spacing = np.array([1.0, 1.0, 1.0])
        name = f"3DBox_MR_MNI152{tag}.npz"
        save_npz_atomic(out / "imgs" / name, imgs=np.ascontiguousarray(vol[z0:z1]),
                        boxes=np.array(boxes, np.int64), spacing=spacing)
        save_npz_atomic(out / "gts" / name, gts=gts, spacing=spacing)
        paths.append(out / "imgs" / name)
    return paths
