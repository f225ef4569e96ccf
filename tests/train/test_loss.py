"""The U-MedSAM loss: each term's value on known inputs, its gradient, and the σ weighting."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from umedsam.train.loss import (UMedSAMLoss, dice_loss, iou_mse_loss, shape_distance_loss,
                                signed_distance)


def _disk(n=32, r=8, cx=16, cy=16):
    yy, xx = np.mgrid[:n, :n]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.float32)


def test_signed_distance_signs_and_scale():
    m = np.zeros((9, 9), bool)
    m[3:6, 3:6] = True
    sdf = signed_distance(m, normalize=False)
    assert sdf[4, 4] == pytest.approx(-1.5)       # centre: 2 px to the nearest outside pixel
    assert sdf[3, 4] == pytest.approx(-0.5)       # boundary pixel inside
    assert sdf[2, 4] == pytest.approx(0.5)        # boundary pixel outside
    assert sdf[0, 4] == pytest.approx(2.5)
    assert np.allclose(signed_distance(m), sdf / 9)
    assert not signed_distance(np.zeros((4, 4))).any()


def test_dice_loss_values():
    g = torch.from_numpy(_disk())[None, None]
    perfect = (g * 2 - 1) * 50
    assert float(dice_loss(perfect, g)) < 1e-4
    assert float(dice_loss(-perfect, g)) > 0.999
    # hand value: p = 0.5 everywhere -> 1 - 2*0.5*|g| / (0.25*N + |g|)
    half = torch.zeros_like(g)
    n, gs = g.numel(), float(g.sum())
    assert float(dice_loss(half, g)) == pytest.approx(1 - gs / (0.25 * n + gs), rel=1e-4)


def test_iou_mse_uses_actual_iou():
    g = torch.zeros(1, 1, 4, 4)
    g[..., :2, :] = 1                                    # 8 px
    logits = torch.full_like(g, -10.0)
    logits[..., :1, :] = 10                              # predicts 4 of them -> IoU 0.5
    pred = torch.tensor([[0.7]], requires_grad=True)
    loss = iou_mse_loss(logits, pred, g)
    assert float(loss.detach()) == pytest.approx(0.04, abs=1e-6)
    loss.backward()
    assert float(pred.grad) == pytest.approx(2 * 0.2, abs=1e-6)


def test_shape_distance_is_zero_at_gt_and_penalises_far_errors_more():
    gt = _disk()
    sdf = torch.from_numpy(signed_distance(gt))[None, None]
    g = torch.from_numpy(gt)[None, None]
    assert float(shape_distance_loss((g * 2 - 1) * 60, sdf)) < 1e-6
    near = g.clone(); near[..., 16, 25] = 1             # false positive next to the object
    far = g.clone(); far[..., 1, 1] = 1                  # false positive in a corner
    l_near = float(shape_distance_loss((near * 2 - 1) * 60, sdf))
    l_far = float(shape_distance_loss((far * 2 - 1) * 60, sdf))
    assert 0 < l_near < l_far
    # same gradient as Kervadec's boundary loss mean(p * sdf): they differ by a constant
    logits = torch.randn(1, 1, 32, 32, dtype=torch.float64, requires_grad=True)
    shape_distance_loss(logits, sdf.double()).backward()
    ours = logits.grad.clone(); logits.grad = None
    (torch.sigmoid(logits) * sdf.double()).flatten(1).mean(1).mean().backward()
    assert torch.allclose(ours, logits.grad)


@pytest.mark.parametrize("fn", ["dice", "shape", "ce", "mse"])
def test_term_gradients(fn):
    torch.manual_seed(0)
    gt = _disk(12, 3, 6, 6)
    g = torch.from_numpy(gt)[None, None].double()
    sdf = torch.from_numpy(signed_distance(gt))[None, None].double()
    loss = UMedSAMLoss(terms=(fn,))
    x = torch.randn(1, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    f = lambda t: loss.term_values(t, torch.zeros(1, 1, dtype=torch.float64), g, sdf)[fn]
    assert torch.autograd.gradcheck(f, (x,))


def test_ce_and_mse_match_torch():
    torch.manual_seed(1)
    x, g = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    vals = UMedSAMLoss(terms=("ce", "mse")).term_values(x, torch.zeros(2, 1), g)
    assert torch.allclose(vals["ce"], F.binary_cross_entropy_with_logits(x, g))
    assert torch.allclose(vals["mse"], ((torch.sigmoid(x) - g) ** 2).mean())


def test_uncertainty_weighting_value_and_sigma_gradient():
    loss = UMedSAMLoss(terms=("dice", "ce"), init_sigma=2.0)
    values = {"dice": torch.tensor(0.3), "ce": torch.tensor(0.8)}
    total = loss.weigh(values)
    expected = sum(0.5 / 4 * v + np.log(1 + 4) for v in (0.3, 0.8))
    assert float(total.detach()) == pytest.approx(expected, rel=1e-6)
    total.backward()
    # d/dσ [0.5 L/σ² + log(1+σ²)] = -L/σ³ + 2σ/(1+σ²)
    grads = [-v / 8 + 4 / 5 for v in (0.3, 0.8)]
    assert np.allclose(loss.sigma.grad.numpy(), grads, atol=1e-6)
    # a term that stays large pushes its σ up (down-weights it): gradient at σ=1 is negative
    big = UMedSAMLoss(terms=("ce",))
    big.weigh({"ce": torch.tensor(5.0)}).backward()
    assert float(big.sigma.grad) < 0


def test_forward_and_errors():
    loss = UMedSAMLoss()
    gt = _disk()
    g = torch.from_numpy(gt)[None, None]
    total, parts = loss(torch.randn(1, 1, 32, 32), torch.rand(1, 1), g,
                        torch.from_numpy(signed_distance(gt))[None, None])
    assert set(parts) == {"mse", "iou", "dice", "ce", "shape"} and total.requires_grad
    with pytest.raises(ValueError, match="signed distance"):
        loss(torch.randn(1, 1, 32, 32), torch.rand(1, 1), g)
    with pytest.raises(ValueError, match="unknown"):
        UMedSAMLoss(terms=("focal",))
    assert UMedSAMLoss().param_groups()[0]["weight_decay"] == 0.0
