"""Unlabelled images for distillation, drawn from what the installed wheels ship, held-out cases kept out.

Distillation needs images, not labels: the FP32 model is the teacher, and its embeddings and masks are
the targets (:mod:`umedsam.train.distill_corpus` adds them). This module draws the images:

* **MNI152** (nilearn's 2009 template T1): slices along all three axes, with left/right white- and
  grey-matter objects as box seeds;
* **DSB2018** (stardist's nuclei image): random crops of 96-320 px, one box seed per nucleus;
* **phantoms** (:mod:`umedsam.data.phantoms`): every modality, over many seeds (2D images and 3D slices).

Every item gets an augmentation (flips, a quarter turn, a gamma and contrast change). Box seeds are
only seeds: the teacher's own mask inside each seed gives the final box.

**Held-out cases stay out.** ``exclude`` holds the images of every ``--data`` case. A held-out 3D
case whose slices are MNI152 axial slices removes those slices (and a margin) from *all three*
axes: sagittal and coronal slices are cut into the blocks of axial rows that lie outside every
held-out band, so no held-out voxel reaches the corpus. A held-out 2D case found inside the DSB2018
image (an exact match) removes its rectangle plus a margin; crops that touch it are redrawn. A phantom
identical to a held-out case is skipped. :func:`held_out_report` says what was removed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from umedsam.data import phantoms
from umedsam.data.real import package_dir

#: what a corpus draws from, with the default share of items
SOURCES = {"mni152": 0.4, "dsb2018": 0.3, "phantoms": 0.3}
MARGIN = 6            # rows (3D) or pixels (2D) kept free around a held-out region


@dataclass
class CorpusImage:
    """One distillation image: uint8 (H, W, 3), box seeds (K, 4) xyxy in its pixels, and where it came from."""

    image: np.ndarray
    seeds: np.ndarray
    source: str


@dataclass
class Exclusion:
    """What the held-out cases remove from the sources."""

    mni_rows: set[int] = field(default_factory=set)                      # axial rows of the template
    dsb_rects: list[tuple[int, int, int, int]] = field(default_factory=list)   # y0, x0, y1, x1
    hashes: set[str] = field(default_factory=set)                        # exact images (phantoms)
    cases: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        rows = sorted(self.mni_rows)
        return {"cases": self.cases, "mni152_axial_rows": [rows[0], rows[-1]] if rows else [],
                "mni152_rows_removed": len(rows), "dsb2018_rects": self.dsb_rects, "exact_images": len(self.hashes)}


def image_hash(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()


def _mni() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The template T1 as uint8 (z, y, x) oriented as :func:`umedsam.data.real.write_mni152` writes it,
    and white/grey-matter masks."""
    import nibabel as nib

    root = package_dir("nilearn") / "datasets" / "data"

    def load(name: str) -> np.ndarray:
        vol = np.asarray(nib.load(root / f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz").dataobj, np.float64)
        return vol.transpose(2, 1, 0)[:, ::-1, :]

    t1, wm, gm = load("t1"), load("wm"), load("gm")
    lo, hi = np.percentile(t1[t1 > 0], (0.5, 99.5))
    vol = np.round(np.clip((t1 - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    return vol, wm > 0.5 * wm.max(), gm > 0.5 * gm.max()


def _dsb() -> tuple[np.ndarray, np.ndarray]:
    import tifffile

    root = package_dir("stardist") / "data" / "images"
    img = tifffile.imread(root / "img2d.tif").astype(np.float64)
    lo, hi = np.percentile(img, (0.5, 99.8))
    grey = np.round(np.clip((img - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    return grey, tifffile.imread(root / "mask2d.tif")


def find_exclusion(held_out: dict[str, np.ndarray]) -> Exclusion:
    """Locate every held-out image (``name -> imgs`` as in the case files) in the sources."""
    ex = Exclusion(cases=sorted(held_out))
    vol = grey = None
    for name, imgs in held_out.items():
        ex.hashes.add(image_hash(imgs))
        if imgs.ndim == 3 and imgs.shape[-1] != 3:           # a 3D case: its slices against the template's rows
            if vol is None:
                vol = _mni()[0]
            if imgs.shape[1:] == vol.shape[1:]:
                for z in range(imgs.shape[0]):
                    hits = np.nonzero((vol == imgs[z]).all(axis=(1, 2)))[0]
                    for row in hits:
                        ex.mni_rows.update(range(max(0, row - MARGIN), min(vol.shape[0], row + MARGIN + 1)))
            for z in range(imgs.shape[0]):
                ex.hashes.add(image_hash(imgs[z]))
        else:
            g = imgs[..., 0] if imgs.ndim == 3 else imgs
            if grey is None:
                grey = _dsb()[0]
            if g.shape[0] <= grey.shape[0] and g.shape[1] <= grey.shape[1]:
                res = cv2.matchTemplate(grey.astype(np.float32), g.astype(np.float32), cv2.TM_SQDIFF)
                y, x = np.unravel_index(int(np.argmin(res)), res.shape)
                if np.array_equal(grey[y:y + g.shape[0], x:x + g.shape[1]], g):
                    ex.dsb_rects.append((max(0, y - MARGIN), max(0, x - MARGIN),
                                         y + g.shape[0] + MARGIN, x + g.shape[1] + MARGIN))
    return ex


def held_out_report(ex: Exclusion) -> str:
    """One line on what the held-out cases removed."""
    j = ex.to_json()
    rows = f"MNI152 axial rows {j['mni152_axial_rows'][0]}-{j['mni152_axial_rows'][1]} (all axes)" if j["mni152_axial_rows"] else "no MNI152 rows"
    return (f"held out {len(ex.cases)} cases: {rows}, {len(ex.dsb_rects)} DSB2018 rectangles, "
            f"{j['exact_images']} exact images")


def _augment(rng: np.random.Generator, image: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flips, a quarter turn, gamma and contrast; the box seeds follow the geometry."""
    h, w = image.shape[:2]
    boxes = seeds.astype(np.float64).copy()
    if rng.random() < 0.5:
        image = image[:, ::-1]
        boxes[:, [0, 2]] = w - 1 - boxes[:, [2, 0]]
    if rng.random() < 0.5:
        image = image[::-1]
        boxes[:, [1, 3]] = h - 1 - boxes[:, [3, 1]]
    if rng.random() < 0.25:   # a quarter turn counter-clockwise: (x, y) -> (y, w - 1 - x)
        image = np.rot90(image)
        boxes = np.stack([boxes[:, 1], w - 1 - boxes[:, 2], boxes[:, 3], w - 1 - boxes[:, 0]], axis=1)
    gamma = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    scale, shift = rng.uniform(0.8, 1.1), rng.uniform(-10, 10)
    lut = np.clip((np.arange(256) / 255.0) ** gamma * 255 * scale + shift, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(lut[image]), np.round(boxes).astype(np.int64)


def _seeds_from_labels(labels: np.ndarray, min_pixels: int, rng: np.random.Generator, most: int) -> np.ndarray:
    ids, counts = np.unique(labels[labels > 0], return_counts=True)
    ids = ids[counts >= min_pixels]
    rng.shuffle(ids)
    boxes = []
    for k in ids[:most]:
        ys, xs = np.nonzero(labels == k)
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
    return np.array(boxes, np.int64).reshape(-1, 4)


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def _mni_items(rng: np.random.Generator, n: int, ex: Exclusion, boxes: int) -> list[CorpusImage]:
    vol, wm, gm = _mni()
    mid = vol.shape[2] // 2
    labels = np.zeros(vol.shape, np.uint8)
    labels[:, :, :mid][wm[:, :, :mid]] = 1
    labels[:, :, mid:][wm[:, :, mid:]] = 2
    labels[:, :, :mid][gm[:, :, :mid] & (labels[:, :, :mid] == 0)] = 3
    labels[:, :, mid:][gm[:, :, mid:] & (labels[:, :, mid:] == 0)] = 4
    free = np.array([z not in ex.mni_rows for z in range(vol.shape[0])])
    # axial rows outside the held-out bands; for the other axes, contiguous blocks of such rows
    blocks, start = [], None
    for z in range(len(free) + 1):
        if z < len(free) and free[z]:
            start = z if start is None else start
        elif start is not None:
            if z - start >= 48:
                blocks.append((start, z))
            start = None
    axial = [z for z in np.nonzero(free)[0] if (vol[z] > 0).mean() > 0.15]
    out: list[CorpusImage] = []
    while len(out) < n:
        axis = int(rng.integers(3))
        if axis == 0 or not blocks:
            z = int(rng.choice(axial))
            img, lab, tag = vol[z], labels[z], f"mni152 axial {z}"
        else:
            z0, z1 = blocks[int(rng.integers(len(blocks)))]
            index = int(rng.integers(vol.shape[axis] // 4, 3 * vol.shape[axis] // 4))
            img = np.take(vol[z0:z1], index, axis=axis)
            lab = np.take(labels[z0:z1], index, axis=axis)
            tag = f"mni152 {'coronal' if axis == 1 else 'sagittal'} {index} rows {z0}-{z1}"
        if (img > 0).mean() < 0.15:
            continue
        seeds = _seeds_from_labels(lab, 50, rng, boxes)
        if not len(seeds):
            continue
        image, seeds = _augment(rng, _rgb(img), seeds)
        out.append(CorpusImage(image, seeds, tag))
    return out


def _touches(y0: int, x0: int, size: tuple[int, int], rects: list[tuple[int, int, int, int]]) -> bool:
    y1, x1 = y0 + size[0], x0 + size[1]
    return any(y0 < b[2] and b[0] < y1 and x0 < b[3] and b[1] < x1 for b in rects)


def _dsb_items(rng: np.random.Generator, n: int, ex: Exclusion, boxes: int) -> list[CorpusImage]:
    grey, mask = _dsb()
    out: list[CorpusImage] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * max(n, 1):
            raise RuntimeError("DSB2018: the held-out cases leave no room for crops")
        size = (int(rng.integers(96, 321)), int(rng.integers(96, 321)))
        y0, x0 = int(rng.integers(0, grey.shape[0] - size[0] + 1)), int(rng.integers(0, grey.shape[1] - size[1] + 1))
        if _touches(y0, x0, size, ex.dsb_rects):
            continue
        crop, lab = grey[y0:y0 + size[0], x0:x0 + size[1]], mask[y0:y0 + size[0], x0:x0 + size[1]]
        seeds = _seeds_from_labels(lab, 20, rng, boxes)
        if not len(seeds):
            continue
        image, seeds = _augment(rng, _rgb(crop), seeds)
        out.append(CorpusImage(image, seeds, f"dsb2018 crop y{y0} x{x0} {size[0]}x{size[1]}"))
    return out


def _phantom_items(rng: np.random.Generator, n: int, ex: Exclusion, boxes: int, seed: int) -> list[CorpusImage]:
    gens = [(m, g, False) for m, g in phantoms.GENERATORS_2D] + [(m, g, True) for m, g in phantoms.GENERATORS_3D]
    out: list[CorpusImage] = []
    i = 0
    while len(out) < n:
        modality, gen, is3d = gens[i % len(gens)]
        prng = np.random.default_rng([seed, 77, i])   # a seed space the shipped phantom writers never use
        i += 1
        made = gen(prng)
        if image_hash(made[0]) in ex.hashes:
            continue
        if is3d:
            imgs, gts = made[0], made[2]
            z = int(rng.integers(imgs.shape[0]))
            if image_hash(imgs[z]) in ex.hashes:
                continue
            img, lab, tag = _rgb(imgs[z]), gts[z], f"phantom {modality} seed {i - 1} z={z}"
        else:
            img, lab, tag = made[0], made[2], f"phantom {modality} seed {i - 1}"
        seeds = _seeds_from_labels(lab, 20, rng, boxes)
        if not len(seeds):
            continue
        image, seeds = _augment(rng, img, seeds)
        out.append(CorpusImage(image, seeds, tag))
    return out


def draw_images(n: int, exclusion: Exclusion, seed: int = 0, boxes: int = 4,
                shares: dict[str, float] | None = None) -> list[CorpusImage]:
    """``n`` augmented images from every source in ``shares`` (default :data:`SOURCES`), held-out parts removed."""
    shares = shares or SOURCES
    total = sum(shares.values())
    counts = {k: int(round(n * v / total)) for k, v in shares.items()}
    counts[max(counts, key=counts.get)] += n - sum(counts.values())
    out: list[CorpusImage] = []
    for k, (name, count) in enumerate(counts.items()):
        rng = np.random.default_rng([seed, k])
        if name == "mni152":
            out += _mni_items(rng, count, exclusion, boxes)
        elif name == "dsb2018":
            out += _dsb_items(rng, count, exclusion, boxes)
        elif name == "phantoms":
            out += _phantom_items(rng, count, exclusion, boxes, seed)
        else:
            raise ValueError(f"unknown corpus source {name!r}: choose from {', '.join(SOURCES)}")
    order = np.random.default_rng([seed, 99]).permutation(len(out))
    return [out[i] for i in order]


def read_held_out(folder: str | Path | None) -> dict[str, np.ndarray]:
    """The images of every case in ``folder`` (``imgs/`` or the folder itself), for :func:`find_exclusion`."""
    from umedsam.data.npz import find_cases, load_case

    if folder is None:
        return {}
    return {p.name: load_case(p).imgs for p in find_cases(folder)}
