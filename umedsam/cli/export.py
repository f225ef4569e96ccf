"""``umedsam-export``: checkpoint -> bundle folder (ONNX / OpenVINO / TensorRT) with a checked manifest."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import exit_on_sigterm, fail, make_app
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def export(
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Checkpoint .pth, or 'builtin' (the default): the built-in LiteMedSAM weights."),
    target: str = typer.Option("onnx", "--target", help="onnx | openvino | trt"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Bundle folder (default: bundles/<ckpt>-<target>-<precision>)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (all targets), fp16 (openvino, trt), bf16 (openvino: FP16 weights, bfloat16 compute on CPUs with AMX/AVX-512 BF16), int8 (trt)."),
    opset: int = typer.Option(18, "--opset", help="ONNX opset (>= 17: LayerNorm as one node)."),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="Simplify the ONNX graphs with onnxslim."),
    merged: bool = typer.Option(False, "--merged", help="Also write model.onnx with both stages in one graph."),
    split_decoder: bool = typer.Option(False, "--split-decoder", help="Also write the decoder split in two graphs: its box-independent part once per image (decoder_image), the rest per box (decoder_box)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Export-time check against PyTorch."),
    check_data: Optional[Path] = typer.Option(None, "--check-data", help="Cases for the mask check (default: DSB2018 q3/q4 + a phantom)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads for the check (default: all cores)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing bundle folder."),
    max_boxes: int = typer.Option(256, "--max-boxes", help="TensorRT: most boxes per decoder call."),
    max_slice_batch: int = typer.Option(16, "--max-slice-batch", help="TensorRT: most slices per encoder call."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="TensorRT INT8 on TensorRT 8.6: calibration cases."),
    from_onnx: Optional[Path] = typer.Option(None, "--from-onnx", help="Build openvino/trt from this ONNX bundle (e.g. a QDQ INT8 one) instead of re-exporting."),
) -> None:
    """Export CKPT to a bundle: encoder + decoder graphs, manifest.json, and a parity check.

    Exits 1 when the export-time check fails (the files are kept, marked failed in the manifest).
    """
    try:
        from umedsam.export import ExportOptions, export_bundle
    except ModuleNotFoundError as exc:
        raise fail(f"umedsam-export needs the export tools ({exc}): pip install 'umedsam[export]'")

    from umedsam.assets import is_builtin

    ckpt = None if is_builtin(ckpt) else ckpt
    name = ckpt.stem if ckpt else "lite_medsam"
    out = out or Path("bundles") / f"{name}-{target}-{precision}"
    opts = ExportOptions(target=target, precision=precision, opset=opset, simplify=simplify, merged=merged,
                         split_decoder=split_decoder,
                         check=check, check_data=check_data, threads=threads, force=force, max_boxes=max_boxes,
                         max_slice_batch=max_slice_batch, calib=calib, from_onnx=from_onnx)
    exit_on_sigterm()
    try:
        manifest = export_bundle(ckpt, out, opts, log=lambda s: typer.echo(f"· {s}", err=True))
    except UmedsamError as exc:
        raise fail(str(exc))
    from umedsam.export.manifest import export_summary

    typer.echo(export_summary(manifest))
    typer.echo(f"\nbundle: {out} ({manifest['format']}, {manifest['precision']}, status {manifest['status']})")
    ref = str(ckpt) if ckpt else "(built-in)"
    typer.echo("next:")
    typer.echo(f"  umedsam-predict --engine {out} -i CASES -o SEGS")
    typer.echo(f"  umedsam-parity --reference {ref if ckpt else 'builtin'} --candidate {out} --data CASES")
    if importlib.util.find_spec("umedsam.cli.bench") is not None:
        typer.echo(f"  umedsam-bench --engine {ref if ckpt else 'builtin'} --engine {out}")
    if manifest["status"] == "failed":
        raise fail(f"{out}: export-time check FAILED (files kept; manifest status 'failed')")


if __name__ == "__main__":
    app()
