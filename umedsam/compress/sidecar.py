"""The sidecar that describes a factorized checkpoint's structure (``model.pth`` → ``model.factorized.json``).

The checkpoint itself stays in the official format - a plain state dict of tensors, loadable with
``weights_only=True`` - only with the factorized layers' keys (``….fc1.0.weight``, ``….fc1.1.weight``,
``….fc1.1.bias``). The sidecar names each factorized layer, its kind and ranks, so
:func:`umedsam.model.load_checkpoint` can build the matching modules before a strict load. It also
carries the compression summary (FLOPs, params, the source checkpoint's hash) that manifests and
reports repeat.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from umedsam.compress.factorize import LayerPlan
from umedsam.errors import CheckpointError

FORMAT = "umedsam-factorized"
VERSION = 1
KINDS = ("svd", "tucker2")


def sidecar_path(checkpoint: str | Path) -> Path:
    return Path(checkpoint).with_suffix(".factorized.json")


def sidecar_json(plans: list[LayerPlan], summary: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "layers": {p.name: p.to_json() for p in plans},
            "summary": summary}


def read_sidecar(path: str | Path) -> tuple[list[LayerPlan], dict[str, Any]]:
    """Parse and validate a sidecar; errors name the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
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
