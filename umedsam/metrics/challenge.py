"""Per-case DSC and NSD exactly as the challenge's ``compute_metrics.py`` computes them.

* labels ``1..gt.max()``; a label absent from both maps gives NaN (and so a NaN case DSC); a
  predicted label absent from GT but <= gt.max() scores 0; predicted labels above gt.max() are ignored;
* NSD at tolerance 2.0 is computed only when the case DSC > 0.2 (NaN > 0.2 is False), else 0;
* 3D uses the GT file's spacing in array-axis order (D, H, W); 2D gets a trailing singleton axis and
  spacing (1, 1, 1), so the tolerance is 2 pixels and the flat faces count as surface.
"""

from __future__ import annotations

import warnings

import numpy as np

from umedsam.metrics.surface import compute_surface_distances, surface_dice_at_tolerance

NSD_TOLERANCE = 2.0
NSD_MIN_DSC = 0.2


def dice(gt: np.ndarray, pred: np.ndarray) -> float:
    """Dice of two boolean masks; NaN when both are empty."""
    total = int(gt.sum()) + int(pred.sum())
    if total == 0:
        return float("nan")
    return 2.0 * int(np.logical_and(gt, pred).sum()) / total


def _nanmean(values: list[float]) -> float:
    if not values:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.mean(values))


def multi_class_dsc(gt: np.ndarray, seg: np.ndarray) -> float:
    """Mean Dice over labels 1..gt.max()."""
    return _nanmean([dice(gt == i, seg == i) for i in range(1, int(gt.max()) + 1)])


def multi_class_nsd(gt: np.ndarray, seg: np.ndarray, spacing: tuple[float, float, float],
                    tolerance: float = NSD_TOLERANCE) -> float:
    """Mean normalised surface Dice over labels 1..gt.max() (3D arrays)."""
    values = []
    for i in range(1, int(gt.max()) + 1):
        sd = compute_surface_distances(gt == i, seg == i, spacing)
        values.append(surface_dice_at_tolerance(sd, tolerance))
    return _nanmean(values)


def case_metrics(gt: np.ndarray, seg: np.ndarray, spacing: tuple[float, ...] | None = None) -> tuple[float, float]:
    """(DSC, NSD) of one case. ``gt.ndim == 2`` is a 2D case; 3D needs ``spacing``."""
    if gt.shape != seg.shape:
        raise ValueError(f"segs shape {seg.shape} differs from gts shape {gt.shape}")
    if gt.ndim == 2:
        gt, seg, spacing = gt[..., None], seg[..., None], (1.0, 1.0, 1.0)
    elif spacing is None:
        raise ValueError("a 3D case needs the GT spacing")
    dsc = multi_class_dsc(gt, seg)
    nsd = multi_class_nsd(gt, seg, tuple(float(s) for s in spacing)) if dsc > NSD_MIN_DSC else 0.0
    return dsc, nsd


def score_labels(kind: str, gts: np.ndarray, labels: np.ndarray, gt_spacing: object = None,
                 case_spacing: object = None) -> tuple[float, float]:
    """(DSC, NSD) of a predicted label map against loaded GT; 3D takes the GT's spacing, else the case's."""
    if kind == "2D":
        return case_metrics(gts, labels)
    spacing = gt_spacing if gt_spacing is not None else case_spacing
    return case_metrics(gts, labels, None if spacing is None else tuple(np.asarray(spacing, float).tolist()))
