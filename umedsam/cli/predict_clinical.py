"""The clinical-input path of ``umedsam-predict``: NIfTI/MHA/NRRD files, DICOM series folders and 2D
images in, label maps in the input's geometry out (docs/CLINICAL_IO.md).

Kept beside :mod:`umedsam.cli.predict` so the ``.npz`` path there stays as it is; ``predict`` hands
over when :func:`is_clinical_input` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import fail, progress
from umedsam.errors import UmedsamError


def is_clinical_input(inputs: Path, boxes: Optional[Path], boxes_from: Optional[Path]) -> bool:
    """A single non-npz file, a DICOM folder, a folder without ``.npz`` cases, or prompts given."""
    if boxes is not None or boxes_from is not None:
        return True
    if inputs.is_file():
        return inputs.suffix.lower() != ".npz"
    if not inputs.is_dir():
        return False
    from umedsam.data.npz import find_cases

    if find_cases(inputs):
        return False
    from umedsam.data.clinical import find_clinical

    return bool(find_clinical(inputs))


def clinical_options(modality: Optional[str], window: Optional[str], keep_orientation: bool,
                     series: Optional[str], box_space: Optional[str], dicom_seg: bool = False):
    """:class:`~umedsam.data.clinical.ClinicalOptions` from the command-line options (one-line errors)."""
    from umedsam.data.clinical import ClinicalOptions
    from umedsam.data.intensity import parse_window

    try:
        parsed = parse_window(window) if window is not None else None
    except ValueError as exc:
        raise fail(f"--window: {exc}")
    if window is not None and modality is None:
        modality = "CT"  # a window only makes sense for CT
    return ClinicalOptions(modality=modality, window=parsed, keep_orientation=keep_orientation, series=series,
                           box_space=box_space, dicom_seg=dicom_seg)


def run(inputs: Path, outputs: Path, engine: Optional[str], backend: Optional[str], threads: Optional[int],
        overlays: Optional[Path], sidecars: bool, predictor_kwargs: dict, boxes: Optional[Path],
        boxes_from: Optional[Path], box_space: Optional[str], modality: Optional[str], window: Optional[str],
        keep_orientation: bool, series: Optional[str], out_format: Optional[str],
        dicom_seg: bool = False) -> None:
    """Predict one clinical input or a folder of them; exit 1 when any failed."""
    from umedsam.cli.predict import _reporter
    from umedsam.data.clinical import find_clinical
    from umedsam.runtime.clinical_batch import predict_clinical
    from umedsam.runtime.predictor import Predictor

    options = clinical_options(modality, window, keep_orientation, series, box_space, dicom_seg)
    if out_format is not None and not out_format.startswith("."):
        out_format = "." + out_format
    try:
        if inputs.is_file():
            files = [inputs]
        elif inputs.is_dir():
            files = find_clinical(inputs)
        else:
            raise fail(f"{inputs}: field '<file>': not found")
        predictor = Predictor(engine, backend=backend, threads=threads, **predictor_kwargs)
    except UmedsamError as exc:
        raise fail(str(exc))
    failed: list[str] = []
    with predictor, progress("predict", len(files)) as advance:
        results = predict_clinical(predictor, files, outputs, options, boxes, boxes_from, out_format, overlays,
                                   _reporter(advance, failed), sidecars)
    done = sum(r.ok for r in results)
    typer.echo(f"{done}/{len(results)} inputs written to {outputs} "
               f"({sum(r.seconds for r in results if r.ok):.1f}s total)")
    if failed:
        raise typer.Exit(1)
