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

from umedsam.cli.common import exit_on_sigterm, fail, warn
from umedsam.errors import UmedsamError

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def finetune(
    finetune_data: Path = typer.Option(..., "--finetune-data", help="Training cases with GT (imgs/ + gts/)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output checkpoint (.pth, official state-dict format)."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Start from this checkpoint (default: the built-in weights)."),
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
    import torch

    from umedsam.model import load_checkpoint, save_checkpoint
    from umedsam.train.data import load_samples
    from umedsam.train.trainer import TrainOptions, train

    if trainable not in ("all", "encoder", "decoder"):
        raise fail(f"--trainable {trainable}: choose all, encoder or decoder")
    if out.suffix != ".pth":
        raise fail(f"{out}: the output must be a .pth checkpoint")
    if threads:
        torch.set_num_threads(threads)
    exit_on_sigterm()
    try:
        model = load_checkpoint(ckpt)
        reference = load_checkpoint(ckpt) if data is not None else None
        skipped: list[str] = []
        samples = load_samples(finetune_data, skipped=skipped)
    except UmedsamError as exc:
        raise fail(str(exc))
    for message in skipped:
        warn(f"skipped {message}")
    plans = None
    if model.compression:
        from umedsam.model.factorized import read_sidecar

        plans, _ = read_sidecar(model.compression["sidecar"])
    summary = dict(model.compression or {})

    def log(message: str) -> None:
        typer.echo(f"· {message}", err=True)

    opts = TrainOptions(steps=steps, minutes=minutes, batch=batch, lr=lr, weight_decay=weight_decay, rho=rho,
                        adaptive=adaptive, jitter=jitter, flips=flips, seed=seed, trainable=trainable)
    log(f"{len(samples)} training images from {finetune_data}; SAM rho {rho} around AdamW lr {lr}")

    def checkpoint(step_model, step: int) -> None:
        save_checkpoint(step_model, out, plans, summary)
        log(f"step {step}: wrote {out}")

    result = train(model, samples, opts, progress=log,
                   on_step=(lambda m, s: checkpoint(m, s)) if save_every > 0 else None, save_every=save_every)
    save_checkpoint(model, out, plans, summary)
    record = {"train": result.to_json(), "checkpoint": str(out)}
    typer.echo(f"trained {result.steps} steps in {result.seconds:.0f} s; learned σ: "
               + ", ".join(f"{k} {v:.3f}" for k, v in result.sigma.items()))
    if data is not None:
        from umedsam.compress.pipeline import evaluate
        from umedsam.compress.report import accuracy_table

        try:
            acc = evaluate(reference, model, data, threads, log)
        except UmedsamError as exc:
            raise fail(str(exc))
        record["accuracy"] = acc
        typer.echo(accuracy_table({"after": acc}).replace("after recovery", "fine-tuned"))
    if json_out is not None:
        from umedsam.common import write_json

        write_json(json_out, record)
    typer.echo(f"checkpoint: {out}")


if __name__ == "__main__":
    app()
