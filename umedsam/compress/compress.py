"""Factorize a LiteMedSAM model: statistics → rank selection → factorized copy + per-layer report."""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from torch import nn

from umedsam.errors import UmedsamError
from umedsam.compress.factorize import factorize_svd, factorize_tucker2
from umedsam.model.factorized import LayerPlan, get_module, set_module
from umedsam.compress.layers import candidate_layers, collect_stats, encoder_flops, param_count
from umedsam.compress.ranks import (by_budget, by_energy, error_curve, measure_sensitivity, plan_macs)


@dataclass
class CompressOptions:
    """How to factorize: a FLOPs budget or a per-layer energy, the scope, and how ranks are chosen."""

    flops_ratio: float | None = 0.70   # target encoder FLOPs compressed / original (budget mode)
    energy: float | None = None        # per-layer energy threshold instead of a budget
    scope: str = "encoder"
    data_aware: bool = True            # whitened SVD from the calibration inputs' covariance
    sensitivity: bool = True           # weight the budget by measured per-layer sensitivity
    probe_images: int = 2

    @classmethod
    def from_flags(cls, flops_ratio: float | None, energy: float | None, scope: str = "encoder",
                   data_aware: bool = True, sensitivity: bool = True) -> "CompressOptions":
        """The options ``umedsam-compress`` sets, checked: one line naming the flag when one is out of range."""
        if flops_ratio is not None and energy is not None:
            raise UmedsamError("--flops-ratio and --energy are exclusive: give one")
        if flops_ratio is not None and not 0.05 < flops_ratio < 1:
            raise UmedsamError(f"--flops-ratio {flops_ratio}: must lie in (0.05, 1)")
        if energy is not None and not 0 < energy < 1:
            raise UmedsamError(f"--energy {energy}: must lie in (0, 1)")
        if scope not in ("encoder", "decoder", "all"):
            raise UmedsamError(f"--scope {scope}: choose encoder, decoder or all")
        return cls(flops_ratio=0.70 if flops_ratio is None and energy is None else flops_ratio, energy=energy,
                   scope=scope, data_aware=data_aware, sensitivity=sensitivity)


@dataclass
class LayerReport:
    name: str
    kind: str
    shape: tuple[int, int, int]
    ranks: tuple[int, ...]
    params_before: int
    params_after: int
    gmacs_before: float
    gmacs_after: float
    rel_error: float          # of outputs on calibration data (data-aware SVD) or of the weights
    sensitivity: float | None


@dataclass
class CompressResult:
    model: nn.Module
    plans: list[LayerPlan]
    layers: list[LayerReport]
    summary: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"summary": self.summary, "layers": [asdict(r) for r in self.layers]}


def _chain(cov_of: dict[str, np.ndarray | None], scale_of: dict[str, np.ndarray | None]
           ) -> Callable[[nn.Module, LayerPlan], nn.Module]:
    def make(module: nn.Module, plan: LayerPlan) -> nn.Module:
        if plan.kind == "svd":
            return factorize_svd(module, plan.ranks[0], cov_of.get(plan.name), scale_of.get(plan.name))[0]
        return factorize_tucker2(module, *plan.ranks)[0]
    return make


def compress_model(model: nn.Module, calib_images: list[np.ndarray], opts: CompressOptions,
                   progress: Callable[[str], None] = lambda s: None) -> CompressResult:
    """A factorized deep copy of ``model`` (which is left untouched) and what was done to each layer."""
    if getattr(model, "compression", None):
        raise ValueError("this model is already factorized; compress the original checkpoint instead")
    start = time.perf_counter()
    layers = candidate_layers(model, opts.scope)
    data_aware = opts.data_aware and bool(calib_images)
    if calib_images:
        progress(f"statistics of {len(layers)} layers on {len(calib_images)} calibration images")
        collect_stats(model, layers, calib_images, with_cov=data_aware)
    else:
        collect_stats(model, layers, [np.zeros((3, 256, 256), np.float32)], with_cov=False)
    total_flops = encoder_flops(model.image_encoder)
    encoder_layers = [i for i in layers if i.name.startswith("image_encoder.")]
    total_macs = total_flops / 2
    curves = [error_curve(model, info, data_aware) for info in layers]
    cov_of = {info.name: info.cov if data_aware else None for info in layers}
    scale_of = {info.name: info.out_scale for info in layers}
    weights: dict[str, float] = {}
    if opts.sensitivity and calib_images and opts.energy is None:
        weights = measure_sensitivity(model, [c for c in curves if c.info in encoder_layers],
                                      calib_images[: opts.probe_images], _chain(cov_of, scale_of), progress)
    if opts.energy is not None:
        plans = by_energy(curves, opts.energy)
    else:
        enc_curves = [c for c in curves if c.info in encoder_layers]
        plans = by_budget(enc_curves, total_macs, total_macs * float(opts.flops_ratio), weights)
        plans += by_energy([c for c in curves if c.info not in encoder_layers], 0.99)  # decoder scope
    new = copy.deepcopy(model)
    reports = []
    info_of = {i.name: i for i in layers}
    for plan in plans:
        module = get_module(new, plan.name)
        if plan.kind == "svd":
            chain, err = factorize_svd(module, plan.ranks[0], cov_of.get(plan.name), scale_of.get(plan.name))
        else:
            chain, err = factorize_tucker2(module, *plan.ranks)
        set_module(new, plan.name, chain)
        info = info_of[plan.name]
        ratio = sum(p.numel() for n, p in chain.named_parameters() if n.endswith("weight")) / info.params
        reports.append(LayerReport(plan.name, plan.kind, (info.cin, info.cout, info.k), plan.ranks,
                                   param_count(module), param_count(chain), info.macs / 1e9,
                                   info.macs * ratio / 1e9, err, weights.get(plan.name)))
    new.eval()
    flops_after = encoder_flops(new.image_encoder)
    summary = {
        "scope": opts.scope, "mode": "energy" if opts.energy is not None else "flops-budget",
        "energy": opts.energy, "target_flops_ratio": None if opts.energy is not None else opts.flops_ratio,
        "data_aware": data_aware, "sensitivity_weighted": bool(weights),
        "calibration_images": len(calib_images), "factorized_layers": len(plans),
        "encoder_gflops_before": total_flops / 1e9, "encoder_gflops_after": flops_after / 1e9,
        "encoder_flops_ratio": flops_after / total_flops,
        "planned_flops_ratio": plan_macs([c for c in curves if c.info in encoder_layers],
                                         [p for p in plans if p.name.startswith("image_encoder.")],
                                         total_macs) / total_macs,
        "encoder_params_before": param_count(model.image_encoder),
        "encoder_params_after": param_count(new.image_encoder),
        "params_before": param_count(model), "params_after": param_count(new),
        "seconds": round(time.perf_counter() - start, 1),
    }
    new.compression = dict(summary)
    return CompressResult(new, plans, reports, summary)
