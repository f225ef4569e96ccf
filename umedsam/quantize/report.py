"""The quantize table: one row per INT8 bundle (the CLI, the demo and the notes print it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from umedsam.common import markdown_table, speed_ratio
from umedsam.quantize.options import QuantizeResult


def summary_row(result: QuantizeResult, out: Path) -> dict[str, Any]:
    """One row of the quantize table (also what the demo and the note print)."""
    m = result.manifest
    q, o = m["quantization"], m["parity"]["overall"]
    size = sum(v.get("bytes", 0) for v in m["export"]["stages"].values())
    lat = q.get("latency_ms", {})
    return {"bundle": str(out), "method": q["method"], "preset": q["preset"], "size_mb": round(size / 1e6, 1),
            "enc_ms_fp32": lat.get("fp32", {}).get("encoder"), "enc_ms_int8": lat.get("int8", {}).get("encoder"),
            "dec_ms_fp32": lat.get("fp32", {}).get("decoder"), "dec_ms_int8": lat.get("int8", {}).get("decoder"),
            "dsc_fp32": o.get("ref_dsc"), "dsc_int8": o.get("cand_dsc"), "dsc_delta": o.get("dsc_delta"),
            "nsd_fp32": o.get("ref_nsd"), "nsd_int8": o.get("cand_nsd"), "nsd_delta": o.get("nsd_delta"),
            "min_agreement": o.get("min_agreement"), "mean_agreement": o.get("mean_agreement"),
            "min_case_boundary": o.get("min_case_boundary"),
            "float_blocks": len(q.get("float_blocks", [])), "decoder_int8": q.get("decoder_quantized"),
            "status": m["status"]}


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: method, size, latency FP32 -> INT8, DSC/NSD vs GT and deltas in points, agreement, verdict."""
    def pts(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x * 100:+.2f}"

    def f4(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x:.4f}"

    def ms(a: float | None, b: float | None) -> str:
        return "n/a" if not a or not b else f"{a:.0f} → {b:.0f} ({speed_ratio(a / b)})"

    body = [[r["method"], r["preset"], f"{r['size_mb']:.1f} MB", ms(r["enc_ms_fp32"], r["enc_ms_int8"]),
             ms(r["dec_ms_fp32"], r["dec_ms_int8"]), f"{f4(r['dsc_fp32'])} → {f4(r['dsc_int8'])}", pts(r["dsc_delta"]),
             f"{f4(r['nsd_fp32'])} → {f4(r['nsd_int8'])}", pts(r["nsd_delta"]), f4(r["min_agreement"]),
             f4(r["min_case_boundary"]), str(r["float_blocks"]), "yes" if r["decoder_int8"] else "no",
             "**passed**" if r["status"] == "passed" else "**FAILED**"] for r in rows]
    return markdown_table(["method", "preset", "size", "encoder ms FP32 → INT8", "decoder ms (1 box)",
                           "DSC vs GT", "ΔDSC pts", "NSD vs GT", "ΔNSD pts", "min label Dice vs FP32", "min case boundary ≤1px",
                           "float blocks", "decoder INT8", "gate"], body)
