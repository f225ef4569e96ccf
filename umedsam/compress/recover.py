"""Stage-local distillation: the first, cheap phase of recovery after factorization.

Every encoder stage that holds factorized layers (patch embedding, the four TinyViT stages, the neck)
is trained to reproduce the *original* stage's output from the *original* stage's input, both cached
once per training image (block reconstruction, as BRECQ does for quantization). A step runs forward
and backward through one stage only - a quarter of the encoder or less - so on 2 cores it makes
several times more updates per minute than end-to-end training, and each stage gets its own direct
signal instead of a gradient diluted through the rest of the network. Only the factorized layers
train; the optimizer is SAM around AdamW, as in the end-to-end phase
(:func:`umedsam.train.trainer.train`) that follows it with the U-MedSAM loss and distillation on masks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from umedsam.compress.layers import encoder_stages, stage_of
from umedsam.train.sam import make_optimizer, optimizer_step
from umedsam.train.trainer import lr_scale, train_mode, select_trainable


@dataclass
class LocalResult:
    steps: int = 0
    seconds: float = 0.0
    stage_error: dict[str, list[float]] = field(default_factory=dict)   # relMSE per stage, first/last window

    def to_json(self) -> dict:
        return {"steps": self.steps, "seconds": self.seconds, "stage_error": self.stage_error}


@torch.no_grad()
def _cache(teacher: nn.Module, images: list[np.ndarray], stages: list[str]) -> dict[str, list[tuple]]:
    cache: dict[str, list[tuple]] = {s: [] for s in stages}
    for image in images:
        h = torch.from_numpy(np.asarray(image, np.float32))[None]
        for name, fn in encoder_stages(teacher.image_encoder):
            out = fn(h)
            if name in cache:
                cache[name].append((h.clone(), out.clone()))
            h = out
    return cache


def train_local(student: nn.Module, teacher: nn.Module, images: list[np.ndarray], factorized: list[str],
                minutes: float, lr: float = 3e-4, rho: float = 0.05, weight_decay: float = 0.01,
                max_steps: int = 100000, seed: int = 0,
                progress: Callable[[str], None] = lambda s: None) -> LocalResult:
    """Train each factorized stage on cached (teacher input, teacher output) pairs; stages take turns."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    enc_names = [n for n in factorized if n.startswith("image_encoder.")]
    stages = [s for s, _ in encoder_stages(student.image_encoder) if any(stage_of(n) == s for n in enc_names)]
    result = LocalResult()
    if not stages or not images or minutes <= 0:
        return result
    start = time.perf_counter()
    cache = _cache(teacher, images, stages)
    progress(f"local: cached teacher inputs/outputs of {len(stages)} stages on {len(images)} images "
             f"({time.perf_counter() - start:.0f} s)")
    fns = dict(encoder_stages(student.image_encoder))
    params = select_trainable(student, "factorized", enc_names)
    opt = make_optimizer([{"params": params}], lr, weight_decay, rho)
    train_mode(student)
    deadline = time.perf_counter() + minutes * 60
    window: dict[str, list[float]] = {s: [] for s in stages}
    total_est = max_steps
    try:
        for step in range(max_steps):
            now = time.perf_counter()
            if now >= deadline:
                break
            if step == 20:   # estimate the number of steps the budget allows, for the schedule
                total_est = min(max_steps, int(step * (deadline - start) / max(now - start, 1e-6)))
            for g in opt.param_groups:
                g["lr"] = lr * lr_scale(step, max(total_est, 21), 5)
            stage = stages[step % len(stages)]
            x, y = cache[stage][int(rng.integers(len(images)))]
            scale = float((y ** 2).mean())
            value = {}

            def closure() -> torch.Tensor:
                opt.zero_grad(set_to_none=True)
                loss = ((fns[stage](x) - y) ** 2).mean() / scale
                loss.backward()
                value["loss"] = float(loss.detach())
                return loss

            optimizer_step(opt, closure)
            window[stage].append(value["loss"])
            result.steps = step + 1
            if result.steps % (10 * len(stages)) == 0:
                progress(f"local step {result.steps} ({time.perf_counter() - start:.0f} s): relMSE " +
                         ", ".join(f"{s} {np.mean(v[-10:]):.4f}" for s, v in window.items() if v))
    finally:
        for p in student.parameters():
            p.requires_grad_(False)
        student.eval()
    result.seconds = round(time.perf_counter() - start, 1)
    result.stage_error = {s: [float(np.mean(v[:5])) if v else math.nan, float(np.mean(v[-5:])) if v else math.nan]
                          for s, v in window.items()}
    return result
