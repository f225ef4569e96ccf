"""Accuracy-aware INT8: rank blocks by sensitivity, keep the most sensitive in float until validation holds.

**Sensitivity** of a block (a TinyViT block, a downsample, a decoder layer, a head; see
:func:`umedsam.quantize.presets.block_of`): quantize *only that block* and measure how far the
stage output moves from FP32 on validation inputs: ``1 - cosine`` of the embedding for encoder
blocks; for decoder blocks ``1 - Dice`` of the thresholded masks, because the logits' cosine is
dominated by large values far from the boundary while the mask depends on the sign near it (a block
with logit cosine 0.99996 still moved masks visibly). One-at-a-time isolates each block's own error.

**Fallback**: the real criterion is the DSC/NSD drop on a validation set with ground truth (kept
apart from the cases the final numbers are reported on). With the top-``k`` blocks in float,
``k`` grows 0, 1, 2, 4, ... until the drop is within bounds, then bisects back to the smallest
passing ``k``. This assumes the drop shrinks as more blocks stay float - true of the ranking by
construction, not guaranteed, so every evaluated step is reported.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from umedsam.data.npz import find_cases, find_gts, load_case, load_gt
from umedsam.errors import UmedsamError
from umedsam.metrics.challenge import score_labels


def cosine_error(reference: list[np.ndarray], candidate: list[np.ndarray]) -> float:
    """Mean ``1 - cosine`` over paired outputs."""
    errs = []
    for r, c in zip(reference, candidate):
        r, c = np.asarray(r, np.float64).ravel(), np.asarray(c, np.float64).ravel()
        denom = np.linalg.norm(r) * np.linalg.norm(c)
        errs.append(1.0 - (float(r @ c) / denom if denom > 0 else 1.0))
    return float(np.mean(errs)) if errs else 0.0


def mask_error(reference: list[np.ndarray], candidate: list[np.ndarray]) -> float:
    """Mean ``1 - Dice`` of the masks ``logits > 0`` over paired decoder outputs (both empty = agree)."""
    errs = []
    for r, c in zip(reference, candidate):
        a, b = np.asarray(r) > 0, np.asarray(c) > 0
        total = int(a.sum()) + int(b.sum())
        errs.append(0.0 if total == 0 else 1.0 - 2.0 * int((a & b).sum()) / total)
    return float(np.mean(errs)) if errs else 0.0


@dataclass
class Validator:
    """Mean DSC/NSD of an engine on validation cases vs GT, and its mask agreement with FP32.

    The FP32 reference is scored once (:meth:`set_reference`), keeping its labels: a candidate must
    not only keep the mean scores (a *gain* on a few cases can hide changed masks) but also agree
    with FP32's masks label by label, as the parity gate demands.
    """

    cases: list[Path]
    gts: Path
    reference: tuple[float, float] = (math.nan, math.nan)
    reference_labels: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: Path, max_cases: int | None = None) -> "Validator":
        cases = find_cases(folder)[:max_cases]
        gts = find_gts(folder)
        if not cases or gts is None:
            raise UmedsamError(f"{folder}: validation needs cases with ground truth (imgs/ + gts/)")
        return cls(cases, gts)

    def score_cases(self, predictor, cases: list[Path] | None = None) -> list[tuple[float, float, np.ndarray]]:
        """(DSC, NSD, labels) of each case (default: all validation cases), scored against its GT."""
        out = []
        for path in self.cases if cases is None else cases:
            case = load_case(path)
            seg = predictor.segment_case(case.kind, case.imgs, case.boxes)
            gts, spacing = load_gt(self.gts / Path(path).name)
            out.append((*score_labels(case.kind, gts, seg.labels, spacing, case.spacing), seg.labels))
        return out

    def _run(self, predictor) -> tuple[float, float, dict[str, np.ndarray]]:
        scores = self.score_cases(predictor)
        return (float(np.nanmean([d for d, _, _ in scores])), float(np.nanmean([n for _, n, _ in scores])),
                {path.name: labels for path, (_, _, labels) in zip(self.cases, scores)})

    def set_reference(self, predictor) -> tuple[float, float]:
        dsc, nsd, self.reference_labels = self._run(predictor)
        self.reference = (dsc, nsd)
        return self.reference

    def drops(self, predictor) -> tuple[float, float, float, float]:
        """(DSC drop, NSD drop, min per-label Dice agreement, min per-case boundary agreement) against FP32.

        Drops are fractions, positive = worse; the agreements are the parity gate's
        (:func:`umedsam.metrics.parity.label_agreement`, :func:`~umedsam.metrics.parity.boundary_agreement`).
        """
        from umedsam.metrics.parity import boundary_agreement, label_agreement

        dsc, nsd, labels = self._run(predictor)
        dice_min, boundary = 1.0, 1.0
        for path in self.cases:
            ref, cand = self.reference_labels[path.name], labels[path.name]
            n = int(max(ref.max(), cand.max(), 1))
            dice_min = min(dice_min, min(label_agreement(ref, cand, n)))
            boundary = min(boundary, float(np.mean(boundary_agreement(ref, cand, n))))
        return self.reference[0] - dsc, self.reference[1] - nsd, dice_min, boundary


@dataclass
class SearchStep:
    float_blocks: list[str]
    dsc_drop: float
    nsd_drop: float
    min_agreement: float
    min_boundary: float
    passed: bool
    seconds: float


@dataclass
class SearchResult:
    ranking: list[tuple[str, float]]                  # (block, sensitivity), most sensitive first
    steps: list[SearchStep] = field(default_factory=list)
    float_blocks: list[str] = field(default_factory=list)
    passed: bool = False

    def to_json(self) -> dict:
        return {"ranking": [{"block": b, "sensitivity": s} for b, s in self.ranking],
                "steps": [asdict(s) for s in self.steps], "float_blocks": self.float_blocks, "passed": self.passed}


def rank_blocks(blocks: list[str], sensitivity: Callable[[str], float],
                progress: Callable[[str], None] = lambda s: None) -> list[tuple[str, float]]:
    """Blocks sorted by ``sensitivity(block)`` (quantize that block alone), most sensitive first."""
    scored = []
    for i, block in enumerate(blocks, start=1):
        s = sensitivity(block)
        progress(f"sensitivity {i}/{len(blocks)} {block}: {s:.2e}")
        scored.append((block, s))
    return sorted(scored, key=lambda bs: -bs[1])


def fallback_search(ranking: list[tuple[str, float]],
                    evaluate: Callable[[list[str]], tuple[float, float, float, float]],
                    max_dsc_drop: float, max_nsd_drop: float, min_agreement: float = 0.0,
                    min_boundary: float = 0.0, max_evals: int = 8,
                    progress: Callable[[str], None] = lambda s: None) -> SearchResult:
    """Smallest ``k`` such that the top-``k`` blocks in float keep both drops and the agreement within bounds.

    ``evaluate(float_blocks)`` returns what :meth:`Validator.drops` does: (DSC drop, NSD drop, min
    per-label Dice agreement, min per-case boundary agreement) against FP32.
    """
    result = SearchResult(ranking)
    order = [b for b, _ in ranking]
    cache: dict[int, SearchStep] = {}

    def run(k: int) -> bool:
        if k not in cache:
            start = time.perf_counter()
            dsc, nsd, agree, boundary = evaluate(order[:k])
            checks = [(dsc > max_dsc_drop + 1e-12, f"DSC drop {dsc * 100:.2f} > {max_dsc_drop * 100:.2f} points"),
                      (nsd > max_nsd_drop + 1e-12, f"NSD drop {nsd * 100:.2f} > {max_nsd_drop * 100:.2f} points"),
                      (agree < min_agreement, f"min label Dice {agree:.4f} < {min_agreement}"),
                      (boundary < min_boundary, f"min case boundary {boundary:.4f} < {min_boundary}")]
            failed = [text for bad, text in checks if bad]
            ok = not failed
            cache[k] = SearchStep(order[:k], dsc, nsd, agree, boundary, ok, round(time.perf_counter() - start, 1))
            result.steps.append(cache[k])
            progress(f"{k} block(s) in float: DSC drop {dsc * 100:+.2f}, NSD drop {nsd * 100:+.2f} points (negative = "
                     f"better than FP32), min label Dice {agree:.4f}, min case boundary {boundary:.4f} -> "
                     + ("within bounds" if ok else "fails: " + "; ".join(failed)))
        return cache[k].passed

    lo, k = -1, 0  # lo: largest k known to fail
    while len(cache) < max_evals:
        if run(k):
            break
        lo = k
        if k >= len(order):
            return result  # even all blocks in float does not hold
        k = min(len(order), max(1, 2 * k))
    else:
        return result
    hi = k
    while hi - lo > 1 and len(cache) < max_evals:
        mid = (lo + hi) // 2
        if run(mid):
            hi = mid
        else:
            lo = mid
    result.float_blocks = order[:hi]
    result.passed = True
    return result
