"""Low-rank factorization of Linear and Conv2d layers into plain ``nn.Linear`` / ``nn.Conv2d`` chains.

* **Truncated SVD** for ``nn.Linear`` and 1x1 ``nn.Conv2d`` (``W ≈ A·B``, rank r): two layers
  ``in → r`` (no bias) and ``r → out`` (the original bias). Optionally **data-aware** (the
  "whitened" SVD of SVD-LLM / ASVD): given the covariance ``C = E[x xᵀ]`` of the layer's inputs on
  calibration data, truncating ``W·L`` (``C = L·Lᵀ``) and mapping back with ``L⁻¹`` minimises the
  error of the layer's *outputs* on that data, ``E‖(W − W')x‖²``, instead of the weights' error.
  Real activations are far from isotropic, so this keeps much more accuracy at the same rank.
* **Tucker-2** for k x k ``nn.Conv2d`` (``groups == 1``), via tensorly's ``partial_tucker`` on the
  output and input channel modes: ``1x1 in → r_in``, ``k x k r_in → r_out`` (the original stride,
  padding and dilation), ``1x1 r_out → out`` (the original bias).

The result is ``nn.Sequential`` of standard layers, so the exporters, OpenVINO, TensorRT and the
INT8 step treat it like any other graph, and node names keep the module path (``….fc1.0``,
``….fc1.1``). :func:`apply_structure` builds the same chains with empty weights so a factorized state
dict loads strictly (the sidecar, :mod:`umedsam.compress.sidecar`, records the structure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class LayerPlan:
    """How one layer is factorized: ``svd`` with ``ranks=(r,)`` or ``tucker2`` with ``ranks=(r_out, r_in)``."""

    name: str
    kind: str
    ranks: tuple[int, ...]

    def to_json(self) -> dict:
        return {"kind": self.kind, "ranks": list(self.ranks)}


def kind_of(module: nn.Module) -> str | None:
    """``svd`` for Linear and 1x1 convs, ``tucker2`` for k x k convs, None if not factorizable."""
    if isinstance(module, nn.Linear):
        return "svd"
    if isinstance(module, nn.Conv2d) and module.groups == 1:
        return "svd" if module.kernel_size == (1, 1) else "tucker2"
    return None


def dims(module: nn.Module) -> tuple[int, int, int]:
    """(in features/channels, out features/channels, kernel area)."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features, 1
    k = module.kernel_size[0] * module.kernel_size[1]
    return module.in_channels, module.out_channels, k


def factor_cost(module: nn.Module, ranks: tuple[int, ...]) -> float:
    """Multiply-accumulates per output position of the factorized chain, relative to the dense layer."""
    cin, cout, k = dims(module)
    dense = cin * cout * k
    if kind_of(module) == "svd":
        return ranks[0] * (cin + cout) / dense
    r_out, r_in = ranks
    return (cin * r_in + r_in * r_out * k + r_out * cout) / dense


def _svd_modules(module: nn.Module, rank: int) -> nn.Sequential:
    has_bias = module.bias is not None
    if isinstance(module, nn.Linear):
        return nn.Sequential(nn.Linear(module.in_features, rank, bias=False),
                             nn.Linear(rank, module.out_features, bias=has_bias))
    # a strided 1x1 conv: stride in the first (cheaper) layer, identical result
    return nn.Sequential(nn.Conv2d(module.in_channels, rank, 1, module.stride, 0, bias=False),
                         nn.Conv2d(rank, module.out_channels, 1, bias=has_bias))


def _tucker_modules(module: nn.Conv2d, r_out: int, r_in: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(module.in_channels, r_in, 1, bias=False),
        nn.Conv2d(r_in, r_out, module.kernel_size, module.stride, module.padding, module.dilation, bias=False),
        nn.Conv2d(r_out, module.out_channels, 1, bias=module.bias is not None))


def skeleton(module: nn.Module, plan: LayerPlan) -> nn.Sequential:
    """The factorized chain for ``module`` with uninitialised weights (for loading a state dict)."""
    if plan.kind == "svd":
        return _svd_modules(module, plan.ranks[0])
    return _tucker_modules(module, *plan.ranks)


def whitening(cov: np.ndarray | None, n: int, damp: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """(L, L⁻¹) with ``C ≈ L·Lᵀ`` from the symmetric eigendecomposition (damped, robust to rank loss)."""
    if cov is None:
        eye = np.eye(n)
        return eye, eye
    cov = np.asarray(cov, np.float64)
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    w = np.maximum(w, damp * max(float(w.max()), 1e-12))
    return v * np.sqrt(w), (v / np.sqrt(w)).T


def _positive(out_scale: np.ndarray) -> np.ndarray:
    scale = np.abs(np.asarray(out_scale, np.float64))
    return np.maximum(scale, 1e-8 * max(float(scale.max()), 1e-30))


def _scaled_weight(module: nn.Module, out_scale: np.ndarray | None) -> np.ndarray:
    w = module.weight.detach().double().reshape(module.weight.shape[0], -1).numpy()
    return w if out_scale is None else w * _positive(out_scale)[:, None]


def svd_spectrum(module: nn.Module, cov: np.ndarray | None = None, out_scale: np.ndarray | None = None) -> np.ndarray:
    """Singular values of the (output-scaled, input-whitened) weight matrix, largest first."""
    w = _scaled_weight(module, out_scale)
    root, _ = whitening(cov, w.shape[1])
    return np.linalg.svd(w @ root, compute_uv=False)


def factorize_svd(module: nn.Module, rank: int, cov: np.ndarray | None = None,
                  out_scale: np.ndarray | None = None) -> tuple[nn.Sequential, float]:
    """The rank-``rank`` chain and its relative error (of outputs on the calibration data if ``cov``).

    ``out_scale`` (per output channel, e.g. the following BatchNorm's ``γ/√(var+ε)``) makes the error
    the one *after* that scaling: a conv whose BatchNorm amplifies weak channels must keep them.
    """
    w = _scaled_weight(module, out_scale)
    root, inv_root = whitening(cov, w.shape[1])
    u, s, vt = np.linalg.svd(w @ root, full_matrices=False)
    a = u[:, :rank] * np.sqrt(s[:rank])                      # out x r  (balanced split of Σ)
    if out_scale is not None:
        a = a / _positive(out_scale)[:, None]
    b = (np.sqrt(s[:rank])[:, None] * vt[:rank]) @ inv_root  # r x in
    err = float(np.sqrt((s[rank:] ** 2).sum() / max((s ** 2).sum(), 1e-30)))
    seq = _svd_modules(module, rank)
    dtype = module.weight.dtype
    with torch.no_grad():
        seq[0].weight.copy_(torch.from_numpy(b).to(dtype).reshape(seq[0].weight.shape))
        seq[1].weight.copy_(torch.from_numpy(a).to(dtype).reshape(seq[1].weight.shape))
        if module.bias is not None:
            seq[1].bias.copy_(module.bias.detach())
    return seq, err


def factorize_tucker2(module: nn.Conv2d, r_out: int, r_in: int) -> tuple[nn.Sequential, float]:
    """Tucker-2 of the (out, in, kh, kw) kernel on its channel modes; returns the chain and relative error."""
    import tensorly as tl
    from tensorly.decomposition import partial_tucker

    tl.set_backend("numpy")
    w = module.weight.detach().double().numpy()
    # HOOI from the HOSVD start: a few sweeps converge (each is two full SVDs of the unfoldings)
    (core, factors), _ = partial_tucker(w, rank=[r_out, r_in], modes=[0, 1], init="svd", n_iter_max=5,
                                        tol=1e-7)
    u_out, u_in = factors                                     # (out, r_out), (in, r_in)
    approx = tl.tenalg.multi_mode_dot(core, [u_out, u_in], modes=[0, 1])
    err = float(np.linalg.norm(w - approx) / max(np.linalg.norm(w), 1e-30))
    seq = _tucker_modules(module, r_out, r_in)
    dtype = module.weight.dtype
    with torch.no_grad():
        seq[0].weight.copy_(torch.from_numpy(u_in.T.copy()).to(dtype)[:, :, None, None])
        seq[1].weight.copy_(torch.from_numpy(core.copy()).to(dtype))
        seq[2].weight.copy_(torch.from_numpy(u_out.copy()).to(dtype)[:, :, None, None])
        if module.bias is not None:
            seq[2].bias.copy_(module.bias.detach())
    return seq, err


def tucker2_mode_spectra(module: nn.Conv2d) -> tuple[np.ndarray, np.ndarray]:
    """Singular values of the kernel's output-mode and input-mode unfoldings (for energy ranks)."""
    w = module.weight.detach().double().numpy()
    out_unfold = w.reshape(w.shape[0], -1)
    in_unfold = np.moveaxis(w, 1, 0).reshape(w.shape[1], -1)
    return np.linalg.svd(out_unfold, compute_uv=False), np.linalg.svd(in_unfold, compute_uv=False)


def get_module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name)


def set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def apply_structure(model: nn.Module, plans: list[LayerPlan]) -> nn.Module:
    """Replace each planned layer with its empty factorized chain, in place (then load a state dict)."""
    for plan in plans:
        set_module(model, plan.name, skeleton(get_module(model, plan.name), plan))
    return model
