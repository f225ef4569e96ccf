"""``umedsam-compress``: tensor-decomposition compression (SVD / Tucker-2) with U-MedSAM recovery.

Writes ``OUT.pth`` (an official-format state dict with factorized layers) and ``OUT.factorized.json``
(the structure sidecar that ``load_checkpoint`` and ``umedsam-export`` read), plus a report of every
factorized layer and, with ``--data``, DSC/NSD before and after recovery against the original model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import exit_on_sigterm, fail, make_app
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def compress(
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Checkpoint to compress or 'builtin' (the default: the built-in weights)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output checkpoint (.pth); the sidecar goes beside it."),
    flops_ratio: Optional[float] = typer.Option(None, "--flops-ratio", help="Target encoder FLOPs, compressed / original (default 0.70 = 30 % fewer)."),
    energy: Optional[float] = typer.Option(None, "--energy", help="Instead of a budget: keep this share of every layer's (whitened) spectral energy, e.g. 0.95."),
    scope: str = typer.Option("encoder", "--scope", help="encoder | decoder | all (which layers may be factorized)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Cases for activation statistics and sensitivities (default: --finetune-data)."),
    finetune_data: Optional[Path] = typer.Option(None, "--finetune-data", help="Cases with GT for the recovery fine-tune (none: no recovery)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Evaluation cases with GT, kept apart from the others: DSC/NSD before/after recovery."),
    minutes: float = typer.Option(20.0, "--minutes", help="Recovery wall-time budget (both phases)."),
    local_share: float = typer.Option(0.75, "--local-share", help="Share of --minutes for stage-local distillation; the rest is end-to-end."),
    steps: int = typer.Option(100000, "--steps", help="Most end-to-end recovery steps."),
    lr: float = typer.Option(1e-5, "--lr", help="End-to-end AdamW learning rate (peak; warm-up, cosine to 10 %)."),
    local_lr: float = typer.Option(2e-5, "--local-lr", help="Stage-local AdamW learning rate."),
    rho: float = typer.Option(0.05, "--rho", help="End-to-end SAM radius (0 = plain AdamW, half the cost per step)."),
    local_rho: float = typer.Option(0.0, "--local-rho", help="Stage-local SAM radius (default plain AdamW: SAM's absolute radius on one stage's factors raised the error)."),
    batch: int = typer.Option(1, "--batch", help="End-to-end images per step (each with up to 4 boxes)."),
    data_aware: bool = typer.Option(True, "--data-aware/--weights-only", help="Whitened SVD from calibration activations, or plain SVD of the weights."),
    sensitivity: bool = typer.Option(True, "--sensitivity/--no-sensitivity", help="Weight the FLOPs budget by measured per-layer sensitivity."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads (default: all cores)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON."),
) -> None:
    """Factorize, recover, save; prints the per-layer and overall report."""
    from umedsam.compress.compress import CompressOptions
    from umedsam.compress.pipeline import CompressJob, run_compress
    from umedsam.compress.report import to_markdown
    from umedsam.train.trainer import TrainOptions

    exit_on_sigterm()
    try:
        opts = CompressOptions.from_flags(flops_ratio, energy, scope, data_aware, sensitivity)
        job = CompressJob(ckpt, out, opts, calib=calib, finetune_data=finetune_data, data=data, threads=threads,
                          recovery=TrainOptions(steps=steps, minutes=minutes, batch=batch, boxes_per_image=4, lr=lr,
                                                rho=rho, trainable="factorized", warmup=5),
                          local_share=local_share, local_lr=local_lr, local_rho=local_rho)
        report = run_compress(job, log=lambda s: typer.echo(f"· {s}", err=True))
    except (UmedsamError, ValueError) as exc:
        raise fail(str(exc))
    typer.echo(to_markdown(report))
    if json_out is not None:
        from umedsam.common import write_json

        write_json(json_out, report.to_json())
    typer.echo(f"\ncheckpoint: {out} (+ {out.with_suffix('.factorized.json').name})")


if __name__ == "__main__":
    app()
