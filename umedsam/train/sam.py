"""Sharpness-Aware Minimization (Foret et al., 2021) as a wrapper around any base optimizer.

Two steps per update: ``first_step`` moves each weight to ``w + e(w)`` with
``e(w) = ρ · g / ‖g‖`` (``adaptive``: ASAM's ``ρ · w² · g / ‖w · g‖``), the worst case within a ball
of radius ρ; the loss is evaluated and back-propagated there; ``second_step`` restores ``w`` and lets
the base optimizer (AdamW by default for U-MedSAM) step with that sharpness-aware gradient. Groups
with ``perturb=False`` (the loss's σ weights) are not perturbed but are still updated.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch


class SAM(torch.optim.Optimizer):
    """``SAM(params, torch.optim.AdamW, rho=0.05, lr=5e-5, weight_decay=0.01)``.

    Use ``step(closure)`` where the closure zeroes grads, computes the loss and calls backward, or call
    ``first_step`` / ``second_step`` yourself around a second forward-backward pass.
    """

    def __init__(self, params: Iterable, base_optimizer: type[torch.optim.Optimizer] = torch.optim.AdamW,
                 rho: float = 0.05, adaptive: bool = False, **kwargs) -> None:
        if rho < 0:
            raise ValueError(f"rho must be >= 0, got {rho}")
        defaults = dict(rho=rho, adaptive=adaptive, perturb=True, **kwargs)
        super().__init__(params, defaults)
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups  # one source of truth for lr schedules
        self.defaults.update(self.base_optimizer.defaults)

    def _grad_norm(self) -> torch.Tensor:
        norms = []
        for group in self.param_groups:
            if not group.get("perturb", True):
                continue
            for p in group["params"]:
                if p.grad is None:
                    continue
                scale = p.abs() if group["adaptive"] else 1.0
                norms.append((scale * p.grad).norm(p=2))
        if not norms:
            return torch.zeros(())
        return torch.norm(torch.stack(norms), p=2)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = True) -> None:
        """Climb to ``w + e(w)`` and remember ``e(w)``."""
        grad_norm = self._grad_norm()
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                self.state[p].pop("e_w", None)
                if p.grad is None or not group.get("perturb", True):
                    continue
                e_w = (p * p if group["adaptive"] else 1.0) * p.grad * scale.to(p)
                p.add_(e_w)
                self.state[p]["e_w"] = e_w
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad: bool = True) -> None:
        """Return to ``w`` and apply the base optimizer with the gradient taken at ``w + e(w)``."""
        for group in self.param_groups:
            for p in group["params"]:
                e_w = self.state[p].pop("e_w", None)
                if e_w is not None:
                    p.sub_(e_w)
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:  # type: ignore[override]
        """Full SAM update; the closure is evaluated twice (at ``w`` and at ``w + e(w)``)."""
        if closure is None:
            raise ValueError("SAM needs a closure that zeroes grads, computes the loss and calls backward")
        closure = torch.enable_grad()(closure)
        loss = closure()
        self.first_step(zero_grad=True)
        closure()
        self.second_step()
        return loss

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.base_optimizer.param_groups = self.param_groups


def make_optimizer(groups: list[dict], lr: float, weight_decay: float, rho: float,
                   adaptive: bool = False) -> torch.optim.Optimizer:
    """SAM around AdamW, or plain AdamW when ``rho == 0``."""
    if rho > 0:
        return SAM(groups, torch.optim.AdamW, rho=rho, adaptive=adaptive, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)


def optimizer_step(optimizer: torch.optim.Optimizer, closure: Callable[[], torch.Tensor]) -> None:
    """One update: SAM evaluates the closure twice (at w and w + e(w)), anything else once."""
    if isinstance(optimizer, SAM):
        optimizer.step(closure)
    else:
        closure()
        optimizer.step()
