"""``umedsam-finetune``: train LiteMedSAM with the U-MedSAM loss and SAM on challenge npz folders.

The uncertainty-weighted loss (MSE, IoU-MSE, Dice, CE, shape distance; learned σ per term) and
Sharpness-Aware Minimization around AdamW (``umedsam/train/``), box jitter and flips as the LiteMedSAM
training script does. Checkpoints are official plain state dicts (a factorized input keeps its
sidecar), written atomically every ``--save-every`` steps and at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import exit_on_sigterm, fail, make_app, warn
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def finetune(
    finetune_data: Path = typer.Option(..., "--finetune-data", help="Training cases with GT (imgs/ + gts/)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output checkpoint (.pth, official state-dict format)."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Start from this checkpoint or 'builtin' (the default: the built-in weights)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Evaluation cases with GT (kept apart): DSC/NSD before and after."),
    steps: int = typer.Option(200, "--steps", help="Training steps."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Wall-time budget (stops early)."),
    batch: int = typer.Option(4, "--batch", help="(image, box) pairs per step (the baseline's 4)."),
    lr: float = typer.Option(5e-5, "--lr", help="AdamW learning rate (the LiteMedSAM baseline's)."),
    weight_decay: float = typer.Option(0.01, "--weight-decay"),
    rho: float = typer.Option(0.05, "--rho", help="SAM radius (0 = plain AdamW)."),
    adaptive: bool = typer.Option(False, "--adaptive", help="ASAM's scale-invariant perturbation."),
    trainable: str = typer.Option("all", "--trainable", help="all | encoder | decoder (the rest frozen)."),
    jitter: int = typer.Option(5, "--jitter", help="Box jitter, px in 256-space, per side, outward."),
    flips: bool = typer.Option(True, "--flips/--no-flips", help="Random horizontal/vertical flips."),
    save_every: int = typer.Option(0, "--save-every", help="Also write the checkpoint every N steps (0 = only at the end)."),
    seed: int = typer.Option(0, "--seed"),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads (default: all cores)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Loss history and evaluation as JSON."),
) -> None:
    """Fine-tune and write the checkpoint; prints losses, learned σ and (with --data) DSC/NSD."""
    from umedsam.common import write_json
    from umedsam.train.evaluate import accuracy_table
    from umedsam.train.finetune import FinetuneJob, run_finetune
    from umedsam.train.trainer import TrainOptions

    def log(message: str) -> None:
        if message.startswith("warning: "):
            warn(message[len("warning: "):])
        else:
            typer.echo(f"· {message}", err=True)

    exit_on_sigterm()
    opts = TrainOptions(steps=steps, minutes=minutes, batch=batch, lr=lr, weight_decay=weight_decay, rho=rho,
                        adaptive=adaptive, jitter=jitter, flips=flips, seed=seed, trainable=trainable)
    job = FinetuneJob(finetune_data, out, ckpt, data, save_every, threads)
    try:
        result = run_finetune(job, opts, log)
    except UmedsamError as exc:
        raise fail(str(exc))
    t = result.train
    typer.echo(f"trained {t.steps} steps in {t.seconds:.0f} s; learned σ: "
               + ", ".join(f"{k} {v:.3f}" for k, v in t.sigma.items()))
    if result.accuracy is not None:
        typer.echo(accuracy_table({"fine-tuned": result.accuracy}, gate="low-rank class gate"))
    if json_out is not None:
        write_json(json_out, result.to_json())
    typer.echo(f"checkpoint: {out}")


if __name__ == "__main__":
    app()
