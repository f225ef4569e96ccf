"""The training loop shared by ``umedsam-finetune`` and compression recovery.

Per step: a batch of images (random flips), each with up to ``boxes_per_image`` of its objects and
jittered boxes; the student's encoder and decoder give
low-res logits and the IoU prediction; the loss is

    gt_weight · UMedSAMLoss(logits, iou, GT, φ_GT)
  + embedding_weight · ‖E_s − E_t‖² / ‖E_t‖²         (teacher's image embedding, cached per image+flip)
  + mask_weight · BCE(logits_s, σ(logits_t))           (teacher's masks for the same box)

where the teacher terms exist only when a teacher is given (recovery distils from the uncompressed
model). The optimizer is SAM around AdamW (``rho=0`` gives plain AdamW, one pass per step). BatchNorm
layers stay in eval mode: with batches of 1-4 their statistics would drift; their affine parameters
still train when selected. Training stops at ``steps`` or after ``minutes``, whichever comes first.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from umedsam.train.data import Batch, Sample, draw_batch
from umedsam.train.loss import TERMS, UMedSAMLoss
from umedsam.train.sam import make_optimizer, optimizer_step

TRAINABLE = ("factorized", "encoder", "decoder", "all")


@dataclass
class TrainOptions:
    steps: int = 200
    minutes: float | None = None
    batch: int = 2                   # images per step
    boxes_per_image: int = 4         # objects decoded per image (one encoder pass serves them all)
    lr: float = 5e-5                 # the LiteMedSAM baseline's AdamW rate
    weight_decay: float = 0.01
    rho: float = 0.05                # SAM radius; 0 = plain AdamW
    adaptive: bool = False
    jitter: int = 5
    flips: bool = True
    seed: int = 0
    trainable: str = "all"
    terms: tuple[str, ...] = TERMS
    gt_weight: float = 1.0
    embedding_weight: float = 1.0
    mask_weight: float = 1.0
    warmup: int = 10                 # linear warm-up steps, then cosine decay to 10 % over ``steps``
    log_every: int = 10


@dataclass
class TrainResult:
    steps: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    sigma: dict[str, float] = field(default_factory=dict)
    trainable_params: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def select_trainable(model: nn.Module, which: str, factorized: list[str] | None = None) -> list[nn.Parameter]:
    """Freeze everything, then unfreeze ``which``: factorized layers, encoder, decoder or all."""
    if which not in TRAINABLE:
        raise ValueError(f"trainable must be one of {TRAINABLE}")
    for p in model.parameters():
        p.requires_grad_(False)
    if which == "factorized":
        prefixes = tuple(f"{n}." for n in factorized or [])
        if not prefixes:
            raise ValueError("no factorized layers to train")
    else:
        prefixes = {"encoder": ("image_encoder.",), "decoder": ("mask_decoder.", "prompt_encoder."),
                    "all": ("",)}[which]
    chosen = [p for n, p in model.named_parameters() if n.startswith(prefixes)]
    for p in chosen:
        p.requires_grad_(True)
    return chosen


def train_mode(model: nn.Module) -> None:
    """Training mode with every BatchNorm kept in eval: fine-tuning batches are tiny, their statistics would drift."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def lr_scale(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine from 1 down to 0.1 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(total - warmup, 1)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


class _Teacher:
    """A frozen model whose embeddings are cached per (sample, flip); masks come from the cache."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.cache: dict[tuple[int, int], torch.Tensor] = {}

    @torch.no_grad()
    def embeddings(self, batch: Batch) -> torch.Tensor:
        missing = [i for i, k in enumerate(batch.keys) if k not in self.cache]
        if missing:
            emb = self.model.image_encoder(torch.from_numpy(batch.images[missing]))
            for j, i in enumerate(missing):
                self.cache[batch.keys[i]] = emb[j:j + 1].clone()
        return torch.cat([self.cache[k] for k in batch.keys])

    @torch.no_grad()
    def logits(self, embeddings: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(embeddings, boxes)[0]


def train(model: nn.Module, samples: list[Sample], opts: TrainOptions, teacher: nn.Module | None = None,
          factorized: list[str] | None = None,
          progress: Callable[[str], None] = lambda s: None,
          on_step: Callable[[nn.Module, int], None] | None = None, save_every: int = 0) -> TrainResult:
    """Train ``model`` in place; returns the loss history. The model is left in eval mode.

    ``on_step(model, step)`` runs every ``save_every`` steps with the model in eval mode (checkpoints).
    """
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    params = select_trainable(model, opts.trainable, factorized)
    loss_fn = UMedSAMLoss(opts.terms)
    groups = [{"params": params}] + loss_fn.param_groups()
    optimizer = make_optimizer(groups, opts.lr, opts.weight_decay, opts.rho, opts.adaptive)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    tutor = _Teacher(teacher) if teacher is not None else None
    result = TrainResult(trainable_params=sum(p.numel() for p in params))
    train_mode(model)
    start = time.perf_counter()
    deadline = start + opts.minutes * 60 if opts.minutes else math.inf
    running: dict[str, float] = {}
    try:
        for step in range(opts.steps):
            if time.perf_counter() >= deadline:
                break
            for g, base in zip(optimizer.param_groups, base_lrs):
                g["lr"] = base * lr_scale(step, opts.steps, opts.warmup)
            batch = draw_batch(samples, rng, opts.batch, opts.jitter, opts.flips, opts.boxes_per_image)
            images, boxes = torch.from_numpy(batch.images), torch.from_numpy(batch.boxes)
            masks, sdfs = torch.from_numpy(batch.masks), torch.from_numpy(batch.sdfs)
            owner = torch.from_numpy(batch.owner)
            t_emb = t_logits = None
            if tutor is not None:
                t_emb = tutor.embeddings(batch)
                t_logits = tutor.logits(t_emb[owner], boxes)
            parts: dict[str, float] = {}

            def closure() -> torch.Tensor:
                optimizer.zero_grad(set_to_none=True)
                emb = model.image_encoder(images)
                logits, iou = model.decode(emb[owner], boxes)
                total, values = loss_fn(logits, iou, masks, sdfs)
                total = opts.gt_weight * total
                parts.update(values)
                if t_emb is not None:
                    e = ((emb - t_emb) ** 2).mean() / (t_emb ** 2).mean()
                    k = F.binary_cross_entropy_with_logits(logits, torch.sigmoid(t_logits))
                    total = total + opts.embedding_weight * e + opts.mask_weight * k
                    parts.update(embedding=float(e.detach()), mask_kd=float(k.detach()))
                total.backward()
                parts["total"] = float(total.detach())
                return total

            optimizer_step(optimizer, closure)
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + v
            result.steps = step + 1
            if on_step is not None and save_every > 0 and result.steps % save_every == 0:
                model.eval()
                on_step(model, result.steps)
                train_mode(model)
            if result.steps % opts.log_every == 0 or result.steps == opts.steps \
                    or time.perf_counter() >= deadline:
                n = opts.log_every if result.steps % opts.log_every == 0 else result.steps % opts.log_every
                entry = {"step": result.steps, "seconds": round(time.perf_counter() - start, 1),
                         **{k: v / n for k, v in running.items()}}
                result.history.append(entry)
                running = {}
                budget = (f"step {result.steps} ({entry['seconds']:.0f} s of a {opts.minutes:g}-minute budget)"
                          if opts.minutes else f"step {result.steps}/{opts.steps} ({entry['seconds']:.0f} s)")
                progress(f"{budget}: " +
                         ", ".join(f"{k} {v:.4f}" for k, v in entry.items() if k not in ("step", "seconds")))
    finally:
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()
    result.seconds = round(time.perf_counter() - start, 1)
    result.sigma = {t: float(s) for t, s in zip(loss_fn.terms, loss_fn.sigma.detach())}
    return result
