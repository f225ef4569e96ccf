"""How much work a case is, read from its npz headers without loading the image.

One task per case; the driver hands out the heaviest first (longest-processing-time order), each
worker pulling the next case when it finishes one, so a 3D volume with many slices does not end up
last on one worker while the others idle. A 2D case weighs its number of boxes over ten plus one
(one encoder pass, one decoder pass per box); a 3D case weighs the slices its boxes cover
(one encoder pass per slice and decoder passes per box and slice).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np


def _header(z: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], np.dtype] | None:
    if member not in z.namelist():
        return None
    with z.open(member) as f:
        version = np.lib.format.read_magic(f)  # numpy's public header readers (no data is read)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(f)
        return shape, dtype


def case_weight(path: str | Path) -> float:
    """Relative cost of a case (unreadable cases weigh 1: they fail fast on a worker)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            imgs = _header(z, "imgs.npy")
            if imgs is None:
                return 1.0
            if path.name.startswith("3D"):
                boxes = np.load(path, allow_pickle=False)["boxes"].reshape(-1, 6)
                depth = imgs[0][0]
                slices = sum(max(0, min(int(b[5]), depth - 1) - max(int(b[2]), 0) + 1) for b in boxes)
                return float(max(slices, 1))
            boxes = _header(z, "boxes.npy")
            n = boxes[0][0] if boxes is not None and boxes[0] else 0
            return 1.0 + n / 10.0
    except Exception:  # any malformed file: the worker reports it properly
        return 1.0


def heaviest_first(paths: list[Path]) -> list[tuple[Path, float]]:
    """(path, weight) sorted by decreasing weight, ties by name (deterministic order)."""
    weighted = [(p, case_weight(p)) for p in paths]
    return sorted(weighted, key=lambda pw: (-pw[1], pw[0].name))
