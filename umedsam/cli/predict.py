"""``umedsam-predict``: segment a folder of challenge cases (or clinical images: NIfTI, DICOM, MHA/NRRD,
PNG/TIFF, see docs/CLINICAL_IO.md) with any engine."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import fail, progress, warn
from umedsam.errors import UmedsamError

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def predict(
    inputs: Path = typer.Option(..., "-i", "--inputs", help="Folder of input cases (an imgs/ folder or its root)."),
    outputs: Path = typer.Option(..., "-o", "--outputs", help="Output folder for segs npz, JSON sidecars, efficiency.csv."),
    engine: Optional[str] = typer.Option(None, "--engine", help="Checkpoint .pth or exported engine; default: built-in LiteMedSAM."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Override the backend chosen from the format table."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads of the backend (default: all cores)."),
    overlays: Optional[Path] = typer.Option(None, "--overlays", help="Write PNG overlays (image, boxes, masks) here."),
    box_batch: Optional[int] = typer.Option(None, "--box-batch", help="Boxes per decoder call (default: the backend's; 1 on CPU)."),
    slice_batch: int = typer.Option(1, "--slice-batch", help="3D slices per encoder call."),
    max_cache_mb: float = typer.Option(1024, "--max-cache-mb", help="Bound of the 3D slice-embedding cache (MiB)."),
    sidecars: bool = typer.Option(True, "--sidecars/--no-sidecars", help="Write a JSON sidecar (per-box IoU, timings) per case."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="Run on Ray: 'local' (start a lean local cluster) or an existing cluster's address; needs umedsam[cluster]."),
    workers: Optional[int] = typer.Option(None, "--workers", help="With --cluster: worker processes (default: cores // threads)."),
    boxes: Optional[Path] = typer.Option(None, "--boxes", help="Clinical inputs: box prompts, a JSON/CSV file (or a folder of <stem>.json/.csv); docs/CLINICAL_IO.md."),
    boxes_from: Optional[Path] = typer.Option(None, "--boxes-from", help="Clinical inputs: one box per label of this label map (or a folder of them, same names)."),
    box_space: Optional[str] = typer.Option(None, "--box-space", help="voxel | lps | ras (mm); overrides the box file's own 'space'."),
    modality: Optional[str] = typer.Option(None, "--modality", help="CT (window) or MR/PET/... (percentiles); default: the DICOM tag, else detected."),
    window: Optional[str] = typer.Option(None, "--window", help="CT window 'L,W' or a preset (soft-tissue, lung, bone, brain, ...); default 40,400."),
    keep_orientation: bool = typer.Option(False, "--keep-orientation", help="Feed the volume in its storage order (as the organisers did) instead of LPS."),
    series: Optional[str] = typer.Option(None, "--series", help="DICOM: the Series Instance UID when a folder holds several."),
    out_format: Optional[str] = typer.Option(None, "--format", help="Label map format for volumes: .nii.gz, .nii, .mha, .nrrd (default: the input's)."),
    dicom_seg: bool = typer.Option(False, "--dicom-seg", help="DICOM series inputs: also write <stem>.seg.dcm (DICOM-SEG, highdicom)."),
) -> None:
    """Segment every case in INPUTS into OUTPUTS (label k = box k, uint16), as the challenge expects.

    A malformed case is reported in one line and skipped; the exit code is 1 if any case failed.
    """
    from umedsam.data.npz import find_cases
    from umedsam.runtime.batch import predict_folder
    from umedsam.runtime.predictor import Predictor

    from umedsam.cli import predict_clinical as clinical_cli

    if clinical_cli.is_clinical_input(inputs, boxes, boxes_from):
        if cluster is not None:
            raise fail("--cluster runs challenge .npz cases; convert clinical inputs first (umedsam convert)")
        return clinical_cli.run(inputs, outputs, engine, backend, threads, overlays, sidecars,
                                dict(box_batch=box_batch, slice_batch=slice_batch, max_cache_mb=max_cache_mb),
                                boxes, boxes_from, box_space, modality, window, keep_orientation, series, out_format,
                                dicom_seg)
    if cluster is not None:
        return _predict_on_cluster(inputs, outputs, engine, backend, threads, cluster, workers, overlays, sidecars,
                                   dict(box_batch=box_batch, slice_batch=slice_batch, max_cache_mb=max_cache_mb))
    try:
        n = len(find_cases(inputs))
        predictor = Predictor(engine, backend=backend, threads=threads, box_batch=box_batch,
                              slice_batch=slice_batch, max_cache_mb=max_cache_mb)
    except UmedsamError as exc:
        raise fail(str(exc))
    failed: list[str] = []
    with predictor, progress("predict", n) as advance:
        results = predict_folder(predictor, inputs, outputs, overlays, _reporter(advance, failed), sidecars)
    done = sum(r.ok for r in results)
    typer.echo(f"{done}/{len(results)} cases written to {outputs} "
               f"({sum(r.seconds for r in results if r.ok):.1f}s total)")
    if failed:
        raise typer.Exit(1)


def _reporter(advance, failed: list[str]):
    """Per-case callback of both paths: warnings and one error line as they come, then the progress bar."""
    def on_case(result) -> None:
        for w in result.warnings:
            warn(w)
        if not result.ok:
            failed.append(result.name)
            fail(result.error)
        advance(f"{result.name} {result.seconds:.2f}s")

    return on_case


def _predict_on_cluster(inputs: Path, outputs: Path, engine: Optional[str], backend: Optional[str],
                        threads: Optional[int], address: str, workers: Optional[int], overlays: Optional[Path],
                        sidecars: bool, predictor_kwargs: dict) -> None:
    """The same outputs through Ray workers (umedsam/cluster); one thread per worker unless --threads."""
    from umedsam.cluster.predict import predict_distributed
    from umedsam.cluster.runner import ClusterOptions
    from umedsam.data.npz import find_cases

    if overlays is not None:
        raise fail("--overlays is not supported with --cluster (predict the cases of interest locally)")
    options = ClusterOptions(address, workers, threads or 1)
    failed: list[str] = []
    try:
        n = len(find_cases(inputs))
        with progress("predict", n) as advance:
            results, report = predict_distributed(engine, inputs, outputs, options, backend, predictor_kwargs,
                                                  sidecars, _reporter(advance, failed))
    except UmedsamError as exc:
        raise fail(str(exc))
    done = sum(r.ok for r in results)
    typer.echo(f"{done}/{len(results)} cases written to {outputs} on {report['workers']} workers x "
               f"{report['threads_per_worker']} threads ({report['address']}; start-up {report['startup_s']:.1f}s, "
               f"wall {report['wall_s']:.1f}s; {outputs / 'cluster.json'})")
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
