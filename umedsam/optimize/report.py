"""``OUT/optimize.md``, ``optimize.json`` and ``optimize.png``: every candidate, the frontier, the winner."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from umedsam.common import markdown_table, speed_ratio, write_bytes_atomic, write_json, write_text_atomic
from umedsam.optimize.search import OptimizeResult


def _f(x: float, fmt: str = ".4f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _pts(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x * 100:+.2f}"


def to_markdown(result: OptimizeResult, environment: dict[str, Any] | None = None) -> str:
    """The report: settings, the candidates table (FP32's own DSC/NSD beside each), frontier, winner."""
    s = result.settings
    rows = []
    for r in result.candidates:
        e = r.evaluation
        verdict = {"evaluated": "**passed**" if e.passed else "failed", "skipped": "skipped", "error": "error"}.get(r.status, r.status)
        note = r.reason or ("; ".join(e.failures)[:160] if e.failures else "")
        rows.append([r.name, r.family, r.backend, _f(e.case_s, ".2f") + " s", speed_ratio(r.speedup),
                     _f(e.cold_start_s, ".2f") + " s", _f(e.size_mb, ".1f") + " MB",
                     f"{_f(e.ref_dsc)} → {_f(e.dsc)}", _pts(e.dsc_delta), f"{_f(e.ref_nsd)} → {_f(e.nsd)}",
                     _pts(e.nsd_delta), _f(e.min_agreement, ".3f"), _f(e.min_case_boundary, ".3f"), verdict,
                     "yes" if r.pareto else "", ("(cached) " if r.reused else "") + note])
    out = ["# umedsam-optimize", ""]
    if environment:
        cpu = environment.get("cpu", {})
        out.append(f"CPU: {cpu.get('model')} ({cpu.get('usable_cores')} usable cores; flags "
                   f"{', '.join(cpu.get('flags', [])) or 'none'}); INT8 pays here: "
                   f"{'yes (VNNI/AMX)' if s.get('int8_pays_here') else 'no (no VNNI/AMX): INT8 candidates are not chosen'}; "
                   f"bf16 computes here: "
                   f"{'yes (AMX/AVX-512 BF16)' if s.get('bf16_pays_here') else 'no: bf16 candidates run in f32 and are not chosen'}.")
    out.append(f"Checkpoint `{s.get('ckpt') or 'builtin'}`; tuning cases `{s['calib']}`; held-out gate and timing cases "
               f"`{s['data']}`; backend `{s['backend']}`; threads {s.get('threads') or 'backend default'}; budget "
               f"{s['minutes']:g} min ({result.seconds / 60:.1f} min used); low-rank recovery {s['recovery_minutes']:g} "
               f"min per ratio. Drops in DSC/NSD points against the FP32 model on PyTorch (negative = worse); "
               f"time = mean over cases of the median warm per-case time; speed against FP32 on the same backend.")
    out += ["", markdown_table(["candidate", "family", "backend", "per case", "speed vs FP32", "cold start", "size",
                                "DSC FP32 → cand.", "ΔDSC pts", "NSD FP32 → cand.", "ΔNSD pts", "min label agr.",
                                "min case boundary", "gate", "Pareto", "notes"], rows), ""]
    if result.best:
        best = next(r for r in result.candidates if r.name == result.best)
        out.append(f"**Best: `{best.name}`** ({speed_ratio(best.speedup)} than FP32 on {best.backend}, warm per case), "
                   f"copied to `best/` with the reason in its manifest.")
    else:
        out.append("**No compressed or FP32 candidate passed the gate within the budget**; the frontier above is "
                   "what this CPU and budget reached.")
    return "\n".join(out) + "\n"


def write_chart(result: OptimizeResult, path: Path) -> Path | None:
    """Per-case latency against ΔDSC; passing and failing marked, the frontier joined. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    done = [r for r in result.candidates if r.status == "evaluated" and not math.isnan(r.evaluation.case_s)]
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in done:
        ok = r.evaluation.passed
        ax.scatter(r.evaluation.case_s, r.evaluation.dsc_delta * 100, marker="o" if ok else "x", s=50,
                   color="tab:green" if ok else "tab:red", label=f"{r.name} ({'passed' if ok else 'failed'})")
    front = sorted((r for r in done if r.pareto), key=lambda r: r.evaluation.case_s)
    if len(front) > 1:
        ax.plot([r.evaluation.case_s for r in front], [r.evaluation.dsc_delta * 100 for r in front], "k--", lw=0.8,
                label="Pareto frontier")
    ax.axhline(-result.settings.get("max_dsc_drop_points", 0.5), color="grey", lw=0.6, ls=":")
    ax.set_xlabel("warm per-case time (s)")
    ax.set_ylabel("ΔDSC vs FP32 (points)")
    ax.set_title("umedsam-optimize: candidates")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return path


def write_reports(result: OptimizeResult, out: Path, environment: dict[str, Any] | None = None) -> dict[str, Path]:
    """The three files; returns their paths (the PNG only with matplotlib)."""
    paths = {"md": out / "optimize.md", "json": out / "optimize.json"}
    write_text_atomic(paths["md"], to_markdown(result, environment))
    write_json(paths["json"], {"best": result.best, "settings": result.settings, "seconds": result.seconds,
                               "environment": environment, "candidates": [r.to_json() for r in result.candidates]})
    png = write_chart(result, out / "optimize.png")
    if png is not None:
        paths["png"] = png
    return paths
