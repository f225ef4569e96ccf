"""Bundle manifests: what was exported, from what, with which tools, and whether its parity check passed."""

from __future__ import annotations

import datetime as _dt
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from umedsam.assets import sha256_file
from umedsam.data.npz import write_text_atomic
from umedsam.runtime.bundle import BUNDLE_VERSION, GRAPH_IO

#: distributions whose versions are recorded when installed (read from metadata: nothing is imported)
TOOLS = ("umedsam", "torch", "onnx", "onnxscript", "onnxslim", "onnxruntime", "openvino", "nncf",
         "tensorrt", "numpy", "opencv-python-headless")


def tool_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in TOOLS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def build_manifest(folder: Path, fmt: str, precision: str, graphs: dict[str, str], source: dict[str, Any],
                   export: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest dict for a bundle folder whose files are already written (hashes every file)."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != "manifest.json"}
    manifest: dict[str, Any] = {
        "umedsam_bundle": BUNDLE_VERSION,
        "format": fmt,
        "precision": precision,
        "graphs": {stage: {"file": name, **GRAPH_IO[stage]} for stage, name in graphs.items()},
        "files": files,
        "source": source,
        "versions": tool_versions(),
        "export": export,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "parity": None,
        "status": "unchecked",
    }
    manifest.update(extra or {})
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    path = Path(folder) / "manifest.json"
    write_text_atomic(path, json.dumps(manifest, indent=2, default=str) + "\n")
    return path
