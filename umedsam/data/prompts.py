"""Box prompts for clinical inputs: JSON or CSV files in voxel or world (mm) coordinates, or one box
per label of a label map.

File formats (docs/CLINICAL_IO.md, "Prompts"):

* JSON: ``[[x0, y0, z0, x1, y1, z1], ...]`` or ``{"space": "voxel", "boxes": [...]}`` where a box is a
  list or ``{"min": [...], "max": [...], "label": k}``; 2D boxes have four numbers ``[x0, y0, x1, y1]``.
* CSV: a header ``x_min,y_min,z_min,x_max,y_max,z_max`` (2D without the z columns), optional
  ``label`` and ``space`` columns.
* ``space``: ``voxel`` (indices into the file as stored, ITK/NIfTI order i, j, k, inclusive; the
  default and the only one for 2D), ``lps`` or ``ras`` (millimetres in the scanner's patient
  coordinates; DICOM/ITK use LPS, NIfTI tools such as nibabel RAS). A world box covers the voxels
  whose centres lie inside it.

Boxes end up in the case's array as the challenge lays them out, ``[x_min, y_min, z_min, x_max, y_max,
z_max]`` with x, y, z the canonical volume's column, row and slice indices. A box wholly outside the
volume, or a world box that misses it, is an error naming the file and the box; one partly outside is
clipped with a warning. Label k of the output is the box's ``label`` (default k, its 1-based position).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from umedsam.errors import CaseError

if TYPE_CHECKING:
    import SimpleITK as sitk

SPACES = ("voxel", "lps", "ras")


@dataclass
class BoxPrompts:
    """Boxes as a file gives them: (N, 2 * dims) ``[mins..., maxs...]`` in ``space``, and their labels."""

    boxes: np.ndarray
    labels: np.ndarray
    space: str
    source: Path
    warnings: list[str] = field(default_factory=list)


def _box_from(item: Any, dims: int, path: Path, k: int) -> tuple[list[float], int | None]:
    where = f"boxes[{k}]"
    if isinstance(item, dict):
        if "min" not in item or "max" not in item:
            raise CaseError(path, where, "a box object needs 'min' and 'max'")
        values, label = list(item["min"]) + list(item["max"]), item.get("label")
    else:
        values, label = item, None
    if not isinstance(values, (list, tuple)) or len(values) != 2 * dims:
        order = "x0, y0, z0, x1, y1, z1" if dims == 3 else "x0, y0, x1, y1"
        raise CaseError(path, where, f"needs {2 * dims} numbers ({order})")
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise CaseError(path, where, f"non-numeric coordinate in {values}") from None
    if not all(math.isfinite(v) for v in out):
        raise CaseError(path, where, "contains NaN or infinity")
    if label is not None and (not isinstance(label, int) or label < 1 or label > 65535):
        raise CaseError(path, where, f"label {label!r} is not an integer in 1..65535")
    return out, label


def _check_space(space: str, dims: int, path: Path, field_name: str = "space") -> str:
    space = space.strip().lower()
    if space == "pixel":
        space = "voxel"
    allowed = SPACES if dims == 3 else ("voxel",)
    if space not in allowed:
        raise CaseError(path, field_name, f"'{space}' is not one of {', '.join(allowed)}")
    return space


def read_boxes(path: str | Path, dims: int, space: str | None = None) -> BoxPrompts:
    """Parse a JSON or CSV box file for a ``dims``-dimensional image (2 or 3)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(path, "<file>", f"unreadable box file ({type(exc).__name__})") from None
    items: list[Any]
    file_space = None
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CaseError(path, "<json>", f"invalid JSON ({exc.msg}, line {exc.lineno})") from None
        if isinstance(doc, dict):
            file_space, items = doc.get("space"), doc.get("boxes")
        else:
            items = doc
        if not isinstance(items, list):
            raise CaseError(path, "boxes", "expected a list of boxes")
    elif path.suffix.lower() == ".csv":
        items, file_space = _csv_items(text, dims, path)
    else:
        raise CaseError(path, "<format>", "box files are .json or .csv")
    chosen = _check_space(space or file_space or "voxel", dims, path)
    boxes, labels = [], []
    for k, item in enumerate(items):
        values, label = _box_from(item, dims, path, k)
        lo, hi = values[:dims], values[dims:]
        if any(a > b for a, b in zip(lo, hi)):
            raise CaseError(path, f"boxes[{k}]", f"min {lo} exceeds max {hi}")
        boxes.append(values)
        labels.append(label if label is not None else k + 1)
    return BoxPrompts(np.array(boxes, np.float64).reshape(-1, 2 * dims), np.array(labels, np.int64), chosen, path)


def _csv_items(text: str, dims: int, path: Path) -> tuple[list[Any], str | None]:
    axes = "xyz"[:dims]
    need = [f"{a}_min" for a in axes] + [f"{a}_max" for a in axes]
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in need if c not in header]
    if missing:
        raise CaseError(path, "<header>", f"missing column(s) {', '.join(missing)}")
    items, spaces = [], set()
    for row in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        item: dict[str, Any] = {"min": [row[c] for c in need[:dims]], "max": [row[c] for c in need[dims:]]}
        if row.get("label"):
            try:
                item["label"] = int(row["label"])
            except ValueError:
                raise CaseError(path, f"boxes[{len(items)}]", f"label {row['label']!r} is not an integer") from None
        if row.get("space"):
            spaces.add(row["space"].lower())
        items.append(item)
    if len(spaces) > 1:
        raise CaseError(path, "space", f"mixed spaces {sorted(spaces)} in one file")
    return items, (spaces.pop() if spaces else None)


def boxes_from_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One tight box per label present (ascending): ``(boxes, label values)``; 2D (N, 4) or 3D (N, 6)."""
    values = np.unique(labels)
    values = values[values > 0]
    dims = labels.ndim
    boxes = np.zeros((len(values), 2 * dims), np.int64)
    for i, v in enumerate(values):
        mask = labels == v
        lo, hi = [], []
        for axis in range(dims):  # array axes are (z,) y, x
            hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(dims) if a != axis)))
            lo.append(int(hits[0]))
            hi.append(int(hits[-1]))
        boxes[i] = lo[::-1] + hi[::-1]  # challenge boxes list x, y (, z)
    return boxes, values.astype(np.int64)


def _clip(box_lo: np.ndarray, box_hi: np.ndarray, size: np.ndarray, path: Path, k: int,
          world: bool) -> tuple[np.ndarray, np.ndarray, str | None]:
    if np.any(box_lo > box_hi) or np.any(box_hi < 0) or np.any(box_lo > size - 1):
        what = "the world box misses the volume" if world else "the box lies outside the volume"
        raise CaseError(path, f"boxes[{k}]", f"{what} (voxel range {box_lo.tolist()}..{box_hi.tolist()}, "
                                             f"volume size {size.tolist()})")
    lo, hi = np.maximum(box_lo, 0), np.minimum(box_hi, size - 1)
    note = None
    if np.any(lo != box_lo) or np.any(hi != box_hi):
        note = f"{path}: field 'boxes[{k}]': extends outside the volume; clipped to it"
    return lo, hi, note


def boxes_to_case_3d(prompts: BoxPrompts, original: "sitk.Image", canonical: "sitk.Image") -> np.ndarray:
    """(N, 6) int64 case boxes on the canonical grid from boxes in voxel (of ``original``) or world space."""
    size = np.array(canonical.GetSize())
    out = np.zeros((len(prompts.boxes), 6), np.int64)
    for k, box in enumerate(prompts.boxes):
        corners = [tuple(float(box[a + 3 * c]) for a, c in enumerate(pick)) for pick in product((0, 1), repeat=3)]
        if prompts.space == "voxel":
            osize = np.array(original.GetSize())
            lo0, hi0, _ = _clip(np.ceil(box[:3] - 1e-6), np.floor(box[3:] + 1e-6), osize, prompts.source, k, False)
            del lo0, hi0  # validated in the file's own grid; mapped below
            points = [original.TransformContinuousIndexToPhysicalPoint(c) for c in corners]
        else:
            sign = np.array([-1.0, -1.0, 1.0]) if prompts.space == "ras" else np.ones(3)
            points = [tuple(np.asarray(c) * sign) for c in corners]
        idx = np.array([canonical.TransformPhysicalPointToContinuousIndex(p) for p in points])
        lo = np.ceil(idx.min(axis=0) - 1e-6).astype(np.int64)
        hi = np.floor(idx.max(axis=0) + 1e-6).astype(np.int64)
        lo, hi, note = _clip(lo, hi, size, prompts.source, k, prompts.space != "voxel")
        if note:
            prompts.warnings.append(note)
        out[k] = np.concatenate([lo, hi])
    return out


def boxes_to_case_2d(prompts: BoxPrompts, height: int, width: int) -> np.ndarray:
    """(N, 4) case boxes for a 2D image (pixel coordinates as given, validated and clipped)."""
    size = np.array([width, height])
    out = np.zeros((len(prompts.boxes), 4), np.int64)
    for k, box in enumerate(prompts.boxes):
        lo, hi, note = _clip(np.ceil(box[:2] - 1e-6), np.floor(box[2:] + 1e-6), size, prompts.source, k, False)
        if note:
            prompts.warnings.append(note)
        out[k] = np.concatenate([lo, hi]).astype(np.int64)
    return out
