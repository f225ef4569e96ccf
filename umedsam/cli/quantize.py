"""``umedsam-quantize``: FP32 engine -> INT8 bundle (ONNX Runtime QDQ, OpenVINO NNCF, neural-compressor), gated.

Drops are in DSC/NSD points (``--max-dsc-drop 0.5`` = 0.005, docs/FLAGS.md, "Units and flags"). The INT8 bundle is
always run through the parity gate against the FP32 bundle; one over the tolerated drop is written
with ``status: failed`` and the command exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import exit_on_sigterm, fail, make_app, progress, warn
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def quantize(
    engine: Optional[str] = typer.Option(None, "--engine", help="FP32 bundle (ONNX for ort/inc; OpenVINO or ONNX for nncf), checkpoint, or 'builtin' (default)."),
    calib: Path = typer.Option(..., "--calib", help="Calibration cases (npz folder), kept apart from --data."),
    out: Path = typer.Option(..., "-o", "--out", help="INT8 bundle folder."),
    method: Optional[str] = typer.Option(None, "--method", help="ort (ONNX Runtime QDQ) | nncf (OpenVINO NNCF) | inc (Intel neural-compressor); default: the one that fits the engine (ort for ONNX bundles and checkpoints, nncf for OpenVINO)."),
    preset: str = typer.Option("transformer", "--preset", help="full | transformer | encoder | weights (see umedsam/quantize/presets.py)."),
    max_dsc_drop: float = typer.Option(0.5, "--max-dsc-drop", help="Tolerated mean DSC drop vs FP32, in points."),
    max_nsd_drop: float = typer.Option(0.7, "--max-nsd-drop", help="Tolerated mean NSD drop vs FP32, in points."),
    min_agreement: float = typer.Option(0.5, "--min-agreement", help="Least per-label Dice between INT8 and FP32 masks: no object lost (search and gate)."),
    min_boundary: float = typer.Option(0.95, "--min-boundary", help="Least per-case fraction of mask boundary within 1 model pixel of FP32's (search and gate)."),
    search: bool = typer.Option(True, "--search/--no-search", help="Accuracy-aware: rank blocks by sensitivity, keep the most sensitive in float until validation holds (ort, nncf)."),
    nncf_accuracy_control: bool = typer.Option(False, "--nncf-accuracy-control", help="nncf: NNCF's quantize_with_accuracy_control (our DSC as its metric) instead of umedsam's block search."),
    val: Optional[Path] = typer.Option(None, "--val", help="Validation cases with GT for the search (default: the --calib folder)."),
    val_cases: Optional[int] = typer.Option(None, "--val-cases", help="Use at most this many validation cases."),
    data: Optional[Path] = typer.Option(None, "--data", help="Gate cases with GT (default: DSB2018 q3/q4 + a phantom)."),
    gts: Optional[Path] = typer.Option(None, "--gts", help="GT folder for --data (default: gts/ beside imgs/)."),
    samples: int = typer.Option(300, "--samples", help="Most calibration images."),
    per_channel: bool = typer.Option(True, "--per-channel/--per-tensor", help="Per-channel weight scales (ort, inc)."),
    reduce_range: bool = typer.Option(False, "--reduce-range", help="7-bit weights (ort, inc): for AVX2/AVX-512 CPUs without VNNI."),
    calibration: str = typer.Option("minmax", "--calibration", help="ort: minmax | entropy | percentile."),
    max_evals: int = typer.Option(6, "--max-evals", help="Validation runs the search may spend."),
    inc_python: Optional[Path] = typer.Option(None, "--inc-python", help="Python with onnx-neural-compressor (default: UMEDSAM_INC_PYTHON or .venv-inc)."),
    smooth_quant_alpha: float = typer.Option(0.5, "--smooth-quant-alpha", help="inc: SmoothQuant alpha (0 disables SmoothQuant)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads (default: all cores)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing bundle folder."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the result row, search and gate as JSON."),
) -> None:
    """Quantize an FP32 engine to INT8 and gate it against FP32; prints the table."""
    try:
        from umedsam.quantize import QuantizeOptions, quantize_bundle, summary_row, summary_table
    except ModuleNotFoundError as exc:
        raise fail(f"umedsam-quantize needs the quantization tools ({exc}): pip install 'umedsam[quantize]'")
    opts = QuantizeOptions(method=method, preset=preset, max_dsc_drop=max_dsc_drop / 100, max_nsd_drop=max_nsd_drop / 100,
                           min_agreement=min_agreement, min_boundary=min_boundary, search=search, nncf_accuracy_control=nncf_accuracy_control, val=val, val_cases=val_cases, data=data, gts=gts, samples=samples,
                           per_channel=per_channel, reduce_range=reduce_range, calibration=calibration,
                           max_evals=max_evals, inc_python=inc_python,
                           smooth_quant_alpha=smooth_quant_alpha or None, threads=threads, force=force)
    exit_on_sigterm()
    try:
        result = quantize_bundle(engine, calib, out, opts, log=lambda s: typer.echo(f"· {s}", err=True),
                                 progress=progress)
    except UmedsamError as exc:
        raise fail(str(exc))
    for note in result.notes:
        warn(note)
    row = summary_row(result, out)
    q = result.manifest["quantization"]
    typer.echo(summary_table([row]))
    if q.get("float_blocks"):
        search = q.get("search", {})
        sens = {r["block"]: r["sensitivity"] for r in search.get("ranking", [])}
        typer.echo("\nkept in float (most sensitive first; sensitivity = 1 - cosine of the stage output with "
                   "only that block INT8):")
        for b in q["float_blocks"]:
            typer.echo(f"  {b}: {sens.get(b, float('nan')):.2e}")
    if q.get("validation"):
        v = q["validation"]
        typer.echo(f"\nvalidation ({v['cases']} cases, search/selection only): DSC drop {v['dsc_drop'] * 100:+.2f}, "
                   f"NSD drop {v['nsd_drop'] * 100:+.2f} points, vs FP32: min label Dice {v['min_agreement']:.4f}, "
                   f"min case boundary {v['min_case_boundary']:.4f}")
    typer.echo(f"\ngate (INT8 vs FP32 on the --data cases):\n{result.parity.to_markdown()}")
    if json_out is not None:
        from umedsam.common import write_json

        write_json(json_out, {"row": row, "manifest": result.manifest, "parity": result.parity.to_json()})
    typer.echo(f"\nbundle: {out} (int8, {q['method']}/{q['preset']}, status {result.manifest['status']})")
    if result.manifest["status"] != "passed":
        why = result.manifest.get("status_reason") or "the gate against FP32 is over the tolerated drop"
        raise fail(f"{out}: INT8 FAILED ({why}; bundle kept, manifest status 'failed')")


if __name__ == "__main__":
    app()
