"""Which layers can be factorized, what each costs, and what its inputs look like on calibration data.

One calibration pass with forward hooks gives, per candidate layer, the number of output positions
per image (so MACs = positions x in x out x k²) and the covariance of its inputs (for the data-aware
SVD). Whole-encoder FLOPs come from ``torch.utils.flop_counter`` (attention products included, which
factorization cannot touch), so reported ratios are of the real total, not of the factorizable part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from umedsam.compress.factorize import dims, kind_of

SCOPES = {"encoder": ("image_encoder.",), "decoder": ("mask_decoder.transformer.",),
          "all": ("image_encoder.", "mask_decoder.transformer.")}
MIN_CHANNELS = 16   # a 3-channel stem conv has nothing to gain


@dataclass
class LayerInfo:
    name: str
    kind: str
    cin: int
    cout: int
    k: int
    positions: float = 0.0                      # output positions per image/box (tokens or pixels)
    cov: np.ndarray | None = field(default=None, repr=False)
    out_scale: np.ndarray | None = field(default=None, repr=False)   # the next BatchNorm's γ/√(var+ε)
    samples: int = 0

    @property
    def params(self) -> int:
        return self.cin * self.cout * self.k

    @property
    def macs(self) -> float:
        return self.positions * self.params

    @property
    def max_rank(self) -> int:
        return min(self.cin, self.cout)


def candidate_layers(model: nn.Module, scope: str = "encoder") -> list[LayerInfo]:
    """Linear and ``groups == 1`` Conv2d layers under ``scope`` with at least MIN_CHANNELS in and out."""
    prefixes = SCOPES[scope]
    out = []
    for name, module in model.named_modules():
        kind = kind_of(module)
        if kind is None or not name.startswith(prefixes):
            continue
        cin, cout, k = dims(module)
        if min(cin, cout) >= MIN_CHANNELS:
            out.append(LayerInfo(name, kind, cin, cout, k, out_scale=_bn_scale(model, name)))
    return out


def _bn_scale(model: nn.Module, name: str) -> np.ndarray | None:
    """``|γ|/√(var+ε)`` of the BatchNorm that follows a conv inside TinyViT's Conv2dBN (``….c`` → ``….bn``)."""
    parent, _, child = name.rpartition(".")
    if child != "c":
        return None
    bn = getattr(model.get_submodule(parent), "bn", None)
    if not isinstance(bn, nn.BatchNorm2d):
        return None
    return (bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps)).double().numpy()


def encoder_flops(encoder: nn.Module) -> float:
    """FLOPs (2 x MACs) of one 256x256 image through the encoder, attention products included."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        encoder(torch.zeros(1, 3, 256, 256))
    return float(counter.get_total_flops())


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def collect_stats(model: nn.Module, layers: list[LayerInfo], images: list[np.ndarray],
                  with_cov: bool = True, boxes: list[np.ndarray] | None = None) -> None:
    """Fill ``positions`` (and ``cov``, the input covariance E[x xᵀ]) of every layer from ``images``.

    Decoder layers see their inputs when ``boxes`` (256-space, one array per image) are given.
    """
    by_name = {info.name: info for info in layers}
    sums: dict[str, torch.Tensor] = {}
    hooks = []

    def hook(name: str):
        info = by_name[name]

        def fn(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            x = inputs[0]
            if isinstance(module, nn.Conv2d):
                if info.kind == "svd" and module.stride != (1, 1):
                    x = x[:, :, ::module.stride[0], ::module.stride[1]]
                info.positions = output.shape[-2] * output.shape[-1]
                x = x.permute(0, 2, 3, 1)
            else:  # tokens of every window of the one image (or box) in this forward call
                info.positions = x.numel() / x.shape[-1]
            if with_cov and info.kind == "svd":
                flat = x.reshape(-1, x.shape[-1]).double()
                sums[name] = sums.get(name, 0) + flat.T @ flat
                info.samples += flat.shape[0]
        return fn

    for info in layers:
        hooks.append(model.get_submodule(info.name).register_forward_hook(hook(info.name)))
    try:
        for i, image in enumerate(images):
            emb = model.image_encoder(torch.from_numpy(np.asarray(image, np.float32))[None])
            if boxes is not None and len(boxes[i]):
                model.decode(emb, torch.from_numpy(np.asarray(boxes[i], np.float32)))
    finally:
        for h in hooks:
            h.remove()
    for name, total in sums.items():
        by_name[name].cov = (total / max(by_name[name].samples, 1)).numpy()


def encoder_stages(encoder: nn.Module) -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """(name, callable) for patch_embed, layers.0..3 and the neck, in order (their composition = the encoder)."""
    def neck(h: torch.Tensor) -> torch.Tensor:
        b, _, c = h.shape
        return encoder.neck(h.view(b, encoder.out_hw, encoder.out_hw, c).permute(0, 3, 1, 2))

    out: list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = [("patch_embed", encoder.patch_embed)]
    out += [(f"layers.{i}", layer) for i, layer in enumerate(encoder.layers)]
    return out + [("neck", neck)]


def stage_of(name: str) -> str:
    """``image_encoder.layers.2.blocks.1.mlp.fc1`` -> ``layers.2``."""
    local = name[len("image_encoder."):]
    return ".".join(local.split(".")[:2]) if local.startswith("layers.") else local.split(".")[0]
