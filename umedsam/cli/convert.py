"""``umedsam convert``: clinical images to challenge ``.npz`` cases, and predicted ``segs`` back.

Forward: ``umedsam convert scan.nii.gz -o cases/ --boxes boxes.json`` writes
``cases/3DBox_MR_scan.npz`` (``imgs``, ``boxes``, ``spacing``) prepared exactly as ``umedsam-predict``
prepares the file (docs/CLINICAL_IO.md); ``--gts DIR`` adds the label map of ``--boxes-from`` as
ground truth. Back: ``umedsam convert out/3DBox_MR_scan.npz -o labels.nii.gz --like scan.nii.gz``
writes its ``segs`` in the geometry of the image it came from (the same orientation options).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import fail, warn
from umedsam.cli.predict_clinical import clinical_options
from umedsam.errors import CaseError, UmedsamError

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def convert(
    source: Path = typer.Argument(..., help="A NIfTI/MHA/NRRD file, DICOM folder or 2D image; or a segs .npz (with --like)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output .npz (name starting 2D/3D) or folder; with --like the label map file."),
    like: Optional[Path] = typer.Option(None, "--like", help="Back: the clinical image the .npz was made from (its geometry)."),
    boxes: Optional[Path] = typer.Option(None, "--boxes", help="Box prompts (JSON/CSV, voxel or world coordinates)."),
    boxes_from: Optional[Path] = typer.Option(None, "--boxes-from", help="One box per label of this label map."),
    gts: Optional[Path] = typer.Option(None, "--gts", help="With --boxes-from: write that label map as the case's ground truth into this folder."),
    box_space: Optional[str] = typer.Option(None, "--box-space", help="voxel | lps | ras; overrides the box file's 'space'."),
    modality: Optional[str] = typer.Option(None, "--modality", help="CT (window) or MR/PET/... (percentiles); default: DICOM tag, else detected."),
    window: Optional[str] = typer.Option(None, "--window", help="CT window 'L,W' or a preset (soft-tissue, lung, bone, brain, ...)."),
    keep_orientation: bool = typer.Option(False, "--keep-orientation", help="Keep the storage order instead of LPS."),
    series: Optional[str] = typer.Option(None, "--series", help="DICOM: the Series Instance UID when a folder holds several."),
) -> None:
    """Convert SOURCE to the challenge format (or a segs .npz back to a label map with --like)."""
    from umedsam.data import clinical

    options = clinical_options(modality, window, keep_orientation, series, box_space)
    try:
        if source.suffix.lower() == ".npz":
            if like is None:
                raise fail(f"{source}: converting a .npz back needs --like IMAGE (the geometry to write into)")
            written = _back(source, like, out, options)
            typer.echo(f"{written}")
            return
        case = clinical.load_clinical(source, options, boxes, boxes_from)
        for w in case.warnings:
            warn(w)
        if out.suffix.lower() == ".npz":
            if not out.name.startswith(case.kind):
                raise fail(f"{out}: field '<name>': a {case.kind} case's name must start with '{case.kind}' "
                           f"(the challenge decides the kind by it), e.g. {clinical.npz_name(case)}")
            target = out
        else:
            target = out / clinical.npz_name(case)
        if gts is not None and case.gts is None:
            raise fail("--gts needs --boxes-from (the label map is the ground truth)")
        if not len(case.boxes):
            warn(f"{source}: no boxes given (--boxes/--boxes-from); the case has none")
        if gts is not None:
            from umedsam.data.npz import save_npz_atomic

            extra = {"spacing": case.spacing} if case.kind == "3D" else {}
            save_npz_atomic(gts / target.name, gts=case.gts, **extra)
        clinical.save_case_npz(case, target)
    except UmedsamError as exc:
        raise fail(str(exc))
    typer.echo(f"{target}  ({case.kind} {'x'.join(map(str, case.imgs.shape))}, {len(case.boxes)} boxes, "
               f"{case.modality}: {case.rule.describe()})")


def _back(source: Path, like: Path, out: Path, options) -> Path:
    """``segs`` of ``source`` written as a label map in the geometry of ``like``."""
    from umedsam.data import clinical
    from umedsam.data.npz import load_segs

    segs = load_segs(source)
    case = clinical.load_clinical(like, options)
    want = case.imgs.shape[:2] if case.kind == "2D" else case.imgs.shape
    if segs.shape != want:
        raise CaseError(source, "segs", f"shape {segs.shape} does not match {like}'s case shape {want} "
                                        f"(same --keep-orientation as the forward conversion?)")
    if out.is_dir() or not out.suffix:
        out = clinical.default_output(case, out)
    return clinical.write_labels(case, segs, out)


if __name__ == "__main__":
    app()
