"""``umedsam-compress`` end to end: factorize → (recover) → save checkpoint + sidecar → report.

Data roles are kept apart (docs/FLAGS.md, "Data roles"): ``calib`` (default: the fine-tuning folder) gives the
activation statistics and sensitivities, ``finetune_data`` the recovery, ``data`` the numbers that
are reported (DSC/NSD of the compressed model vs GT and vs the original, before and after recovery).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from umedsam.assets import resolve_checkpoint, sha256_file
from umedsam.common import speed_ratio
from umedsam.compress.compress import CompressOptions, CompressResult, compress_model
from umedsam.train.evaluate import evaluate_models
from umedsam.errors import UmedsamError
from umedsam.train.trainer import TrainOptions, TrainResult, train


@dataclass
class CompressJob:
    ckpt: Path | None
    out: Path
    options: CompressOptions = field(default_factory=CompressOptions)
    calib: Path | None = None
    finetune_data: Path | None = None
    data: Path | None = None
    recovery: TrainOptions = field(default_factory=lambda: TrainOptions(
        steps=100000, minutes=20.0, batch=1, boxes_per_image=4, lr=1e-5, rho=0.05, trainable="factorized",
        warmup=5))
    local_share: float = 0.75          # of the recovery minutes spent on stage-local distillation
    local_lr: float = 2e-5
    local_rho: float = 0.0             # SAM's absolute radius on one stage's factors at a time raised the error
    calib_samples: int = 32
    threads: int | None = None
    latency_iters: int = 5


@dataclass
class CompressReport:
    result: CompressResult
    source: dict[str, Any]
    latency: dict[str, Any]
    accuracy: dict[str, Any] = field(default_factory=dict)   # "before"/"after" recovery vs GT and original
    recovery: TrainResult | None = None
    local: Any = None                  # LocalResult of the stage-local phase
    out: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, **self.result.to_json(), "latency": self.latency,
                "accuracy": self.accuracy, "recovery": self.recovery.to_json() if self.recovery else None,
                "local_recovery": self.local.to_json() if self.local else None,
                "checkpoint": str(self.out) if self.out else None}


def encoder_latency(models: dict[str, Any], iters: int = 5, warmup: int = 1) -> dict[str, Any]:
    """Encoder p50 of each model on the same input, interleaved (eager PyTorch, this process's threads)."""
    import torch

    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.inference_mode():
        for i in range(warmup + iters):
            for name, model in models.items():
                t = time.perf_counter()
                model.image_encoder(x)
                if i >= warmup:
                    times[name].append(time.perf_counter() - t)
    out = {name: {"p50_ms": float(np.median(v) * 1e3), "min_ms": float(np.min(v) * 1e3), "iters": iters}
           for name, v in times.items()}
    names = list(models)
    if len(names) == 2:
        out["speedup"] = out[names[0]]["p50_ms"] / out[names[1]]["p50_ms"]
    out["backend"] = f"torch {torch.__version__} eager, {torch.get_num_threads()} threads"
    return out


def run_compress(job: CompressJob, log: Callable[[str], None] = print) -> CompressReport:
    """Factorize ``job.ckpt``, optionally recover and evaluate, and write ``job.out`` + its sidecar."""
    import torch

    from umedsam.runtime.calibration import calibration_images
    from umedsam.model import load_checkpoint, save_checkpoint

    if not 0 <= job.local_share <= 1:
        raise UmedsamError(f"--local-share {job.local_share}: must lie in [0, 1]")
    if job.threads:
        torch.set_num_threads(int(job.threads))
    if job.out.suffix != ".pth":
        raise UmedsamError(f"{job.out}: the output must be a .pth checkpoint (its sidecar goes beside it)")
    ckpt = resolve_checkpoint(job.ckpt)
    original = load_checkpoint(ckpt)
    if original.compression:
        raise UmedsamError(f"{ckpt}: already factorized (sidecar {original.compression.get('sidecar')}); "
                           f"compress the original checkpoint")
    calib = job.calib or job.finetune_data
    images = list(calibration_images(calib, max_samples=job.calib_samples, slice_step=4)) if calib else []
    if not images:
        log("no --calib/--finetune-data: data-free SVD of the weights, no sensitivity weighting")
    result = compress_model(original, images, job.options, progress=log)
    s = result.summary
    log(f"factorized {s['factorized_layers']} layers: encoder {s['encoder_gflops_before']:.1f} -> "
        f"{s['encoder_gflops_after']:.1f} GFLOPs ({s['encoder_flops_ratio']:.3f}), params "
        f"{s['params_before'] / 1e6:.2f} -> {s['params_after'] / 1e6:.2f} M")
    model = result.model
    latency = encoder_latency({"original": original, "compressed": model}, job.latency_iters)
    log(f"encoder latency (torch): {latency['original']['p50_ms']:.0f} -> {latency['compressed']['p50_ms']:.0f} ms "
        f"({speed_ratio(latency['speedup'])})")
    source = {"checkpoint": str(ckpt), "sha256": sha256_file(ckpt), "builtin": job.ckpt is None,
              "calibration": str(calib) if calib else None, "finetune_data": str(job.finetune_data or "") or None,
              "eval_data": str(job.data) if job.data else None}
    report = CompressReport(result, source, latency, out=job.out)
    reference = None
    if job.data is not None:
        from umedsam.model.torch_backend import TorchBackend

        from umedsam.metrics.parity import ReferenceMemo
        from umedsam.runtime.predictor import Predictor

        reference = Predictor(TorchBackend.from_model(original, job.threads, "original"))
        memo = ReferenceMemo(reference)  # the original is evaluated once, not before and after recovery
        report.accuracy["before"] = evaluate_models(reference, model, job.data, job.threads, log, memo)
        log(_acc_line("before recovery", report.accuracy["before"]))
    if job.finetune_data is not None and job.recovery.steps > 0 and (job.recovery.minutes or 0) > 0:
        from dataclasses import replace

        from umedsam.compress.recover import train_local
        from umedsam.train.data import load_samples

        skipped: list[str] = []
        samples = load_samples(job.finetune_data, skipped=skipped)
        for message in skipped:
            log(f"skipped: {message}")
        names = [p.name for p in result.plans]
        minutes = float(job.recovery.minutes)
        log(f"recovery: {len(samples)} images from {job.finetune_data}, teacher = the original model, training "
            f"the factorized layers only; {minutes * job.local_share:.1f} min stage-local (AdamW"
            f"{'' if job.local_rho == 0 else f' + SAM rho {job.local_rho}'} lr {job.local_lr}), then "
            f"{minutes * (1 - job.local_share):.1f} min end-to-end (SAM rho {job.recovery.rho} + AdamW lr {job.recovery.lr})")
        report.local = train_local(model, original, [x.image for x in samples], names, minutes * job.local_share,
                                   lr=job.local_lr, rho=job.local_rho, seed=job.recovery.seed,
                                   progress=lambda m: log(f"recovery {m}"))
        report.recovery = train(model, samples, replace(job.recovery, minutes=minutes * (1 - job.local_share)),
                                teacher=original, factorized=names, progress=lambda m: log(f"recovery {m}"))
        if job.data is not None:
            report.accuracy["after"] = evaluate_models(reference, model, job.data, job.threads, log, memo)
            log(_acc_line("after recovery", report.accuracy["after"]))
    summary = {**s, "source_sha256": source["sha256"], "source_checkpoint": source["checkpoint"],
               "recovered": report.recovery is not None,
               "recovery_steps": report.recovery.steps if report.recovery else 0,
               "local_recovery_steps": report.local.steps if report.local else 0,
               "accuracy": {k: {m: v[m] for m in ("ref_dsc", "cand_dsc", "dsc_delta", "ref_nsd", "cand_nsd",
                                                   "nsd_delta", "cases", "data")}
                            for k, v in report.accuracy.items()}}
    save_checkpoint(model, job.out, result.plans, summary)
    return report


def _acc_line(tag: str, a: dict[str, Any]) -> str:
    return (f"{tag}: DSC {a['ref_dsc']:.4f} -> {a['cand_dsc']:.4f} ({a['dsc_delta'] * 100:+.2f} pts), NSD "
            f"{a['ref_nsd']:.4f} -> {a['cand_nsd']:.4f} ({a['nsd_delta'] * 100:+.2f} pts) on {a['cases']} cases")
