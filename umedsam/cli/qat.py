"""``umedsam-qat``: quantization-aware training of the encoder with distillation, to an INT8 OpenVINO bundle.

The FP32 checkpoint teaches its fake-quantized encoder on a distillation corpus drawn from the installed
real images and phantoms (held-out ``--data`` cases kept out), with checkpoints every few minutes and
``--resume``; the bundle is gated against FP32 on ``--data`` with the INT8 tolerances (exit 1 on failure).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import exit_on_sigterm, fail, make_app
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def qat(
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Checkpoint (or 'builtin', the default); a factorized one gives low rank + INT8."),
    data: Path = typer.Option(..., "--data", help="Held-out cases with GT: kept out of the corpus; the gate runs on them."),
    out: Path = typer.Option(..., "-o", "--out", help="Output bundle folder (qat_report.md/.json inside)."),
    work: Optional[Path] = typer.Option(None, "--work", help="Corpus cache and checkpoints (default OUT.work)."),
    minutes: float = typer.Option(25.0, "--minutes", help="Training budget in minutes (a resumed run continues it)."),
    corpus_size: int = typer.Option(256, "--corpus-size", help="Distillation images (teacher outputs cached in WORK)."),
    lr: float = typer.Option(1e-5, "--lr", help="AdamW peak learning rate (warm-up, cosine to 10 %)."),
    mask_weight: float = typer.Option(1.0, "--mask-weight", help="Weight of the mask distillation term against the embedding term."),
    checkpoint_minutes: float = typer.Option(3.0, "--checkpoint-minutes", help="Minutes between checkpoints."),
    eval_minutes: float = typer.Option(4.0, "--eval-minutes", help="Minutes between points of the agreement curve."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present) | cpu | cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue from WORK/qat_state.pt."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads (default: all cores)."),
    seed: int = typer.Option(0, "--seed", help="Corpus and training seed."),
    latency_iters: int = typer.Option(5, "--latency-iters", min=0, help="FP32/INT8 encoder and decoder latency rounds in the report (0: not measured)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
) -> None:
    """Train, export, gate; prints the report and exits 1 when the gate fails."""
    from umedsam.quantize.qat import QatOptions
    from umedsam.quantize.qat_pipeline import QatJob, run_qat, to_markdown

    exit_on_sigterm()
    try:
        opts = QatOptions(minutes=minutes, corpus_size=corpus_size, lr=lr, mask_weight=mask_weight,
                          checkpoint_minutes=checkpoint_minutes, eval_minutes=eval_minutes, device=device,
                          resume=resume, threads=threads, seed=seed, latency_iters=latency_iters)
        report = run_qat(QatJob(ckpt, data, out, work, opts, force), log=lambda s: typer.echo(f"· {s}", err=True))
    except (UmedsamError, ValueError) as exc:
        raise fail(str(exc))
    typer.echo(to_markdown(report))
    typer.echo(f"bundle: {out} ({report.manifest.get('status')})")
    if not report.passed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
