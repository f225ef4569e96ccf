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
``….fc1.1``). The chains' shapes and the sidecar that records them live in :mod:`umedsam.model.factorized`,
because loading a factorized checkpoint (a model-layer job) must rebuild them without the compression code.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from umedsam.model.factorized import svd_chain, tucker2_chain


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
    seq = svd_chain(module, rank)
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
    seq = tucker2_chain(module, r_out, r_in)
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
