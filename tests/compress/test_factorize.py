"""Factorization of single layers: exactness at full rank, the error it reports, Tucker-2 chains."""

import numpy as np
import pytest
import torch
from torch import nn

from umedsam.compress.factorize import factor_cost, factorize_svd, factorize_tucker2, kind_of, svd_spectrum
from umedsam.model.factorized import LayerPlan, apply_structure


def _anisotropic_inputs(n=4000, d=48, seed=0):
    """Correlated inputs whose spectrum decays like 1/i (well above the whitening's damping)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    scales = 1.0 / torch.arange(1, d + 1)
    return (torch.randn(n, d, generator=g) * scales) @ q.T


def test_full_rank_svd_reproduces_linear_and_strided_conv():
    torch.manual_seed(0)
    lin = nn.Linear(24, 40)
    chain, err = factorize_svd(lin, 24)
    x = torch.randn(5, 24)
    assert err < 1e-6 and torch.allclose(chain(x), lin(x), atol=1e-5)
    conv = nn.Conv2d(16, 32, 1, stride=2, bias=False)
    chain, _ = factorize_svd(conv, 16)
    x = torch.randn(2, 16, 9, 9)
    assert chain[0].stride == (2, 2) and chain[1].bias is None
    assert torch.allclose(chain(x), conv(x), atol=1e-5)


def test_data_aware_error_is_the_output_error_and_beats_plain_svd():
    torch.manual_seed(1)
    lin = nn.Linear(48, 64, bias=False)
    x = _anisotropic_inputs()
    cov = (x.T.double() @ x.double() / len(x)).numpy()
    ref = lin(x)
    aware, err_aware = factorize_svd(lin, 8, cov)
    plain, err_plain = factorize_svd(lin, 8)
    measured = float((aware(x) - ref).detach().norm() / ref.detach().norm())
    assert measured == pytest.approx(err_aware, rel=0.02, abs=1e-4)
    assert float((aware(x) - ref).detach().norm()) < 0.5 * float((plain(x) - ref).detach().norm())
    assert err_plain == pytest.approx(float(np.sqrt((svd_spectrum(lin)[8:] ** 2).sum() / (svd_spectrum(lin) ** 2).sum())), rel=1e-6)


def test_tucker2_chain_equals_the_reconstructed_kernel():
    torch.manual_seed(2)
    conv = nn.Conv2d(32, 24, 3, padding=1, stride=1, bias=True)
    chain, err = factorize_tucker2(conv, 12, 10)
    assert [m.kernel_size for m in chain] == [(1, 1), (3, 3), (1, 1)]
    assert (chain[0].out_channels, chain[1].out_channels) == (10, 12)
    # the chain is one linear map: compare with the kernel it represents
    w = torch.einsum("or,rskl,si->oikl", chain[2].weight[:, :, 0, 0], chain[1].weight, chain[0].weight[:, :, 0, 0])
    x = torch.randn(1, 32, 8, 8)
    assert torch.allclose(chain(x), nn.functional.conv2d(x, w, conv.bias, padding=1), atol=1e-4)
    assert float((w - conv.weight).detach().norm() / conv.weight.detach().norm()) == pytest.approx(err, rel=1e-3)
    full, err_full = factorize_tucker2(conv, 24, 32)
    assert err_full < 1e-5 and torch.allclose(full(x), conv(x), atol=1e-4)


def test_kinds_costs_and_skeletons():
    assert kind_of(nn.Linear(4, 4)) == "svd" and kind_of(nn.Conv2d(4, 4, 1)) == "svd"
    assert kind_of(nn.Conv2d(4, 4, 3)) == "tucker2" and kind_of(nn.Conv2d(4, 4, 3, groups=4)) is None
    assert factor_cost(nn.Linear(100, 300), (25,)) == pytest.approx(25 * 400 / 30000)
    assert factor_cost(nn.Conv2d(64, 64, 3), (16, 16)) == pytest.approx((64 * 16 * 2 + 16 * 16 * 9) / (64 * 64 * 9))
    model = nn.Sequential(nn.Linear(8, 16), nn.Conv2d(16, 16, 3, padding=1))
    apply_structure(model, [LayerPlan("0", "svd", (4,)), LayerPlan("1", "tucker2", (5, 6))])
    assert sorted(model.state_dict()) == ["0.0.weight", "0.1.bias", "0.1.weight", "1.0.weight", "1.1.weight",
                                          "1.2.bias", "1.2.weight"]
    assert tuple(model.state_dict()["1.1.weight"].shape) == (5, 6, 3, 3)


def test_out_scale_makes_the_error_the_one_after_batchnorm():
    torch.manual_seed(3)
    lin = nn.Linear(32, 32, bias=False)
    scale = np.ones(32)
    scale[:4] = 50.0                           # a BatchNorm that amplifies four channels
    x = torch.randn(500, 32)
    ref = lin(x).detach() * torch.from_numpy(scale).float()
    plain, _ = factorize_svd(lin, 8)
    aware, err = factorize_svd(lin, 8, out_scale=scale)
    e_plain = float((plain(x).detach() * torch.from_numpy(scale).float() - ref).norm() / ref.norm())
    e_aware = float((aware(x).detach() * torch.from_numpy(scale).float() - ref).norm() / ref.norm())
    assert e_aware < e_plain and e_aware == pytest.approx(err, rel=0.15)
