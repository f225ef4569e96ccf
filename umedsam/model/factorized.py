"""The structure of a factorized (low-rank) LiteMedSAM, and the sidecar that records it.

A compressed checkpoint stays in the official format - a plain state dict of tensors, loadable with
``weights_only=True`` - only with the factorized layers' keys (``….fc1.0.weight``, ``….fc1.1.weight``,
``….fc1.1.bias``). The sidecar beside it (``model.pth`` → ``model.factorized.json``) names each
factorized layer, its kind and ranks, so :func:`umedsam.model.load_checkpoint` can build the matching
empty chains (:func:`apply_structure`) before a strict load. It also carries the compression summary
(FLOPs, params, the source checkpoint's hash) that manifests and reports repeat.

This is the model layer's half of compression: *reading* a factorized model needs only these shapes.
How the factors are *computed* (SVD, Tucker-2, ranks, recovery) is :mod:`umedsam.compress`, which sits
above the model (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from umedsam.errors import CheckpointError


@dataclass(frozen=True)
class LayerPlan:
    """How one layer is factorized: ``svd`` with ``ranks=(r,)`` or ``tucker2`` with ``ranks=(r_out, r_in)``."""

    name: str
    kind: str
    ranks: tuple[int, ...]

    def to_json(self) -> dict:
        return {"kind": self.kind, "ranks": list(self.ranks)}


def svd_chain(module: nn.Module, rank: int) -> nn.Sequential:
    """``in → r`` (no bias) then ``r → out`` (the original bias) for a Linear or 1x1 Conv2d."""
    has_bias = module.bias is not None
    if isinstance(module, nn.Linear):
        return nn.Sequential(nn.Linear(module.in_features, rank, bias=False),
                             nn.Linear(rank, module.out_features, bias=has_bias))
    # a strided 1x1 conv: stride in the first (cheaper) layer, identical result
    return nn.Sequential(nn.Conv2d(module.in_channels, rank, 1, module.stride, 0, bias=False),
                         nn.Conv2d(rank, module.out_channels, 1, bias=has_bias))


def tucker2_chain(module: nn.Conv2d, r_out: int, r_in: int) -> nn.Sequential:
    """``1x1 in → r_in``, ``k x k r_in → r_out`` (original stride/padding/dilation), ``1x1 r_out → out``."""
    return nn.Sequential(
        nn.Conv2d(module.in_channels, r_in, 1, bias=False),
        nn.Conv2d(r_in, r_out, module.kernel_size, module.stride, module.padding, module.dilation, bias=False),
        nn.Conv2d(r_out, module.out_channels, 1, bias=module.bias is not None))


def skeleton(module: nn.Module, plan: LayerPlan) -> nn.Sequential:
    """The factorized chain for ``module`` with uninitialised weights (for loading a state dict)."""
    if plan.kind == "svd":
        return svd_chain(module, plan.ranks[0])
    return tucker2_chain(module, *plan.ranks)


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule at a dotted path (``image_encoder.layers.1…fc1``)."""
    return model.get_submodule(name)


def set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Replace the submodule at a dotted path."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def apply_structure(model: nn.Module, plans: list[LayerPlan]) -> nn.Module:
    """Replace each planned layer with its empty factorized chain, in place (then load a state dict)."""
    for plan in plans:
        set_module(model, plan.name, skeleton(get_module(model, plan.name), plan))
    return model


FORMAT = "umedsam-factorized"
VERSION = 1
KINDS = ("svd", "tucker2")


def sidecar_path(checkpoint: str | Path) -> Path:
    """``model.pth`` → ``model.factorized.json``."""
    return Path(checkpoint).with_suffix(".factorized.json")


def sidecar_json(plans: list[LayerPlan], summary: dict[str, Any]) -> dict[str, Any]:
    """The sidecar's JSON for these plans and the compression summary."""
    return {"format": FORMAT, "version": VERSION, "layers": {p.name: p.to_json() for p in plans},
            "summary": summary}


def read_sidecar(path: str | Path) -> tuple[list[LayerPlan], dict[str, Any]]:
    """Parse and validate a sidecar; errors name the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable factorization sidecar ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: field 'format': expected {FORMAT!r}")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: field 'version': {data.get('version')!r} is not supported (expected {VERSION})")
    layers = data.get("layers")
    if not isinstance(layers, dict):
        raise CheckpointError(f"{path}: field 'layers': expected a mapping of layer name to kind and ranks")
    plans = []
    for name, spec in layers.items():
        kind = spec.get("kind") if isinstance(spec, dict) else None
        ranks = spec.get("ranks") if isinstance(spec, dict) else None
        if kind not in KINDS:
            raise CheckpointError(f"{path}: field 'layers.{name}.kind': {kind!r} is not one of {KINDS}")
        want = 1 if kind == "svd" else 2
        if (not isinstance(ranks, list) or len(ranks) != want
                or not all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in ranks)):
            raise CheckpointError(f"{path}: field 'layers.{name}.ranks': expected {want} positive integer(s)")
        plans.append(LayerPlan(name, kind, tuple(ranks)))
    return plans, dict(data.get("summary") or {})
