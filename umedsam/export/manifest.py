"""Bundle manifests: what was exported, from what, with which tools, and whether its parity check passed."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from umedsam.assets import sha256_file
from umedsam.common import markdown_table, write_json
from umedsam.runtime.bundle import BUNDLE_VERSION, GRAPH_IO
from umedsam.versions import installed_versions

#: distributions whose versions are recorded when installed (read from metadata: nothing is imported)
TOOLS = ("umedsam", "torch", "onnx", "onnxscript", "onnxslim", "onnxruntime", "openvino", "nncf",
         "tensorrt", "numpy", "opencv-python-headless")


def tool_versions() -> dict[str, str]:
    return installed_versions(TOOLS)


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
    write_json(path, manifest, indent=2, strict=True)   # the native runtime parses it: no bare NaN
    return path


def export_summary(manifest: dict[str, Any]) -> str:
    """Markdown for people: size and export time per stage, and the export-time check's verdict."""

    rows = []
    for stage, info in manifest["export"]["stages"].items():
        last = info.get("tensorrt") or info.get("openvino") or info["onnx"]  # the file the bundle ships
        rows.append([stage, manifest["graphs"][stage]["file"], f"{last['bytes'] / 1e6:.1f} MB",
                     f"{sum(v.get('seconds', 0) for v in info.values()):.1f} s"])
    text = markdown_table(["stage", "file", "size", "export time"], rows)
    parity = manifest.get("parity")
    if parity:
        t = parity["tensors"]
        text += (f"\n\nexport-time check ({parity['seconds']:.1f} s): encoder max|Δ| "
                 f"{t.get('encoder', {}).get('max_abs', float('nan')):.2e}, decoder logits max|Δ| "
                 f"{t.get('decoder_logits', {}).get('max_abs', float('nan')):.2e}, min mask agreement "
                 f"{parity['min_agreement']:.5f} over {len(parity['masks'])} cases -> "
                 f"{'PASSED' if parity['passed'] else 'FAILED'}")
    return text
