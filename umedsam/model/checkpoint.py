"""Safe, key-exact checkpoint loading.

Accepts the official plain state dict, training dicts (``{"model": ...}``, ``{"state_dict": ...}``)
and ``module.``-prefixed keys. A compressed checkpoint (``umedsam-compress``) is the same kind of state
dict with factorized layers; its structure comes from the sidecar beside it (``model.factorized.json``). Loading always uses ``torch.load(weights_only=True)``: a pickle that
carries code is refused. Missing ``num_batches_tracked`` entries are tolerated (BatchNorm fills them
in); any other mismatch is reported key by key.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch

from umedsam.assets import resolve_checkpoint
from umedsam.common import write_bytes_atomic, write_json
from umedsam.errors import CheckpointError
from umedsam.model.factorized import apply_structure, read_sidecar, sidecar_json, sidecar_path
from umedsam.model.medsam_lite import MedSAMLite

_CONTAINER_KEYS = ("model", "state_dict", "model_state_dict")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint file and return a plain, prefix-free state dict of tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: refused to load: the pickle holds objects other than tensors "
                              f"(weights_only=True; {first[:160]})") from None
    except Exception as exc:  # zip/pickle corruption, truncated file, ...
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
    return extract_state_dict(obj, path)


def extract_state_dict(obj: Any, path: str | Path = "<checkpoint>") -> dict[str, torch.Tensor]:
    """Unwrap training containers and strip ``module.`` prefixes."""
    if isinstance(obj, Mapping):
        for key in _CONTAINER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: field 'state_dict': no state dict found (expected a mapping of tensors, "
                              f"or one under {', '.join(repr(k) for k in _CONTAINER_KEYS)})")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: field '{key}': not a tensor ({type(value).__name__})")
        while key.startswith("module."):
            key = key[len("module."):]
        out[key] = value
    return out


def check_keys(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Raise CheckpointError listing missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
                 if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or misshaped:
        parts = []
        for name, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                shown = "; ".join(items[:5]) + (f"; … {len(items) - 5} more" if len(items) > 5 else "")
                parts.append(f"{len(items)} {name} ({shown})")
        raise CheckpointError(f"{path}: keys do not match LiteMedSAM: " + ", ".join(parts))


def _looks_factorized(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> bool:
    expected = model.state_dict()
    return any(k not in expected and k.rsplit(".", 2)[0] + ".weight" in expected for k in state)


def load_checkpoint(path: str | Path | None = None, device: str = "cpu") -> MedSAMLite:
    """Build MedSAMLite, load weights strictly, and return it in eval mode.

    ``path=None`` loads the built-in LiteMedSAM weights. Weights are loaded *before* ``eval()`` so
    the encoder's cached attention biases are computed from them. With a factorization sidecar beside
    the checkpoint, the factorized layers are built first; ``model.compression`` then holds its
    summary (None for an uncompressed model).
    """
    path = resolve_checkpoint(path)
    state = read_state_dict(path)
    model = MedSAMLite()
    side = sidecar_path(path)
    if side.is_file():
        plans, summary = read_sidecar(side)
        try:
            apply_structure(model, plans)
        except AttributeError as exc:
            raise CheckpointError(f"{side}: field 'layers': names a layer LiteMedSAM does not have ({exc})") from None
        model.compression = {**summary, "sidecar": str(side), "layers": len(plans)}
    elif _looks_factorized(model, state):
        raise CheckpointError(f"{path}: keys look factorized (e.g. '….0.weight') but the sidecar {side.name} "
                              f"is missing beside it")
    check_keys(model, state, path)
    model.load_state_dict(state, strict=False)  # only num_batches_tracked may be absent (checked above)
    return model.to(device).eval()


def save_checkpoint(model: torch.nn.Module, path: str | Path, plans: list | None = None,
                    summary: dict | None = None) -> Path:
    """Write ``model``'s weights as an official plain state dict (``weights_only``-loadable), atomically.

    With ``plans`` (a factorized model) the sidecar is written next to it, checkpoint first: a reader
    that finds the sidecar always finds the matching weights. Without, a stale sidecar is removed so
    the checkpoint is not mis-read as factorized.
    """
    path = Path(path)
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buf)
    side = sidecar_path(path)
    side.unlink(missing_ok=True)
    write_bytes_atomic(path, buf.getbuffer())
    if plans:
        write_json(side, sidecar_json(plans, summary or {}), indent=2)
    return path
