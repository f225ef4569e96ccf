"""SAM: the two-step update, against a hand computation."""

import pytest
import torch

from umedsam.train.sam import SAM


def _quadratic(w, a):
    return 0.5 * (a * w * w).sum() + (w ** 3).sum() / 3


def test_two_step_update_matches_hand_computation():
    a = torch.tensor([1.0, 4.0, 9.0])
    w0 = torch.tensor([1.0, -0.5, 0.25])
    w = torch.nn.Parameter(w0.clone())
    opt = SAM([w], torch.optim.SGD, rho=0.1, lr=0.01)

    def closure():
        opt.zero_grad()
        loss = _quadratic(w, a)
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(float(_quadratic(w0, a)))
    g0 = a * w0 + w0 ** 2
    e = 0.1 * g0 / g0.norm()                     # ascent step of radius rho
    w_adv = w0 + e
    g_adv = a * w_adv + w_adv ** 2               # gradient at the perturbed point
    assert torch.allclose(w.detach(), w0 - 0.01 * g_adv, atol=1e-6)
    assert not torch.allclose(g_adv, g0)


def test_first_step_radius_and_restore():
    w = torch.nn.Parameter(torch.tensor([3.0, -4.0]))
    frozen = torch.nn.Parameter(torch.tensor([1.0]))
    opt = SAM([{"params": [w]}, {"params": [frozen], "perturb": False}], torch.optim.SGD, rho=0.5, lr=0.0)
    ((w ** 2).sum() + (frozen ** 2).sum()).backward()
    opt.first_step()
    assert float((w.detach() - torch.tensor([3.0, -4.0])).norm()) == pytest.approx(0.5)
    assert float(frozen) == 1.0                  # perturb=False groups stay put
    ((w ** 2).sum()).backward()
    opt.second_step()
    assert torch.allclose(w.detach(), torch.tensor([3.0, -4.0]))   # lr 0: restored exactly


def test_wraps_adamw_with_shared_groups():
    w = torch.nn.Parameter(torch.ones(2))
    opt = SAM([w], rho=0.05, lr=5e-5, weight_decay=0.01)
    assert isinstance(opt.base_optimizer, torch.optim.AdamW)
    opt.param_groups[0]["lr"] = 1e-3             # a scheduler's change reaches AdamW
    assert opt.base_optimizer.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError):
        SAM([w], rho=-1.0)
    with pytest.raises(ValueError, match="closure"):
        opt.step()


def test_make_optimizer_and_step_with_and_without_sam():
    from umedsam.train.sam import make_optimizer, optimizer_step

    for rho, passes in ((0.0, 1), (0.05, 2)):
        w = torch.nn.Parameter(torch.tensor([2.0]))
        opt = make_optimizer([{"params": [w]}], lr=0.1, weight_decay=0.0, rho=rho)
        assert isinstance(opt, SAM) == (rho > 0) and isinstance(getattr(opt, "base_optimizer", opt), torch.optim.AdamW)
        calls = []

        def closure():
            opt.zero_grad()
            loss = (w ** 2).sum()
            loss.backward()
            calls.append(1)
            return loss

        optimizer_step(opt, closure)
        assert len(calls) == passes and float(w) < 2.0
