"""Evaluate a folder of predictions against ground truth, as the challenge does, plus summaries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umedsam.data.npz import case_kind, load_gt, load_segs
from umedsam.errors import CaseError, UmedsamError
from umedsam.metrics.challenge import score_labels


@dataclass
class CaseScore:
    case: str
    modality: str
    dsc: float
    nsd: float
    error: str | None = None


def modality_of(name: str) -> str:
    """``2DBox_Dermoscopy_0001.npz`` -> ``Dermoscopy``; the prefix and index are dropped."""
    parts = Path(name).stem.split("_")
    return parts[1] if len(parts) >= 2 else "unknown"


def evaluate_case(seg_path: Path, gt_path: Path) -> CaseScore:
    """DSC/NSD of one prediction file against its GT file."""
    name = gt_path.name
    try:
        kind = case_kind(gt_path)
        gts, spacing = load_gt(gt_path)
        if not seg_path.is_file():
            raise CaseError(seg_path, "<file>", "prediction missing")
        segs = load_segs(seg_path)
        if segs.shape != gts.shape:
            raise CaseError(seg_path, "segs", f"shape {segs.shape} differs from gts {gts.shape}")
        if kind == "3D" and spacing is None:
            raise CaseError(gt_path, "spacing", "missing (needed for 3D NSD)")
        dsc, nsd = score_labels(kind, gts, segs, spacing)
        return CaseScore(name, modality_of(name), dsc, nsd)
    except UmedsamError as exc:
        return CaseScore(name, modality_of(name), float("nan"), float("nan"), str(exc))


def evaluate_folder(segs_dir: str | Path, gts_dir: str | Path) -> list[CaseScore]:
    """Score every GT case (sorted); a missing or malformed prediction is an error row."""
    gts_dir = Path(gts_dir)
    if not gts_dir.is_dir():
        raise CaseError(gts_dir, "<folder>", "GT folder not found")
    return [evaluate_case(Path(segs_dir) / p.name, p) for p in sorted(gts_dir.glob("*.npz"))]


def fmt4(x: float) -> str:
    """Round to 4 decimals as the challenge's CSV does (NaN stays 'nan')."""
    return "nan" if math.isnan(x) else f"{round(x, 4):.4f}"


def to_csv(scores: list[CaseScore]) -> str:
    lines = ["case,dsc,nsd"] + [f"{s.case},{fmt4(s.dsc)},{fmt4(s.nsd)}" for s in scores if s.error is None]
    return "\n".join(lines) + "\n"


def summarize(scores: list[CaseScore]) -> list[tuple[str, int, float, float]]:
    """(modality, n, mean DSC, mean NSD) per modality and overall; NaN cases are left out of means."""
    groups: dict[str, list[CaseScore]] = {}
    for s in scores:
        if s.error is None:
            groups.setdefault(s.modality, []).append(s)
    rows = []
    for mod in sorted(groups) + (["overall"] if groups else []):
        items = [s for g in groups.values() for s in g] if mod == "overall" else groups[mod]
        d = [s.dsc for s in items if not math.isnan(s.dsc)]
        n = [s.nsd for s in items if not math.isnan(s.nsd)]
        rows.append((mod, len(items), float(np.mean(d)) if d else float("nan"),
                     float(np.mean(n)) if n else float("nan")))
    return rows
