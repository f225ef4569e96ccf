"""``export_bundle``: checkpoint -> bundle folder (graphs + manifest), checked against PyTorch.

The bundle is assembled in a temporary sibling folder and renamed into place at the end, so an
interrupted export never leaves a half-written bundle where a user (or CI) would pick it up. A
failing export-time check keeps the files but marks the manifest ``"status": "failed"``; the CLI
then exits non-zero.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from umedsam.assets import is_builtin, resolve_checkpoint, sha256_file
from umedsam.common import commit_dir, staging_dir
from umedsam.runtime.formats import export_targets, format_by_target
from umedsam.errors import UmedsamError
from umedsam.export.manifest import build_manifest, write_manifest
from umedsam.export.onnx_export import DEFAULT_OPSET

#: the ``--target`` names, from the format table (:mod:`umedsam.runtime.formats`)
TARGETS = export_targets()


@dataclass
class ExportOptions:
    """Everything ``umedsam-export`` can set."""

    target: str = "onnx"
    precision: str = "fp32"
    opset: int = DEFAULT_OPSET
    simplify: bool = True
    merged: bool = False            # also write model.onnx with both stages (onnx target)
    split_decoder: bool = False     # also write decoder_image + decoder_box (umedsam/export/decoder_split.py)
    check: bool = True
    check_data: Path | None = None  # cases for the mask check (default: DSB2018 q3/q4 + a phantom)
    threads: int | None = None
    force: bool = False
    # TensorRT
    max_boxes: int = 256
    max_slice_batch: int = 16
    calib: Path | None = None
    workspace_gb: float = 2.0
    # build OpenVINO/TensorRT from an existing ONNX bundle (e.g. the QDQ bundle of umedsam-quantize)
    # instead of exporting again; the checkpoint is still loaded for the export-time check
    from_onnx: Path | None = None


def _validate(opts: ExportOptions) -> None:
    if opts.target not in TARGETS:
        raise UmedsamError(f"--target {opts.target}: choose one of {', '.join(TARGETS)}")
    if opts.split_decoder and opts.target == "trt":
        raise UmedsamError("--split-decoder: ONNX and OpenVINO bundles only (TensorRT batches the boxes instead)")
    if opts.split_decoder and opts.from_onnx is not None:
        raise UmedsamError("--split-decoder with --from-onnx: the split graphs come from the checkpoint, "
                           "not from that bundle's (possibly quantized) decoder")
    allowed = format_by_target(opts.target).export_precisions
    if opts.precision not in allowed:
        hint = ("for INT8 CPU bundles run umedsam-quantize on an fp32 bundle" if opts.precision == "int8"
                else "use --target openvino --precision fp16 or --target trt")
        raise UmedsamError(f"--precision {opts.precision}: --target {opts.target} writes {', '.join(allowed)}; {hint}")


def export_bundle(ckpt: str | Path | None, out: str | Path, opts: ExportOptions,
                  log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Export ``ckpt`` (None = built-in weights) to the bundle folder ``out``; returns its manifest."""
    _validate(opts)
    out = Path(out)
    src = _source_onnx(opts) if opts.from_onnx is not None else None
    if ckpt is None and src is not None and not src.manifest.get("source", {}).get("builtin", True):
        ckpt = src.manifest["source"]["checkpoint"]  # the check compares against what the ONNX came from
    ckpt = None if is_builtin(ckpt) else ckpt
    ckpt_path = resolve_checkpoint(ckpt)
    if opts.target == "openvino":  # fail fast, before a minute of export
        try:
            import openvino  # noqa: F401
        except ImportError:
            raise UmedsamError("--target openvino needs OpenVINO: pip install openvino") from None
    trt_ctx = None
    if opts.target == "trt":  # fail fast, before a minute of export, when TensorRT or a GPU is missing
        from umedsam.export.tensorrt_export import check_target, onnx_has_qdq

        has_qdq = src is not None and onnx_has_qdq(src.graphs["encoder"])
        trt_ctx = check_target(opts.precision, has_qdq=has_qdq, has_calibration=opts.calib is not None)

    from umedsam.model import load_checkpoint
    from umedsam.export.onnx_export import export_stage, merge_stages

    model = load_checkpoint(ckpt_path)
    tmp = staging_dir(out, opts.force)
    try:
        start = time.perf_counter()
        onnx_dir = tmp if opts.target == "onnx" else tmp / "onnx"
        onnx_dir.mkdir(exist_ok=True)
        stages: dict[str, Any] = {}
        split = ("decoder_image", "decoder_box") if opts.split_decoder else ()
        for stage in ("encoder", "decoder") + split:
            if src is not None:
                shutil.copyfile(src.graphs[stage], onnx_dir / f"{stage}.onnx")
                stages[stage] = {"onnx": {"copied_from": str(src.graphs[stage]), "seconds": 0.0,
                                          "bytes": (onnx_dir / f"{stage}.onnx").stat().st_size}}
                continue
            log(f"exporting {stage} to ONNX (opset {opts.opset})")
            stages[stage] = {"onnx": export_stage(model, stage, onnx_dir / f"{stage}.onnx", opts.opset, opts.simplify)}
        graphs = {s: f"{s}.onnx" for s in stages}
        extra: dict[str, Any] = {"opset": src.manifest.get("opset", opts.opset) if src else opts.opset}
        if src is not None:
            extra["from_onnx"] = {"bundle": str(src.root), "files": src.manifest.get("files", {})}
            if src.manifest.get("quantization"):
                extra["quantization"] = src.manifest["quantization"]
        if opts.target == "onnx" and opts.merged:
            merge_stages(onnx_dir / "encoder.onnx", onnx_dir / "decoder.onnx", onnx_dir / "model.onnx")
            extra["merged_graph"] = "model.onnx"
        if opts.target == "openvino":
            from umedsam.export.openvino_export import convert_stage

            for stage in stages:
                log(f"converting {stage} to OpenVINO IR ({opts.precision} weights)")
                stages[stage]["openvino"] = convert_stage(onnx_dir / f"{stage}.onnx", tmp / f"{stage}.xml", opts.precision)
            shutil.rmtree(onnx_dir)
            graphs = {s: f"{s}.xml" for s in stages}
        if opts.target == "trt":
            extra.update(_build_trt(onnx_dir, tmp, stages, opts, trt_ctx, log))
            graphs = {s: f"{s}.plan" for s in stages}
        source = {"checkpoint": str(ckpt_path), "sha256": sha256_file(ckpt_path),
                  "builtin": ckpt is None}
        if model.compression:  # a factorized checkpoint: its sidecar is part of the source
            side = Path(model.compression["sidecar"])
            source["sidecar"] = {"file": str(side), "sha256": sha256_file(side)}
            extra["compression"] = {k: model.compression.get(k) for k in (
                "mode", "factorized_layers", "encoder_gflops_before", "encoder_gflops_after",
                "encoder_flops_ratio", "params_before", "params_after", "source_sha256", "recovered")}
        export_info = {"seconds": round(time.perf_counter() - start, 2), "simplify": opts.simplify,
                       "stages": stages}
        manifest = build_manifest(tmp, format_by_target(opts.target).name, opts.precision, graphs, source,
                                  export_info, extra)
        write_manifest(tmp, manifest)
        if opts.check:
            manifest = _run_check(model, tmp, manifest, opts, log)
        commit_dir(tmp, out)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _source_onnx(opts: ExportOptions):
    """The ONNX bundle to build from (``--from-onnx``), validated."""
    from umedsam.runtime.bundle import open_bundle

    if opts.target == "onnx":
        raise UmedsamError("--from-onnx builds OpenVINO or TensorRT from an ONNX bundle; --target onnx has nothing to do")
    src = open_bundle(opts.from_onnx)
    if src.format != "onnx" or src.merged:
        raise UmedsamError(f"{opts.from_onnx}: --from-onnx needs an ONNX bundle folder with encoder and decoder graphs")
    return src


def _run_check(model, folder: Path, manifest: dict[str, Any], opts: ExportOptions,
               log: Callable[[str], None]) -> dict[str, Any]:
    from umedsam.export.check import export_check
    from umedsam.runtime.formats import load_backend

    log("export-time check against PyTorch")
    start = time.perf_counter()
    with load_backend(folder, threads=opts.threads) as backend:
        precision = "int8" if manifest.get("quantization") else opts.precision
        result = export_check(model, backend, precision, opts.check_data, opts.threads)
    result["seconds"] = round(time.perf_counter() - start, 2)
    result["backend"] = manifest["format"]
    manifest["parity"] = result
    manifest["status"] = "passed" if result["passed"] else "failed"
    write_manifest(folder, manifest)
    return manifest


def _build_trt(onnx_dir: Path, out: Path, stages: dict[str, Any], opts: ExportOptions, trt_ctx,
               log: Callable[[str], None]) -> dict[str, Any]:
    from umedsam.export.tensorrt_export import build_engine
    from umedsam.export.tensorrt_rules import profiles

    trt, gpu, plan = trt_ctx
    prof = profiles(opts.max_boxes, opts.max_slice_batch)
    calib = None
    calib_hash = None
    if plan.int8_mode == "implicit":
        from umedsam.runtime.calibration import calibration_hash, calibration_images

        calib, calib_hash = calibration_images(opts.calib), calibration_hash(opts.calib)
    for stage in stages:
        log(f"building TensorRT {plan.precision} engine for the {stage} on {gpu[0]}")
        stages[stage]["tensorrt"] = build_engine(onnx_dir / f"{stage}.onnx", out / f"{stage}.plan", stage, plan,
                                                 prof[stage], gpu, calib if stage == "encoder" else None,
                                                 opts.workspace_gb, calib_hash)
    extra: dict[str, Any] = {}
    if plan.int8:
        extra["quantization"] = {"method": f"tensorrt-{plan.int8_mode}", "calibration_sha256": calib_hash}
    return {**extra, "gpu": {"name": gpu[0], "compute_capability": f"{gpu[1][0]}.{gpu[1][1]}"},
            "tensorrt": {"version": trt.__version__, "profiles": {k: {n: [list(s) for s in v] for n, v in p.items()}
                                                                  for k, p in prof.items()},
                         "plan": {"int8_mode": plan.int8_mode, "fp16": plan.fp16, "notes": list(plan.notes)},
                         "calibration_sha256": calib_hash}}
