"""The parity gate: does a candidate engine give the reference engine's masks and scores?

Both engines segment the same cases through the same :class:`Predictor`. Per case it reports

* **mask agreement**: Dice between the candidate's and the reference's mask of every label (both
  empty counts as 1.0: they agree);
* **DSC/NSD against GT** of each engine (when GT is present) and the candidate's delta;
* **tensor statistics** of the first encoder output and the first decoder output of the case (the
  same image and box for both engines), recorded on the way by :class:`RecordingBackend`, so no
  extra inference is spent: max abs, relative L2 and cosine, with a Polygraphy-style check (an
  element fails only when it exceeds both ``atol`` and ``rtol * |reference|``).

Thresholds default per precision class: ``fp32`` is strict (agreement >= 0.999 per label, DSC/NSD
within +-0.001, tensors within 1e-3); ``fp16`` looser; ``int8`` and ``lowrank`` are judged by masks
and DSC/NSD drops only (their tensors are reported, not gated). In 3D, when a label disagrees, the
first slice where the two engines' propagated boxes differ is reported, because box propagation can
amplify one flipped pixel into a different box on every later slice.

A :class:`ReferenceMemo` keeps the reference's outputs per case for every later candidate gated against
the same reference in one process (``umedsam-optimize`` gates each candidate against the same FP32 model
on the same held-out cases; ``umedsam-compress`` gates before and after recovery): the reference
segments each case once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from umedsam.data.npz import load_case, load_gt
from umedsam.errors import UmedsamError
from umedsam.metrics.challenge import dice, score_labels
from umedsam.metrics.parity_report import CaseParity, ParityReport, Tolerances
from umedsam.runtime.backends.base import Backend
from umedsam.runtime.predictor import Predictor


def precision_class(info: dict[str, Any], reference: dict[str, Any] | None = None) -> str:
    """fp32 / fp16 / bf16 / int8 / lowrank from a backend's ``info()`` (int8 and lowrank win over fp32).

    A factorized candidate is ``lowrank`` against anything but the same factorized checkpoint (its
    own export is judged as strictly as any FP32 export). A bf16 bundle is ``bf16`` only where the CPU
    did compute in bf16; elsewhere it ran in f32 from FP16 weights, which is the fp16 class.
    """
    precision = str(info.get("precision", "fp32")).lower()
    if info.get("quantization") or "int8" in precision:
        return "int8"
    comp = info.get("compression")
    if comp:
        ref = (reference or {}).get("compression") or {}
        same = comp.get("checkpoint_sha256") and comp.get("checkpoint_sha256") == ref.get("checkpoint_sha256")
        if not same:
            return "lowrank"
    if precision == "bf16" and str(info.get("inference_precision", "")).lower() == "bf16":
        return "bf16"
    return "fp16" if "16" in precision else "fp32"


def tensor_stats(reference: np.ndarray, candidate: np.ndarray, atol: float | None = None,
                 rtol: float | None = None) -> dict[str, Any]:
    """max abs, mean abs, relative L2, cosine, and the abs-or-rel verdict (None when not gated)."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    cand = np.asarray(candidate, dtype=np.float64).ravel()
    if ref.shape != cand.shape:
        return {"shape_mismatch": [list(np.shape(reference)), list(np.shape(candidate))], "passed": False}
    diff = np.abs(cand - ref)
    norm = float(np.linalg.norm(ref))
    denom = norm * float(np.linalg.norm(cand))
    stats: dict[str, Any] = {
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "mean_abs": float(diff.mean()) if diff.size else 0.0,
        "rel_l2": float(np.linalg.norm(cand - ref) / norm) if norm > 0 else float(np.linalg.norm(cand)),
        "cosine": float(ref @ cand / denom) if denom > 0 else 1.0,
    }
    if atol is not None and rtol is not None:
        bad = (diff > atol) & (diff > rtol * np.abs(ref))
        stats["violations"] = int(bad.sum())
        stats["passed"] = not bool(bad.any())
    else:
        stats["passed"] = None
    return stats


class RecordingBackend(Backend):
    """Delegates to a backend and keeps the first encoder and decoder outputs since ``reset()``."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.path, inner.threads)
        self.inner = inner
        self.name = inner.name
        self.preferred_box_batch = inner.preferred_box_batch
        self.reset()

    def reset(self) -> None:
        self.embedding: np.ndarray | None = None
        self.logits: np.ndarray | None = None
        self.iou: np.ndarray | None = None

    def encode(self, images: np.ndarray) -> np.ndarray:
        out = self.inner.encode(images)
        if self.embedding is None:
            self.embedding = out[:1].copy()
        return out

    def decode(self, embedding: np.ndarray, boxes256: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, iou = self.inner.decode(embedding, boxes256)
        if self.logits is None:  # the first box only: engines may batch boxes differently
            self.logits, self.iou = logits[:1].copy(), iou[:1].copy()
        return logits, iou

    def segment_case(self, kind: str, imgs: np.ndarray, boxes: np.ndarray) -> Any:
        return self.inner.segment_case(kind, imgs, boxes)  # whole-case backends record no tensors

    def info(self) -> dict[str, Any]:
        return self.inner.info()

    def close(self) -> None:
        self.inner.close()


@dataclass
class _ReferenceOutputs:
    seg: Any
    embedding: np.ndarray | None
    logits: np.ndarray | None
    iou: np.ndarray | None
    seconds: float


class ReferenceMemo:
    """The reference engine's result per case, computed once and reused for later candidates.

    Bound to one reference :class:`Predictor`: a reference is deterministic (the strict FP32 gate rests
    on that), so its masks, recorded tensors and time on a case do not change between candidates.
    A case is known by its resolved path, size, inode and modification time, so a case file rewritten
    in between is segmented again. Kept in memory only, for the life of the search that made it.
    """

    def __init__(self, reference: Predictor) -> None:
        self.reference = reference
        self._cases: dict[tuple, _ReferenceOutputs] = {}
        self.hits = 0

    @staticmethod
    def _key(path: Path) -> tuple:
        st = path.stat()
        return str(path.resolve()), st.st_size, st.st_ino, st.st_mtime_ns

    def get(self, path: Path) -> _ReferenceOutputs | None:
        found = self._cases.get(self._key(path))
        self.hits += found is not None
        return found

    def put(self, path: Path, outputs: _ReferenceOutputs) -> None:
        self._cases[self._key(path)] = outputs


def _segment_reference(reference: Predictor, case: Any, path: Path,
                       memo: ReferenceMemo | None) -> tuple[Any, float]:
    """The reference's segmentation of ``case`` and its seconds, from ``memo`` when it holds them."""
    rec = reference.backend
    use_memo = memo is not None and memo.reference is reference
    known = memo.get(path) if use_memo else None
    if known is not None:
        if isinstance(rec, RecordingBackend):
            rec.embedding, rec.logits, rec.iou = known.embedding, known.logits, known.iou
        return known.seg, known.seconds
    if isinstance(rec, RecordingBackend):
        rec.reset()
    start = time.perf_counter()
    seg = reference.segment_case(case.kind, case.imgs, case.boxes)
    seconds = round(time.perf_counter() - start, 4)
    if use_memo:
        tensors = (rec.embedding, rec.logits, rec.iou) if isinstance(rec, RecordingBackend) else (None, None, None)
        memo.put(path, _ReferenceOutputs(seg, *tensors, seconds))
    return seg, seconds


def label_agreement(ref: np.ndarray, cand: np.ndarray, n_labels: int) -> list[float]:
    """Dice between two engines' masks of labels 1..n; both empty counts as agreeing (1.0)."""
    out = []
    for k in range(1, n_labels + 1):
        d = dice(ref == k, cand == k)
        out.append(1.0 if math.isnan(d) else d)
    return out


def boundary_agreement(ref: np.ndarray, cand: np.ndarray, n_labels: int) -> list[float]:
    """Per label: the fraction of both masks' boundaries within one model pixel of the other's.

    Surface Dice between the two engines' masks, at a tolerance of one pixel of the model's 256x256
    output grid (``max(H, W) / 256`` image pixels, at least 1), so it reads the same on a 256-pixel
    nucleus crop and a 1000-pixel photo. Both empty = 1.0, one empty = 0.0.
    """
    from umedsam.metrics.surface import compute_surface_distances, surface_dice_at_tolerance

    ref3, cand3 = (ref[..., None], cand[..., None]) if ref.ndim == 2 else (ref, cand)
    tol = max(1.0, max(ref.shape[-2:]) / 256.0)
    out = []
    for k in range(1, n_labels + 1):
        a, b = ref3 == k, cand3 == k
        if not a.any() and not b.any():
            out.append(1.0)
            continue
        value = surface_dice_at_tolerance(compute_surface_distances(a, b, (1.0, 1.0, 1.0)), tol)
        out.append(0.0 if math.isnan(value) else value)
    return out


def first_divergence(ref_calls: list[dict], cand_calls: list[dict], label: int) -> dict[str, Any] | None:
    """First slice of ``label`` where the two engines decoded different boxes."""
    cand_by_z = {c["z"]: c for c in cand_calls if c["label"] == label}
    for call in ref_calls:
        if call["label"] != label:
            continue
        other = cand_by_z.get(call["z"])
        if other is None or other["box256"] != call["box256"]:
            return {"label": label, "z": call["z"], "ref_box256": call["box256"],
                    "cand_box256": other["box256"] if other else None}
    return None


def _nanmean(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def compare_case(reference: Predictor, candidate: Predictor, path: Path, gts_dir: Path | None,
                 tol: Tolerances, memo: ReferenceMemo | None = None) -> CaseParity:
    """Run both engines on one case and judge it (the reference from ``memo`` when it has the case)."""
    ref_rec, cand_rec = reference.backend, candidate.backend
    try:
        case = load_case(path)
        result = CaseParity(path.name, case.kind, len(case.boxes))
        ref_seg, result.seconds["reference"] = _segment_reference(reference, case, path, memo)
        if isinstance(cand_rec, RecordingBackend):
            cand_rec.reset()
        start = time.perf_counter()
        cand_seg = candidate.segment_case(case.kind, case.imgs, case.boxes)
        result.seconds["candidate"] = round(time.perf_counter() - start, 4)
        result.agreement = label_agreement(ref_seg.labels, cand_seg.labels, len(case.boxes))
        result.pixels_differ = int(np.count_nonzero(ref_seg.labels != cand_seg.labels))
        for k, a in enumerate(result.agreement, start=1):
            if a < tol.min_agreement:
                result.failures.append(f"label {k}: mask agreement {a:.5f} < {tol.min_agreement}")
                if case.kind == "3D":
                    div = first_divergence(ref_seg.calls, cand_seg.calls, k)
                    if div is not None:
                        result.divergence.append(div)
        if tol.min_boundary_agreement > 0:
            result.boundary = boundary_agreement(ref_seg.labels, cand_seg.labels, len(case.boxes))
            if result.mean_boundary < tol.min_boundary_agreement:
                result.failures.append(f"mean boundary agreement {result.mean_boundary:.5f} < {tol.min_boundary_agreement}")
        if isinstance(ref_rec, RecordingBackend) and isinstance(cand_rec, RecordingBackend):
            for key in ("embedding", "logits", "iou"):
                r, c = getattr(ref_rec, key), getattr(cand_rec, key)
                if r is None or c is None or (key == "embedding" and r.shape != c.shape):
                    continue  # no boxes, or a merged graph (its "embedding" is the image)
                stats = tensor_stats(r, c, tol.atol, tol.rtol)
                result.tensors[key] = stats
                if stats["passed"] is False:
                    result.failures.append(f"{key}: {stats.get('violations', '?')} elements beyond "
                                           f"atol {tol.atol} / rtol {tol.rtol} (max |Δ| {stats.get('max_abs', math.nan):.2e})")
        gt_path = gts_dir / path.name if gts_dir is not None else None
        if gt_path is not None and gt_path.is_file():
            gts, spacing = load_gt(gt_path)
            result.ref_dsc, result.ref_nsd = score_labels(case.kind, gts, ref_seg.labels, spacing, case.spacing)
            result.cand_dsc, result.cand_nsd = score_labels(case.kind, gts, cand_seg.labels, spacing, case.spacing)
        return result
    except (UmedsamError, ValueError, TypeError, RuntimeError) as exc:
        return CaseParity(path.name, "?", 0, error=str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))


def run_parity(reference: Predictor, candidate: Predictor, cases: list[Path], gts_dir: Path | None = None,
               tolerances: Tolerances | None = None,
               on_case: Callable[[CaseParity], None] | None = None,
               memo: ReferenceMemo | None = None) -> ParityReport:
    """Judge a candidate against a reference on ``cases``; tolerances default by the candidate's precision.

    ``memo`` (bound to this ``reference``) reuses the reference's result on cases it has seen.
    """
    for p in (reference, candidate):
        if not isinstance(p.backend, RecordingBackend):
            p.backend = RecordingBackend(p.backend)
    cand_info, ref_info = candidate.backend.info(), reference.backend.info()
    precision = precision_class(cand_info, ref_info)
    tol = tolerances or Tolerances.for_precision(precision)
    results = []
    for path in cases:
        result = compare_case(reference, candidate, Path(path), gts_dir, tol, memo)
        results.append(result)
        if on_case is not None:
            on_case(result)
    return summarize_parity(ref_info, cand_info, precision, tol, results)


def summarize_parity(ref_info: dict[str, Any], cand_info: dict[str, Any], precision: str, tol: Tolerances,
                     results: list[CaseParity]) -> ParityReport:
    """The report over per-case results, wherever they were computed (here or on cluster workers)."""
    report = ParityReport(ref_info, cand_info, precision, tol, results)
    ok = [c for c in results if c.error is None]
    report.overall = {
        "cases": len(results), "errors": len(results) - len(ok),
        "min_agreement": min((c.min_agreement for c in ok), default=math.nan),
        "min_case_boundary": min((c.mean_boundary for c in ok if c.boundary), default=math.nan),
        "mean_agreement": _nanmean([a for c in ok for a in c.agreement]),
        "pixels_differ": sum(c.pixels_differ for c in ok),
        "ref_dsc": _nanmean([c.ref_dsc for c in ok]), "cand_dsc": _nanmean([c.cand_dsc for c in ok]),
        "ref_nsd": _nanmean([c.ref_nsd for c in ok]), "cand_nsd": _nanmean([c.cand_nsd for c in ok]),
    }
    o = report.overall
    o["dsc_delta"] = o["cand_dsc"] - o["ref_dsc"]
    o["nsd_delta"] = o["cand_nsd"] - o["ref_nsd"]
    for metric, bound in (("dsc", tol.max_dsc_drop), ("nsd", tol.max_nsd_drop)):
        delta = o[f"{metric}_delta"]
        if math.isnan(delta):
            continue
        if -delta > bound + 1e-12 or (tol.symmetric and delta > bound + 1e-12):
            report.failures.append(f"mean {metric.upper()} vs GT moved by {delta:+.4f} (bound "
                                   f"{'±' if tol.symmetric else '-'}{bound})")
    if not results:
        report.failures.append("no cases")
    return report


def with_overrides(tol: Tolerances, **overrides: Any) -> Tolerances:
    """Tolerances with the given fields replaced (None values are ignored)."""
    return replace(tol, **{k: v for k, v in overrides.items() if v is not None})


def parity_folder(reference: str | Path | None, candidate: str | Path | None, data: str | Path,
                  gts: str | Path | None = None, reference_backend: str | None = None,
                  candidate_backend: str | None = None, threads: int | None = None, slice_batch: int | None = None,
                  precision: str | None = None, overrides: dict[str, Any] | None = None, max_cases: int | None = None,
                  on_case: Callable[[CaseParity], None] | None = None) -> tuple[ParityReport, Path | None]:
    """``umedsam-parity`` in one call: open both engines, judge the candidate on the cases of ``data``.

    The precision class comes from the candidate's manifest unless ``precision`` is given; ``overrides``
    replace single tolerances (None values ignored). Returns the report and the GT folder used.
    """
    from umedsam.data.npz import find_gts, require_cases

    cases = require_cases(data)[:max_cases]
    gts_dir = find_gts(data, gts)
    options = {} if slice_batch is None else {"slice_batch": slice_batch}
    with Predictor(reference, backend=reference_backend, threads=threads, **options) as ref, \
            Predictor(candidate, backend=candidate_backend, threads=threads, **options) as cand:
        cls = precision or precision_class(cand.backend.info(), ref.backend.info())
        tol = with_overrides(Tolerances.for_precision(cls), **(overrides or {}))
        report = run_parity(ref, cand, cases, gts_dir, tol, on_case=on_case)
    report.precision = cls
    return report, gts_dir
