"""``umedsam-predict``: segment a folder of challenge cases (or clinical images: NIfTI, DICOM, MHA/NRRD,
PNG/TIFF, see docs/CLINICAL_IO.md) with any engine."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import fail, make_app, progress, warn
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)

# Set by main(): the process ends right after the command, so the engine is not torn down (the
# operating system frees it at exit; about 0.1 s of OpenVINO destructors saved per process).
_EXIT_FAST = False


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
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check the bundle's graph files against the sha256 in its manifest (default on; digests are remembered by file stat)."),
    allow_failed: bool = typer.Option(False, "--allow-failed", help="Run a bundle whose manifest status is 'failed' (refused by default)."),
    resume: bool = typer.Option(False, "--resume", help="Skip cases whose output is already complete and valid (readable segs of the case's shape)."),
    profile: bool = typer.Option(False, "--profile", help="Print the per-stage timeline (process start to exit) on stderr."),
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

    Inputs: challenge cases, 2D*.npz (imgs (H,W,3) uint8 + boxes (N,4)) and 3D*.npz (imgs (D,H,W) uint8 +
    boxes (N,6) + spacing), in INPUTS or INPUTS/imgs; or clinical images (NIfTI .nii/.nii.gz, a DICOM
    series folder, .mha/.nrrd, PNG/JPEG/BMP/TIFF), a file or a folder of them, with --boxes or
    --boxes-from (docs/CLINICAL_IO.md). A folder with no case is an error (exit 1). A malformed case is
    reported in one line and skipped; the exit code is 1 if any case failed.
    """
    entered = time.monotonic()
    from umedsam.data.npz import require_cases
    from umedsam.runtime import timeline
    from umedsam.runtime.batch import predict_folder
    from umedsam.runtime.bundle import refuse_failed
    from umedsam.runtime.predictor import Predictor

    timeline.record("process start -> command (interpreter, typer, CLI imports)", 0.0, timeline.since_start(entered))
    timeline.record("import the runtime (numpy, OpenCV, umedsam.runtime)", timeline.since_start(entered), timeline.now())
    if not allow_failed:
        try:
            refuse_failed(engine)
        except UmedsamError as exc:
            raise fail(str(exc))
    from umedsam.cli import predict_clinical as clinical_cli

    if clinical_cli.is_clinical_input(inputs, boxes, boxes_from):
        if cluster is not None:
            raise fail("--cluster runs challenge .npz cases; convert clinical inputs first (umedsam convert)")
        return clinical_cli.run(inputs, outputs, engine, backend, threads, overlays, sidecars,
                                dict(box_batch=box_batch, slice_batch=slice_batch, max_cache_mb=max_cache_mb),
                                boxes, boxes_from, box_space, modality, window, keep_orientation, series, out_format,
                                dicom_seg)
    if cluster is not None:
        if resume or not verify:
            raise fail("--resume and --no-verify are not supported with --cluster")
        return _predict_on_cluster(inputs, outputs, engine, backend, threads, cluster, workers, overlays, sidecars,
                                   dict(box_batch=box_batch, slice_batch=slice_batch, max_cache_mb=max_cache_mb))
    try:
        n = len(require_cases(inputs))
        with timeline.span("open the engine (backend import, stages compiled or imported)"):
            predictor = Predictor(engine, backend=backend, threads=threads, box_batch=box_batch,
                                  slice_batch=slice_batch, max_cache_mb=max_cache_mb, verify=verify)
    except UmedsamError as exc:
        raise fail(str(exc))
    failed: list[str] = []
    with (contextlib.nullcontext(predictor) if _EXIT_FAST else predictor), progress("predict", n) as advance:
        try:
            results = predict_folder(predictor, inputs, outputs, overlays, _reporter(advance, failed), sidecars, resume)
        except UmedsamError as exc:  # efficiency.csv could not be written (a full disk): the cases are reported
            raise fail(str(exc))
        closing = timeline.now()
    timeline.record("close the engine", closing, timeline.now())
    done = sum(r.ok and not r.skipped for r in results)
    skipped = sum(r.skipped for r in results)
    typer.echo(f"{done}/{len(results)} cases written to {outputs} "
               f"({sum(r.seconds for r in results if r.ok and not r.skipped):.1f}s total"
               + (f"; {skipped} already complete)" if skipped else ")"))
    if profile:
        typer.echo(timeline.profile_report(results), err=True)
    if failed:
        raise typer.Exit(1)


def _reporter(advance, failed: list[str]):
    """Per-case callback of both paths: warnings and one error line as they come, then the progress bar."""
    def on_case(result) -> None:
        if getattr(result, "skipped", False):
            advance(f"{result.name} skipped (output complete)")
            return
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
    from umedsam.data.npz import require_cases

    if overlays is not None:
        raise fail("--overlays is not supported with --cluster (predict the cases of interest locally)")
    options = ClusterOptions(address, workers, threads or 1)
    failed: list[str] = []
    try:
        n = len(require_cases(inputs))
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


def skip_openvino_converter() -> None:
    """Keep ``import openvino`` from importing its model converter, ``openvino.tools.ovc``.

    ``openvino/__init__.py`` imports ``openvino.tools.ovc`` (and through it telemetry, ``ssl`` and
    ``urllib``) inside ``try/except ImportError``, only to offer ``openvino.convert_model``. That is
    0.11 s of the 0.22 s ``import openvino`` costs on a 2-vCPU Xeon, paid by every challenge case,
    while predicting never converts a model (IR and ONNX graphs are read by ``Core.read_model``). A
    ``None`` entry in ``sys.modules`` makes that import raise ImportError, which OpenVINO's own
    ``except`` absorbs (docs/TARGETS.md, "Start-up"). Only the ``umedsam-predict`` process does this,
    and only when OpenVINO is not imported yet; everything that exports runs in other commands.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino.tools.ovc", None)  # type: ignore[arg-type]


def main() -> None:
    """Console entry point (``umedsam-predict``, ``python -m umedsam.cli.predict``): run the command,
    flush, and end the process with ``os._exit``: every output is already written atomically, and the
    interpreter's teardown (module and engine destructors) is time the challenge counts per case.

    A plain command line is parsed from the command's own option declarations
    (:mod:`umedsam.cli.fast_args`) and calls the command directly: Typer's per-parameter pydantic
    adapters cost 0.05–0.12 s per case. Anything else (``--help``, errors) goes through Typer."""
    global _EXIT_FAST
    _EXIT_FAST = True
    skip_openvino_converter()
    from umedsam.cli.fast_args import parse

    code: int | str | None = 0
    try:
        kwargs = parse(predict, sys.argv[1:])
        if kwargs is None:
            app()
        else:
            predict(**kwargs)
    except SystemExit as exc:
        code = exc.code
    except typer.Exit as exc:  # raised by the command itself when called directly
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130  # as Typer exits on Ctrl-C
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
