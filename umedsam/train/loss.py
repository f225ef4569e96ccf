"""The U-MedSAM uncertainty-aware loss (arXiv 2408.08881), written from its description.

Terms, each a mean over the batch, all zero for a perfect prediction and non-negative:

* ``mse`` (pixel-based): mean squared error between the predicted probabilities and the binary GT.
* ``iou`` (pixel-based, the LiteMedSAM baseline's term): squared error between the IoU head's output
  and the actual IoU of ``prob > 0.5`` with the GT, so the exported IoU scores stay calibrated.
* ``dice`` (region-based): soft Dice with squared denominators (MONAI ``squared_pred=True``, as the
  baseline): ``1 - (2 Σ p g + ε) / (Σ p² + Σ g² + ε)``.
* ``ce`` (distribution-based): binary cross-entropy with logits.
* ``shape`` (shape-distance): probabilities weighted by the GT's signed distance map φ (negative
  inside, positive outside, in pixels divided by the mask side so it is resolution-free):
  ``mean(p · max(φ, 0)) + mean((1 - p) · max(-φ, 0))``. False positives cost their distance to the
  object, false negatives their depth inside it. This equals the boundary loss of Kervadec et al.
  (``mean(p · φ)``) plus a constant that depends on the GT only, so it has the same gradient, but it is
  non-negative and zero at the GT, which the uncertainty weighting needs (a loss that can go negative
  would drive its σ to zero).

Weighting (homoscedastic uncertainty, Kendall et al.; the form of the authors' sister project): each
term gets a learned σᵢ (initialised to 1) and ``L = Σᵢ 0.5 / σᵢ² · Lᵢ + log(1 + σᵢ²)``. The regulariser
keeps σ from growing without bound; a term that stays large gets down-weighted automatically. The σ
parameters belong in their own optimizer group with weight decay 0 (``UMedSAMLoss.param_groups``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

TERMS = ("mse", "iou", "dice", "ce", "shape")


def signed_distance(mask: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Signed Euclidean distance to the GT boundary: < 0 inside, > 0 outside, 0 for an empty mask.

    ``normalize`` divides by the larger side so values are comparable across resolutions.
    """
    mask = np.asarray(mask).astype(bool)
    if not mask.any() or mask.all():
        return np.zeros(mask.shape, np.float32)
    outside = ndimage.distance_transform_edt(~mask)
    inside = ndimage.distance_transform_edt(mask)
    # the boundary lies half a pixel between an inside and an outside pixel
    sdf = np.where(mask, 0.5 - inside, outside - 0.5).astype(np.float32)
    return sdf / max(mask.shape) if normalize else sdf


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Soft Dice with squared denominators, per sample, averaged over the batch."""
    p = torch.sigmoid(logits).flatten(1)
    g = target.flatten(1)
    inter = (p * g).sum(1)
    denom = (p * p).sum(1) + (g * g).sum(1)
    return (1.0 - (2.0 * inter + eps) / (denom + eps)).mean()


def iou_mse_loss(logits: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the IoU head and the actual IoU of the thresholded mask (no gradient into the mask)."""
    with torch.no_grad():
        pred = (torch.sigmoid(logits) > 0.5).flatten(1).float()
        g = (target > 0.5).flatten(1).float()
        inter = (pred * g).sum(1)
        union = pred.sum(1) + g.sum(1) - inter
        iou = torch.where(union > 0, inter / union.clamp_min(1.0), torch.ones_like(union))
    return F.mse_loss(iou_pred.reshape(-1), iou)


def shape_distance_loss(logits: torch.Tensor, sdf: torch.Tensor) -> torch.Tensor:
    """``mean(p · max(φ,0)) + mean((1-p) · max(-φ,0))`` with φ the GT's signed distance map."""
    p = torch.sigmoid(logits)
    return (p * sdf.clamp_min(0) + (1.0 - p) * (-sdf).clamp_min(0)).flatten(1).mean(1).mean()


class UMedSAMLoss(nn.Module):
    """Uncertainty-weighted sum of the U-MedSAM terms; ``forward`` returns (total, per-term values)."""

    def __init__(self, terms: Sequence[str] = TERMS, init_sigma: float = 1.0, learn_sigma: bool = True) -> None:
        super().__init__()
        unknown = [t for t in terms if t not in TERMS]
        if unknown:
            raise ValueError(f"unknown loss terms {unknown}; choose from {TERMS}")
        self.terms = tuple(terms)
        self.sigma = nn.Parameter(torch.full((len(self.terms),), float(init_sigma)), requires_grad=learn_sigma)

    def term_values(self, logits: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor,
                    sdf: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every term, unweighted. ``target`` is (B,1,H,W) in {0,1}; ``sdf`` is needed for ``shape``."""
        target = target.to(logits.dtype)
        out: dict[str, torch.Tensor] = {}
        for term in self.terms:
            if term == "mse":
                out[term] = F.mse_loss(torch.sigmoid(logits), target)
            elif term == "iou":
                out[term] = iou_mse_loss(logits, iou_pred, target)
            elif term == "dice":
                out[term] = dice_loss(logits, target)
            elif term == "ce":
                out[term] = F.binary_cross_entropy_with_logits(logits, target)
            elif term == "shape":
                if sdf is None:
                    raise ValueError("the shape-distance term needs the GT's signed distance map (sdf)")
                out[term] = shape_distance_loss(logits, sdf.to(logits.dtype))
        return out

    def weigh(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """``Σ 0.5/σ² · L + log(1 + σ²)`` over the terms present."""
        total = torch.zeros((), dtype=self.sigma.dtype, device=self.sigma.device)
        for i, term in enumerate(self.terms):
            s2 = self.sigma[i] ** 2
            total = total + 0.5 / s2 * values[term] + torch.log1p(s2)
        return total

    def forward(self, logits: torch.Tensor, iou_pred: torch.Tensor, target: torch.Tensor,
                sdf: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        values = self.term_values(logits, iou_pred, target, sdf)
        return self.weigh(values), {k: float(v.detach()) for k, v in values.items()}

    def param_groups(self) -> list[dict]:
        """The σ weights as an optimizer group without weight decay (and without SAM perturbation)."""
        return [{"params": [self.sigma], "weight_decay": 0.0, "perturb": False}]
