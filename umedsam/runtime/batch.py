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
from umedsam.data.npz import find_cases, load_case, save_segs
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
            from umedsam.runtime.overlay import write_overlay

            write_overlay(overlay_dir / (path.stem + ".png"), case, seg.labels)
        warnings = case.warnings + [f"{path}: {w}" for w in seg.warnings]
        return CaseResult(path.name, time.perf_counter() - start, True, None, warnings, seg)
    except UmedsamError as exc:
        return CaseResult(path.name, time.perf_counter() - start, False, str(exc))


def predict_folder(predictor: Predictor, inputs: str | Path, outputs: str | Path,
                   overlay_dir: str | Path | None = None,
                   on_case: Callable[[CaseResult], None] | None = None, sidecars: bool = True) -> list[CaseResult]:
    """Predict every ``*.npz`` case of ``inputs`` into ``outputs``; write ``efficiency.csv``."""
    out_dir = Path(outputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    overlays = Path(overlay_dir) if overlay_dir is not None else None
    results = []
    for path in find_cases(inputs):
        result = predict_case(predictor, path, out_dir, overlays, sidecars)
        results.append(result)
        if on_case is not None:
            on_case(result)
    lines = ["case,time"] + [f"{r.name},{r.seconds:.4f}" for r in results if r.ok]
    with timeline.span("write efficiency.csv"):
        write_text_atomic(out_dir / "efficiency.csv", "\n".join(lines) + "\n")
    return results
