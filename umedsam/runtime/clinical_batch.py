"""Predict clinical inputs (NIfTI, MHA/NRRD, DICOM series, PNG/JPEG/BMP/TIFF) into label maps in the
input's own geometry, one input at a time, as :mod:`umedsam.runtime.batch` does for ``.npz`` cases.

The input is converted in Python (:mod:`umedsam.data.clinical`) and its arrays go to
:meth:`Predictor.segment_case`, so every backend runs it, the native runtime included (it receives
whole cases as arrays). A bad input gives one line naming the file and field; the others still run;
outputs are written atomically. Per input: the label map, a JSON sidecar (conversion, per-box IoU,
timings), optionally a DICOM-SEG for DICOM series inputs, and a line of ``efficiency.csv``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from umedsam.common import write_json, write_text_atomic
from umedsam.data import clinical, volumes
from umedsam.data.npz import Case
from umedsam.errors import UmedsamError
from umedsam.runtime.batch import CaseResult
from umedsam.runtime.predictor import Predictor

PROMPT_SUFFIXES = (".json", ".csv")


def prompt_file(given: Path | None, input_path: Path, suffixes: tuple[str, ...]) -> Path | None:
    """The prompt of one input: ``given`` itself when a file, else ``given/<stem><suffix>`` (first found)."""
    if given is None or not given.is_dir():
        return given
    stem = volumes.strip_suffix(input_path)
    for suffix in suffixes:
        if (given / f"{stem}{suffix}").exists():
            return given / f"{stem}{suffix}"
    return given / f"{stem}{suffixes[0]}"  # missing: the reader reports it as "not found"


def predict_clinical_case(predictor: Predictor, path: Path, out_dir: Path, options: clinical.ClinicalOptions,
                          boxes: Path | None = None, boxes_from: Path | None = None, fmt: str | None = None,
                          sidecar: bool = True, overlay_dir: Path | None = None) -> CaseResult:
    """Convert, segment and write one clinical input; the name in the result is the output file's."""
    start = time.perf_counter()
    try:
        label_suffixes = volumes.LABEL_SUFFIXES + (".png", ".tif", ".tiff", "")
        case = clinical.load_clinical(path, options, prompt_file(boxes, path, PROMPT_SUFFIXES),
                                      prompt_file(boxes_from, path, label_suffixes))
        target = clinical.default_output(case, out_dir, fmt)
        seg = predictor.segment_case(case.kind, case.imgs, case.boxes)
        clinical.write_labels(case, seg.labels, target)
        warnings = list(case.warnings)
        if options.dicom_seg and case.source_files:
            from umedsam.data.dicom_seg import write_dicom_seg

            write_dicom_seg(case, seg.labels, out_dir / f"{case.stem}.seg.dcm")
        elif options.dicom_seg:
            warnings.append(f"{path}: DICOM-SEG is written for DICOM series inputs only; skipped")
        if sidecar:
            info = {"case": target.name, **case.info(), "boxes": case.boxes.tolist(),
                    "labels": case.label_values.tolist(), "scores": seg.scores,
                    "timings_s": {k: round(v, 6) for k, v in seg.timings.items()},
                    "backend": predictor.backend.info()}
            write_json(out_dir / f"{case.stem}.json", info)
        if overlay_dir is not None:
            from umedsam.runtime.overlay import write_overlay

            write_overlay(overlay_dir / f"{case.stem}.png", Case(path, case.kind, case.imgs, case.boxes), seg.labels)
        warnings += [f"{path}: {w}" for w in seg.warnings]
        return CaseResult(target.name, time.perf_counter() - start, True, None, warnings, seg)
    except UmedsamError as exc:
        return CaseResult(path.name, time.perf_counter() - start, False, str(exc))


def predict_clinical(predictor: Predictor, inputs: list[Path], outputs: str | Path,
                     options: clinical.ClinicalOptions, boxes: Path | None = None, boxes_from: Path | None = None,
                     fmt: str | None = None, overlay_dir: str | Path | None = None,
                     on_case: Callable[[CaseResult], None] | None = None, sidecars: bool = True) -> list[CaseResult]:
    """Predict every clinical input into ``outputs``; write ``efficiency.csv`` (``case,time``)."""
    out_dir = Path(outputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    overlays = Path(overlay_dir) if overlay_dir is not None else None
    results = []
    for path in inputs:
        result = predict_clinical_case(predictor, path, out_dir, options, boxes, boxes_from, fmt, sidecars, overlays)
        results.append(result)
        if on_case is not None:
            on_case(result)
    lines = ["case,time"] + [f"{r.name},{r.seconds:.4f}" for r in results if r.ok]
    write_text_atomic(out_dir / "efficiency.csv", "\n".join(lines) + "\n")
    return results
