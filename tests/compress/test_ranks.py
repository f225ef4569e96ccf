"""Rank selection on synthetic layers: budget met, cheap errors cut first, sensitivity respected."""

import pytest
import torch
from torch import nn

from umedsam.compress.layers import LayerInfo
from umedsam.compress.ranks import by_budget, by_energy, error_curve, plan_macs


def _model_and_curves(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64))
    with torch.no_grad():       # layer 0 nearly rank 8, layer 1 full rank
        u, v = torch.randn(64, 8), torch.randn(8, 64)
        model[0].weight.copy_(u @ v + 1e-3 * torch.randn(64, 64))
    infos = [LayerInfo(str(i), "svd", 64, 64, 1, positions=100.0) for i in range(2)]
    return model, infos, [error_curve(model, info, data_aware=False) for info in infos]


def test_energy_keeps_low_rank_layer_small_and_full_rank_layer_dense():
    _, _, curves = _model_and_curves()
    plans = {p.name: p.ranks for p in by_energy(curves, 0.99)}
    assert plans["0"] == (8,)
    assert "1" not in plans          # a random matrix needs nearly full rank: factorizing would cost more


def test_budget_is_met_and_cuts_the_cheap_layer_first():
    _, infos, curves = _model_and_curves()
    total = sum(i.macs for i in infos) + 1000.0            # + something factorization cannot change
    target = 0.7 * total
    plans = by_budget(curves, total, target)
    assert plan_macs(curves, plans, total) <= target
    ranks = {p.name: p.ranks[0] for p in plans}
    assert ranks["0"] <= 16                                  # the low-rank layer is cut hard
    assert ranks.get("1", 64) >= ranks["0"]


def test_sensitivity_weights_move_the_cut():
    _, infos, curves = _model_and_curves()
    total = sum(i.macs for i in infos)
    base = {p.name: p.ranks[0] for p in by_budget(curves, total, 0.5 * total)}
    shifted = {p.name: p.ranks[0] for p in by_budget(curves, total, 0.5 * total, weights={"1": 100.0})}
    assert shifted.get("1", 64) >= base.get("1", 64) and shifted["0"] <= base["0"]


def test_unreachable_budget_is_an_error():
    _, infos, curves = _model_and_curves()
    total = sum(i.macs for i in infos)
    with pytest.raises(ValueError, match="not reachable"):
        by_budget(curves, total, 0.01 * total)
