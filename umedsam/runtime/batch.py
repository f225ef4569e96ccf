"""Predict a folder of challenge cases: per-case isolation, atomic outputs, timing like the reference.

Each case is read, validated, segmented and written on its own: a malformed case is reported as one
line naming the file and field, and the other cases still run. ``efficiency.csv`` (``case,time``)
records wall seconds per case including npz I/O, as the reference script does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from umedsam.common import write_json, write_text_atomic
from umedsam.data.npz import find_cases, load_case, load_gt, output_problem, save_segs
from umedsam.errors import UmedsamError
from umedsam.runtime import timeline
from umedsam.runtime.predictor import Predictor
from umedsam.runtime.result import Segmentation


@dataclass
class CaseResult:
    """What happened to one case."""

    name: str
    seconds: float
    ok: bool
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    segmentation: Segmentation | None = None
    skipped: bool = False  # --resume: the output was already complete and valid


def predict_case(predictor: Predictor, path: Path, out_dir: Path,
                 overlay_dir: Path | None = None, sidecar: bool = True) -> CaseResult:
    """Segment one case file and write ``segs`` (+ per-box scores JSON unless ``sidecar`` is off, + overlay PNG)."""
    start = time.perf_counter()
    try:
        with timeline.span("read case"):
            case = load_case(path)
        with timeline.span(f"segment {case.kind} ({len(case.boxes)} box(es))"):
            seg = predictor.segment_case(case.kind, case.imgs, case.boxes)
        with timeline.span("write segs"):
            save_segs(out_dir / path.name, seg.labels)
        if sidecar:
            info = {"case": path.name, "kind": case.kind, "boxes": seg.scores,
                    "timings_s": {k: round(v, 6) for k, v in seg.timings.items()},
                    "backend": predictor.backend.info()}
            write_json(out_dir / (path.stem + ".json"), info)
        if overlay_dir is not None:
            from umedsam.runtime.overlay import gt_beside, write_overlay

            gt_path = gt_beside(path)
            gt = None
            if gt_path is not None:
                try:
                    gt = load_gt(gt_path)[0]
                except UmedsamError:
                    gt = None  # an unreadable GT only loses its outline; the prediction is written
            write_overlay(overlay_dir / (path.stem + ".png"), case, seg.labels, gt)
        warnings = case.warnings + [f"{path}: {w}" for w in seg.warnings]
        return CaseResult(path.name, time.perf_counter() - start, True, None, warnings, seg)
    except UmedsamError as exc:
        return CaseResult(path.name, time.perf_counter() - start, False, str(exc))
    except OSError as exc:  # a full disk, a quota, a vanished folder: this case fails, the others still run
        target = Path(exc.filename) if exc.filename else out_dir / path.name
        return CaseResult(path.name, time.perf_counter() - start, False,
                          f"{target}: cannot write ({exc.strerror or exc})")


def predict_folder(predictor: Predictor, inputs: str | Path, outputs: str | Path,
                   overlay_dir: str | Path | None = None,
                   on_case: Callable[[CaseResult], None] | None = None, sidecars: bool = True,
                   resume: bool = False) -> list[CaseResult]:
    """Predict every ``*.npz`` case of ``inputs`` into ``outputs``; write ``efficiency.csv``.

    ``resume`` skips the cases whose output is already complete and valid
    (:func:`~umedsam.data.npz.output_problem`), keeping their rows of the previous ``efficiency.csv``:
    a run killed part-way is finished by running it again.
    """
    out_dir = Path(outputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    overlays = Path(overlay_dir) if overlay_dir is not None else None
    before = _previous_times(out_dir / "efficiency.csv") if resume else {}
    results: list[CaseResult] = []
    for path in find_cases(inputs):
        if resume and output_problem(path, out_dir / path.name) is None:
            result = CaseResult(path.name, before.get(path.name, 0.0), True, skipped=True)
            results.append(result)
            if on_case is not None:
                on_case(result)
            continue
        result = predict_case(predictor, path, out_dir, overlays, sidecars)
        results.append(result)
        if result.ok:  # kept current, so a run killed part-way leaves the times --resume keeps
            _write_efficiency(out_dir, results, before, strict=False)
        if on_case is not None:
            on_case(result)
    with timeline.span("write efficiency.csv"):
        _write_efficiency(out_dir, results, before, strict=True)
    return results


def _write_efficiency(out_dir: Path, results: list[CaseResult], before: dict[str, float], strict: bool) -> None:
    """``efficiency.csv`` (atomically); a failure is an error at the end of the run, ignored before it."""
    lines = ["case,time"] + [f"{r.name},{r.seconds:.4f}" for r in results
                             if r.ok and (not r.skipped or r.name in before)]
    try:
        write_text_atomic(out_dir / "efficiency.csv", "\n".join(lines) + "\n")
    except OSError as exc:
        if strict:
            raise UmedsamError(f"{out_dir / 'efficiency.csv'}: cannot write ({exc.strerror or exc})") from None


def _previous_times(csv: Path) -> dict[str, float]:
    """case -> seconds of an earlier run's ``efficiency.csv`` (empty when absent or unreadable)."""
    times: dict[str, float] = {}
    try:
        lines = csv.read_text(encoding="utf-8").splitlines()[1:]
    except (OSError, UnicodeDecodeError):
        return times
    for line in lines:
        name, _, value = line.rpartition(",")
        try:
            times[name] = float(value)
        except ValueError:
            continue
    return times
