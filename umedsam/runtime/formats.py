"""The format table: one row per engine kind, used by the runtime (and the exporters) alike.

An engine path resolves to a row by its suffix, or, for a bundle folder, by the ``format`` field of
its ``manifest.json``. ``--backend`` overrides the choice. Backends are imported lazily from
``module:class`` so that resolving a path never imports torch or any other heavy library.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from umedsam.errors import EngineError


@dataclass(frozen=True)
class Format:
    """One engine kind."""

    name: str                 # format name used in manifests and --backend
    suffixes: tuple[str, ...]  # file suffixes that select it
    backend: str              # "module:Class" implementing umedsam.runtime.backends.base.Backend
    requires: str             # pip requirement a user must install to run it
    device: str               # "cpu" or "gpu"


FORMATS: tuple[Format, ...] = (
    Format("torch", (".pth", ".pt"), "umedsam.runtime.backends.torch_backend:TorchBackend",
           "umedsam[export] (torch)", "cpu"),
)


def format_by_name(name: str) -> Format:
    """Row of the table by format/backend name."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise EngineError(f"unknown backend '{name}' (known: {', '.join(f.name for f in FORMATS)})")


def read_manifest(folder: Path) -> dict:
    """The ``manifest.json`` of a bundle folder."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise EngineError(f"{folder}: not a bundle folder (no manifest.json)")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"{path}: unreadable manifest ({exc})") from None


def resolve_format(engine: str | Path | None, backend: str | None = None) -> Format:
    """The format row for an engine path (None = the built-in weights, torch)."""
    if backend:
        return format_by_name(backend)
    if engine is None:
        return format_by_name("torch")
    path = Path(engine)
    if path.is_dir():
        manifest = read_manifest(path)
        return format_by_name(str(manifest.get("format", "?")))
    if not path.exists():
        raise EngineError(f"{path}: engine not found")
    for fmt in FORMATS:
        if path.suffix.lower() in fmt.suffixes:
            return fmt
    known = ", ".join(s for f in FORMATS for s in f.suffixes)
    raise EngineError(f"{path}: unknown engine suffix '{path.suffix}' (known: {known}, or a bundle folder)")


def load_backend(engine: str | Path | None = None, backend: str | None = None, threads: int | None = None):
    """Construct the backend for an engine path; a missing library gives one clear line."""
    fmt = resolve_format(engine, backend)
    module_name, cls_name = fmt.backend.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
        return cls(str(engine) if engine is not None else None, threads=threads)
    except ModuleNotFoundError as exc:
        raise EngineError(f"backend '{fmt.name}' needs {fmt.requires}: {exc}") from None
