"""``umedsam-parity``: the parity gate between a candidate engine and a reference (exit code for CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.common import write_json
from umedsam.cli.common import fail, make_app, progress
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def parity(
    candidate: str = typer.Option(..., "--candidate", help="Engine under test (bundle folder, .onnx, .xml, .plan, .pth)."),
    data: Path = typer.Option(..., "--data", help="Challenge cases: an imgs/ folder or a root holding imgs/ (+ gts/)."),
    reference: str = typer.Option("builtin", "--reference", help="Reference engine; default: built-in weights on PyTorch."),
    gts: Optional[Path] = typer.Option(None, "--gts", help="Ground truth folder (default: gts/ beside imgs/)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON here."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads of both backends."),
    reference_backend: Optional[str] = typer.Option(None, "--reference-backend", help="Override the reference's backend."),
    candidate_backend: Optional[str] = typer.Option(None, "--candidate-backend", help="Override the candidate's backend."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Threshold class: fp32|fp16|int8|lowrank (default: from the candidate)."),
    min_agreement: Optional[float] = typer.Option(None, "--min-agreement", help="Least per-label Dice(candidate, reference)."),
    min_boundary: Optional[float] = typer.Option(None, "--min-boundary", help="Least per-case boundary agreement (mask boundary within 1 model pixel); int8/lowrank default 0.95."),
    max_dsc_drop: Optional[float] = typer.Option(None, "--max-dsc-drop", help="Largest mean DSC drop vs GT, in points (0.5 = 0.005)."),
    max_nsd_drop: Optional[float] = typer.Option(None, "--max-nsd-drop", help="Largest mean NSD drop vs GT, in points."),
    atol: Optional[float] = typer.Option(None, "--atol", help="Tensor absolute tolerance (with --rtol: abs-or-rel)."),
    rtol: Optional[float] = typer.Option(None, "--rtol", help="Tensor relative tolerance."),
    max_cases: Optional[int] = typer.Option(None, "--max-cases", help="Only the first N cases (sorted)."),
    slice_batch: int = typer.Option(1, "--slice-batch", help="3D slices per encoder call (both engines)."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="Run on Ray: 'local' or an existing cluster's address (umedsam[cluster])."),
    workers: Optional[int] = typer.Option(None, "--workers", help="With --cluster: worker processes, each holding both engines."),
) -> None:
    """Run REFERENCE and CANDIDATE on the same cases; print per-case agreement, DSC/NSD and tensor stats.

    Exits 1 when any threshold fails. Thresholds default by the candidate's precision: fp32 strict
    (agreement >= 0.999 per label, DSC/NSD within ±0.001, tensors within 1e-3), fp16 looser,
    int8/low-rank judged by masks and DSC/NSD drops.
    """
    from umedsam.data.npz import find_gts, require_cases
    from umedsam.metrics.parity import Tolerances, with_overrides

    points = {k: v / 100.0 for k, v in (("max_dsc_drop", max_dsc_drop), ("max_nsd_drop", max_nsd_drop)) if v is not None}

    def tolerances(cls: str) -> Tolerances:
        return with_overrides(Tolerances.for_precision(cls), min_agreement=min_agreement,
                              min_boundary_agreement=min_boundary, atol=atol, rtol=rtol, **points)

    if cluster is not None:
        from umedsam.cluster.parity import parity_distributed
        from umedsam.cluster.runner import ClusterOptions

        try:
            cases = require_cases(data)[:max_cases]
            gts_dir = find_gts(data, gts)
            with progress("parity", len(cases)) as advance:
                report, cluster_info = parity_distributed(
                    reference, candidate, cases, gts_dir, ClusterOptions(cluster, workers, threads or 1),
                    reference_backend, candidate_backend, precision, tolerances, dict(slice_batch=slice_batch),
                    on_case=lambda c: advance(f"{c.case} agree {c.min_agreement:.4f}"))
        except UmedsamError as exc:
            raise fail(str(exc))
        _print_report(report, gts_dir, json_out, {k: v for k, v in cluster_info.items() if k != "per_case"})
        if json_out is not None:
            write_json(json_out.with_name(json_out.stem + ".cluster.json"), cluster_info)
        if not report.passed:
            raise typer.Exit(1)
        return
    from umedsam.metrics.parity import parity_folder

    overrides = dict(min_agreement=min_agreement, min_boundary_agreement=min_boundary, atol=atol, rtol=rtol, **points)
    try:
        with progress("parity", len(require_cases(data)[:max_cases])) as advance:
            report, gts_dir = parity_folder(reference, candidate, data, gts, reference_backend, candidate_backend,
                                            threads, slice_batch, precision, overrides, max_cases,
                                            on_case=lambda c: advance(f"{c.case} agree {c.min_agreement:.4f}"))
    except UmedsamError as exc:
        raise fail(str(exc))
    _print_report(report, gts_dir, json_out)
    if not report.passed:
        raise typer.Exit(1)


def _print_report(report, gts_dir, json_out: Optional[Path], cluster: Optional[dict] = None) -> None:
    if cluster is not None:
        typer.echo(f"cluster: {cluster['workers']} workers x {cluster['threads_per_worker']} threads "
                   f"({cluster['address']}), start-up {cluster['startup_s']:.1f}s, wall {cluster['wall_s']:.1f}s")
    typer.echo(f"reference: {report.reference.get('backend')} {report.reference.get('engine')}\n"
               f"candidate: {report.candidate.get('backend')} {report.candidate.get('engine')} "
               f"({report.candidate.get('precision')})\n"
               f"GT: {gts_dir if gts_dir else 'none (agreement and tensors only)'}\n")
    typer.echo(report.to_markdown())
    if json_out is not None:
        data = report.to_json()
        if cluster is not None:
            data["cluster"] = cluster
        write_json(json_out, data)


if __name__ == "__main__":
    app()
