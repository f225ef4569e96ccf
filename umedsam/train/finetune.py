"""``umedsam-finetune``'s job: load, train with the U-MedSAM loss and SAM, checkpoint, evaluate.

Checkpoints are official plain state dicts, written atomically every ``save_every`` steps and at the
end; a factorized (low-rank) input keeps its structure, so its sidecar is written beside every
checkpoint (docs/MODEL.md, "State dict and checkpoints"). With held-out ``data``, the trained model is
judged against the starting one by :func:`umedsam.train.evaluate.evaluate_models`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from umedsam.errors import UmedsamError
from umedsam.model.checkpoint import load_checkpoint, save_checkpoint
from umedsam.model.factorized import read_sidecar
from umedsam.train.data import load_samples
from umedsam.train.evaluate import evaluate_models
from umedsam.train.trainer import TrainOptions, TrainResult, train

TRAINABLE = ("all", "encoder", "decoder")


@dataclass
class FinetuneJob:
    """Everything ``umedsam-finetune`` sets besides the training options."""

    finetune_data: Path
    out: Path
    ckpt: Path | None = None
    data: Path | None = None        # held-out evaluation cases with GT (kept apart from finetune_data)
    save_every: int = 0
    threads: int | None = None


@dataclass
class FinetuneResult:
    """The training record, the checkpoint written, the skipped cases and (with ``data``) the evaluation."""

    train: TrainResult
    checkpoint: Path
    skipped: list[str]
    accuracy: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"train": self.train.to_json(), "checkpoint": str(self.checkpoint)}
        if self.accuracy is not None:
            record["accuracy"] = self.accuracy
        return record


def run_finetune(job: FinetuneJob, opts: TrainOptions, log: Callable[[str], None] = print) -> FinetuneResult:
    """Fine-tune ``job.ckpt`` (None = the built-in weights) on ``job.finetune_data`` and write ``job.out``."""
    import torch

    if opts.trainable not in TRAINABLE:
        raise UmedsamError(f"--trainable {opts.trainable}: choose {', '.join(TRAINABLE)}")
    if job.out.suffix != ".pth":
        raise UmedsamError(f"{job.out}: the output must be a .pth checkpoint")
    if job.threads:
        torch.set_num_threads(job.threads)
    model = load_checkpoint(job.ckpt)
    reference = load_checkpoint(job.ckpt) if job.data is not None else None
    skipped: list[str] = []
    samples = load_samples(job.finetune_data, skipped=skipped)
    for message in skipped:
        log(f"warning: skipped {message}")
    plans = read_sidecar(model.compression["sidecar"])[0] if model.compression else None
    summary = dict(model.compression or {})
    log(f"{len(samples)} training images from {job.finetune_data}; SAM rho {opts.rho} around AdamW lr {opts.lr}")

    def checkpoint(step_model: torch.nn.Module, step: int) -> None:
        save_checkpoint(step_model, job.out, plans, summary)
        log(f"step {step}: wrote {job.out}")

    result = train(model, samples, opts, progress=log, on_step=checkpoint if job.save_every > 0 else None,
                   save_every=job.save_every)
    save_checkpoint(model, job.out, plans, summary)
    accuracy = evaluate_models(reference, model, job.data, job.threads, log) if job.data is not None else None
    return FinetuneResult(result, job.out, skipped, accuracy)
