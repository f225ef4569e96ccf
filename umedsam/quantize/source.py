"""The FP32 bundle a method quantizes, and writing a candidate INT8 bundle's manifest.

A checkpoint (or ``builtin``) is exported first; an ONNX bundle converts to OpenVINO IR for NNCF. Which
format a method needs comes from the format table (:func:`umedsam.runtime.formats.format_for_method`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from umedsam.errors import UmedsamError
from umedsam.quantize.options import STAGES
from umedsam.runtime.bundle import open_bundle
from umedsam.runtime.formats import BUILTIN, format_by_name, format_for_method, resolve_format


def default_method(engine: str | Path | None) -> str:
    """The method that fits the engine: the first INT8 method of its format's row; a checkpoint is exported to
    ONNX first, so it takes the ONNX row's."""
    fmt = resolve_format(engine)
    return (fmt if fmt.quantize_methods else format_by_name("onnx")).quantize_methods[0]


def source_bundle(engine: str | Path | None, method: str, work: Path, threads: int | None,
                  log: Callable[[str], None]) -> Path:
    """An FP32 bundle folder in the format ``method`` quantizes (exported or converted when needed)."""
    want = format_for_method(method).name
    if engine is None or str(engine) == BUILTIN or str(engine).endswith((".pth", ".pt")):
        from umedsam.export import ExportOptions, export_bundle

        target = "onnx" if want == "onnx" else "openvino"
        log(f"exporting {'the built-in weights' if engine in (None, BUILTIN) else engine} to an FP32 {target} bundle")
        export_bundle(None if engine in (None, BUILTIN) else engine, work / "fp32", ExportOptions(
            target=target, check=False, threads=threads, force=True))
        return work / "fp32"
    bundle = open_bundle(engine)
    if bundle.merged:
        raise UmedsamError(f"{engine}: quantize needs a bundle folder with encoder and decoder graphs, not a merged graph")
    if bundle.manifest.get("quantization") or bundle.precision != "fp32":
        raise UmedsamError(f"{engine}: field 'precision': {bundle.precision}"
                           f"{' (already quantized)' if bundle.manifest.get('quantization') else ''}; "
                           f"quantize an FP32 bundle")
    if bundle.format == want:
        return bundle.root
    if bundle.format == "onnx" and want == "openvino":
        from umedsam.export import ExportOptions, export_bundle

        log(f"converting {engine} to OpenVINO IR for NNCF")
        export_bundle(None, work / "fp32", ExportOptions(target="openvino", check=False, force=True,
                                                         from_onnx=bundle.root, threads=threads))
        return work / "fp32"
    raise UmedsamError(f"{engine}: --method {method} quantizes {want} graphs; this is a {bundle.format} bundle "
                       f"(pass the ONNX bundle or a checkpoint)")


def write_candidate(folder: Path, fmt: str, src_manifest: dict[str, Any], stages: dict[str, Any],
                    quantization: dict[str, Any]) -> dict[str, Any]:
    """Manifest for a folder whose graphs are written; returns it."""
    from umedsam.export.manifest import build_manifest, write_manifest

    graphs = {s: f"{s}.{'onnx' if fmt == 'onnx' else 'xml'}" for s in STAGES}
    manifest = build_manifest(folder, fmt, "int8", graphs, src_manifest.get("source", {}),
                              {"stages": stages, "quantized_from": src_manifest.get("files", {})},
                              {"opset": src_manifest.get("opset"), "quantization": quantization,
                               **({"compression": src_manifest["compression"]} if src_manifest.get("compression") else {})})
    write_manifest(folder, manifest)
    return manifest


def copy_stage(src: Path, folder: Path) -> dict[str, Any]:
    """The FP32 graph of a stage, copied unchanged (with its .bin for IR)."""
    dst = folder / src.name
    shutil.copyfile(src, dst)
    size = dst.stat().st_size
    if src.suffix == ".xml":
        shutil.copyfile(src.with_suffix(".bin"), dst.with_suffix(".bin"))
        size += dst.with_suffix(".bin").stat().st_size
    return {"quantized": False, "bytes": size}
