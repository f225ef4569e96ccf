"""The format table: one row per engine kind, the single table the runtime, export, quantize and bench read.

An engine path resolves to a row by its suffix, or, for a bundle folder, by the ``format`` field of
its ``manifest.json``. ``--backend`` overrides the choice. Backends are imported lazily from
``module:class`` so that resolving a path never imports torch or any other heavy library (the torch
backend lives in :mod:`umedsam.model.torch_backend`, above the runtime; docs/ARCHITECTURE.md).

The same rows say what ``umedsam-export --target`` writes each format with (and at which precisions),
and which INT8 methods of ``umedsam-quantize`` work on it, the first being the default. Adding a format
is adding a row here and a backend file (docs/ARCHITECTURE.md, "Adding a format").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from umedsam.assets import BUILTIN
from umedsam.errors import EngineError
from umedsam.runtime import timeline
from umedsam.runtime.bundle import read_manifest


@dataclass(frozen=True)
class Format:
    """One engine kind."""

    name: str                 # format name used in manifests and --backend
    suffixes: tuple[str, ...]  # file suffixes that select it
    backend: str              # "module:Class" implementing umedsam.runtime.backends.base.Backend
    requires: str             # pip requirement a user must install to run it
    device: str               # "cpu" or "gpu"
    aliases: tuple[str, ...] = ()  # other names accepted by --backend
    export_target: str | None = None          # `umedsam-export --target` that writes it (None: not exported)
    export_precisions: tuple[str, ...] = ()    # precisions that target writes (first = default)
    quantize_methods: tuple[str, ...] = ()     # `umedsam-quantize --method`s that work on it (first = default)


_BACKENDS = "umedsam.runtime.backends"
FORMATS: tuple[Format, ...] = (
    Format("torch", (".pth", ".pt"), "umedsam.model.torch_backend:TorchBackend",
           "pip install 'umedsam[torch]'", "cpu", ("pytorch",)),
    Format("onnx", (".onnx",), f"{_BACKENDS}.onnxruntime_backend:OnnxRuntimeBackend",
           "pip install onnxruntime", "cpu", ("onnxruntime", "ort"),
           export_target="onnx", export_precisions=("fp32",), quantize_methods=("ort", "inc")),
    Format("openvino", (".xml",), f"{_BACKENDS}.openvino_backend:OpenVINOBackend",
           "pip install openvino", "cpu", ("ov",),
           export_target="openvino", export_precisions=("fp32", "fp16", "bf16"), quantize_methods=("nncf",)),
    # the C++ runtime over OpenVINO's C API; no suffix selects it: --backend native on a bundle folder
    Format("native", (), f"{_BACKENDS}.native_backend:NativeBackend",
           "umedsam native build (cmake, g++, Debian's libzip-dev nlohmann-json3-dev libssl-dev)", "cpu", ("c",)),
    Format("tensorrt", (".plan", ".engine"), f"{_BACKENDS}.tensorrt_backend:TensorRTBackend",
           "pip install tensorrt cuda-python (an NVIDIA GPU and driver are needed)", "gpu", ("trt",),
           export_target="trt", export_precisions=("fp32", "fp16", "int8")),
)


def export_targets() -> tuple[str, ...]:
    """The ``--target`` names ``umedsam-export`` accepts, in table order."""
    return tuple(f.export_target for f in FORMATS if f.export_target)


def format_by_target(target: str) -> Format:
    """The row ``umedsam-export --target TARGET`` writes."""
    for fmt in FORMATS:
        if fmt.export_target == target:
            return fmt
    raise EngineError(f"--target {target}: choose one of {', '.join(export_targets())}")


def quantize_methods() -> tuple[str, ...]:
    """Every ``umedsam-quantize --method``, in table order."""
    return tuple(m for f in FORMATS for m in f.quantize_methods)


def format_for_method(method: str) -> Format:
    """The row whose graphs ``--method METHOD`` quantizes (and writes)."""
    for fmt in FORMATS:
        if method in fmt.quantize_methods:
            return fmt
    raise EngineError(f"--method {method}: choose one of {', '.join(quantize_methods())}")


def format_by_name(name: str) -> Format:
    """Row of the table by format name or one of its aliases (``--backend``)."""
    for fmt in FORMATS:
        if name == fmt.name or name in fmt.aliases:
            return fmt
    known = ", ".join(f"{f.name}" + (f" ({'/'.join(f.aliases)})" if f.aliases else "") for f in FORMATS)
    raise EngineError(f"unknown backend '{name}' (known: {known})")




def resolve_format(engine: str | Path | None, backend: str | None = None) -> Format:
    """The format row for an engine path (None or ``builtin`` = the built-in weights, torch)."""
    if engine is not None and str(engine) == BUILTIN:
        engine = None
    if backend:
        return format_by_name(backend)
    if engine is None:
        return format_by_name("torch")
    path = Path(engine)
    if path.is_dir():
        return format_by_name(str(read_manifest(path)["format"]))
    if not path.exists():
        raise EngineError(f"{path}: engine not found")
    for fmt in FORMATS:
        if path.suffix.lower() in fmt.suffixes:
            return fmt
    known = ", ".join(s for f in FORMATS for s in f.suffixes)
    raise EngineError(f"{path}: unknown engine suffix '{path.suffix}' (known: {known}, or a bundle folder)")


def load_backend(engine: str | Path | None = None, backend: str | None = None, threads: int | None = None,
                 verify: bool = True):
    """Construct the backend for an engine path; a missing library gives one clear line.

    ``verify=False`` skips the bundle's sha256 check (backends that open bundles only; a ``.pth`` has
    no manifest to check against).
    """
    if engine is not None and str(engine) == BUILTIN:
        engine = None
    fmt = resolve_format(engine, backend)
    module_name, cls_name = fmt.backend.split(":")
    try:
        with timeline.span(f"import the {fmt.name} backend and its library"):
            cls = getattr(importlib.import_module(module_name), cls_name)
    except ModuleNotFoundError as exc:
        raise EngineError(f"backend '{fmt.name}' is not installed ({exc}); {fmt.requires}") from None
    try:
        extra = {} if verify or not getattr(cls, "opens_bundles", False) else {"verify": False}
        return cls(str(engine) if engine is not None else None, threads=threads, **extra)
    except ModuleNotFoundError as exc:
        raise EngineError(f"backend '{fmt.name}' is not installed ({exc}); {fmt.requires}") from None
