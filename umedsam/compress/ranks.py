"""Rank selection: by energy, by a global FLOPs budget, weighted by measured per-layer sensitivity.

Every choice rests on one number per (layer, rank): the layer's **relative output error**
``e(r)`` - from the singular values of the (whitened, if calibration statistics exist) weight, so
``e(r)² = Σ_{i>r} σᵢ² / Σ σᵢ²`` is exactly the share of the layer's output energy on the calibration
data that the truncation loses. For Tucker-2 the two mode spectra give the usual HOSVD bound.

* **energy E**: each layer independently keeps the smallest rank with ``1 - e(r)² ≥ E``; a layer stays
  dense when that rank would not make it cheaper.
* **budget** (``flops_ratio``): choose ranks for all layers at once to reach the target encoder FLOPs
  with the least total weighted error ``Σ w_l · e_l(r_l)²``. Solved by Lagrangian relaxation: for a
  price λ every layer independently picks ``argmin_r w_l e_l(r)² + λ · MACs_l(r)`` (dense is an
  option), and λ is bisected until the budget holds. Ranks are multiples of 8 (SIMD-friendly).
* **sensitivity** ``w_l``: how much the *embedding* moves per unit of the layer's own output error,
  measured by truncating that layer alone to a probe rank on calibration images
  (``w_l = relMSE(embedding) / e_l(r_probe)²``). Without it, ``w_l = 1``: every layer's relative
  error counts the same, which over-cuts layers whose errors the network amplifies.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from umedsam.compress.factorize import factor_cost, svd_spectrum, tucker2_mode_spectra
from umedsam.model.factorized import LayerPlan
from umedsam.compress.layers import LayerInfo, encoder_stages, stage_of

RANK_STEP = 8


@dataclass
class Curve:
    """Candidate ranks of one layer with their cost ratio (vs dense) and squared relative error."""

    info: LayerInfo
    ranks: list[tuple[int, ...]]
    cost: np.ndarray
    err2: np.ndarray

    def error2(self, ranks: tuple[int, ...]) -> float:
        return float(self.err2[self.ranks.index(ranks)])


def _tail_energy(s: np.ndarray) -> np.ndarray:
    """tail[r] = Σ_{i≥r} σᵢ² / Σ σᵢ² for r = 0..len(s)."""
    e = s.astype(np.float64) ** 2
    total = max(float(e.sum()), 1e-30)
    return np.concatenate([np.cumsum(e[::-1])[::-1], [0.0]]) / total


def error_curve(model: nn.Module, info: LayerInfo, data_aware: bool = True) -> Curve:
    """Cost and error of every candidate rank that makes the layer cheaper than dense."""
    module = model.get_submodule(info.name)
    ranks, cost, err2 = [], [], []
    if info.kind == "svd":
        tail = _tail_energy(svd_spectrum(module, info.cov if data_aware else None, info.out_scale))
        for r in range(RANK_STEP, info.max_rank, RANK_STEP):
            c = factor_cost(module, (r,))
            if c < 1.0:
                ranks.append((r,)), cost.append(c), err2.append(tail[r])
    else:
        s_out, s_in = tucker2_mode_spectra(module)
        t_out, t_in = _tail_energy(s_out), _tail_energy(s_in)
        for r in range(RANK_STEP, info.max_rank, RANK_STEP):
            r_out, r_in = min(r, info.cout), min(r, info.cin)
            c = factor_cost(module, (r_out, r_in))
            if c < 1.0:
                ranks.append((r_out, r_in)), cost.append(c), err2.append(t_out[r_out] + t_in[r_in])
    return Curve(info, ranks, np.asarray(cost), np.asarray(err2))


def by_energy(curves: list[Curve], energy: float) -> list[LayerPlan]:
    """Smallest rank per layer keeping ``energy`` of it; layers where that is not cheaper stay dense."""
    plans = []
    for c in curves:
        ok = [i for i in range(len(c.ranks)) if 1.0 - c.err2[i] >= energy]
        if ok:
            plans.append(LayerPlan(c.info.name, c.info.kind, c.ranks[ok[0]]))
    return plans


def by_budget(curves: list[Curve], total_macs: float, target_macs: float,
              weights: dict[str, float] | None = None) -> list[LayerPlan]:
    """Ranks meeting ``target_macs`` (whole encoder) with the least ``Σ w e²`` (Lagrangian bisection)."""
    weights = weights or {}
    dense_macs = sum(c.info.macs for c in curves)
    fixed = total_macs - dense_macs                   # what factorization cannot change

    def choose(lam: float) -> tuple[float, list[int | None]]:
        macs, picks = fixed, []
        for c in curves:
            w = weights.get(c.info.name, 1.0)
            best, best_val, best_macs = None, lam * c.info.macs, c.info.macs   # dense: no error
            for i in range(len(c.ranks)):
                val = w * c.err2[i] + lam * c.info.macs * c.cost[i]
                if val < best_val:
                    best, best_val, best_macs = i, val, c.info.macs * c.cost[i]
            macs += best_macs
            picks.append(best)
        return macs, picks

    lo, hi = 0.0, 1e-12
    macs, picks = choose(hi)
    while macs > target_macs and hi < 1e12:
        lo, hi = hi, hi * 4
        macs, picks = choose(hi)
    if macs > target_macs:
        raise ValueError(f"a FLOPs ratio of {target_macs / total_macs:.2f} is not reachable by factorizing "
                         f"these layers (at most {(fixed + sum(c.info.macs * c.cost.min() for c in curves if len(c.cost))) / total_macs:.2f})")
    for _ in range(60):
        mid = (lo + hi) / 2
        m, p = choose(mid)
        if m <= target_macs:
            hi, macs, picks = mid, m, p
        else:
            lo = mid
    return [LayerPlan(c.info.name, c.info.kind, c.ranks[i]) for c, i in zip(curves, picks) if i is not None]


def probe_rank(curve: Curve) -> tuple[int, ...] | None:
    """The rank at ~half the layer's dense cost: a truncation every layer feels, none is destroyed by."""
    if not curve.ranks:
        return None
    i = int(np.argmin(np.abs(curve.cost - 0.5)))
    return curve.ranks[i]


@torch.no_grad()
def measure_sensitivity(model: nn.Module, curves: list[Curve], images: list[np.ndarray],
                        make_chain: Callable[[nn.Module, LayerPlan], nn.Module],
                        progress: Callable[[str], None] = lambda s: None) -> dict[str, float]:
    """``w_l`` for encoder layers: relative MSE of the embedding per unit ``e_l(r_probe)²``.

    Runs the encoder from the cached input of the stage that holds the layer, so a probe costs only
    the rest of the network.
    """
    enc = model.image_encoder
    stages = encoder_stages(enc)
    order = [s for s, _ in stages]
    stage_inputs: dict[str, torch.Tensor] = {}
    h = torch.from_numpy(np.stack(images).astype(np.float32))
    for s, fn in stages:
        stage_inputs[s] = h
        h = fn(h)
    reference = h

    def run_from(stage: str) -> torch.Tensor:
        h = stage_inputs[stage]
        for _, fn in stages[order.index(stage):]:
            h = fn(h)
        return h

    ref_energy = float((reference.double() ** 2).mean())
    weights: dict[str, float] = {}
    start = time.perf_counter()
    for n, curve in enumerate(curves, 1):
        name = curve.info.name
        ranks = probe_rank(curve)
        if not name.startswith("image_encoder.") or ranks is None:
            continue
        local = name[len("image_encoder."):]
        stage = stage_of(name)
        original = enc.get_submodule(local)
        parent_name, _, child = local.rpartition(".")
        parent = enc.get_submodule(parent_name)
        setattr(parent, child, make_chain(original, LayerPlan(name, curve.info.kind, ranks)))
        try:
            out = run_from(stage)
        finally:
            setattr(parent, child, original)
        rel = float(((out - reference).double() ** 2).mean()) / max(ref_energy, 1e-30)
        weights[name] = rel / max(curve.error2(ranks), 1e-12)
        progress(f"sensitivity {n}/{len(curves)} {name} rank {ranks}: embedding relMSE {rel:.2e} "
                 f"({time.perf_counter() - start:.0f} s)")
    return weights


def plan_macs(curves: list[Curve], plans: list[LayerPlan], total_macs: float) -> float:
    """Encoder MACs after applying ``plans``."""
    chosen = {p.name: p.ranks for p in plans}
    saved = 0.0
    for c in curves:
        if c.info.name in chosen:
            saved += c.info.macs * (1.0 - c.cost[c.ranks.index(chosen[c.info.name])])
    return total_macs - saved


def median_weight(weights: dict[str, float]) -> float:
    vals = [v for v in weights.values() if math.isfinite(v)]
    return float(np.median(vals)) if vals else 1.0
