"""Benchmark output: the markdown tables on stdout and the PNG chart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from umedsam.common import markdown_table, speed_ratio, write_bytes_atomic

_STAGE_LABELS = {"preprocess": "preprocess", "encoder": "encoder",
                 "decoder_new_image_1box": "decoder (1 box, new image)", "decoder_1box": "decoder (1 box)",
                 "decoder_per_box_16": "decoder per box (16)", "postprocess_per_box": "postprocess per box"}


def _ms(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "n/a"
    return (f"{stats['p50'] * 1e3:.1f} [{stats['p90'] * 1e3:.1f}/{stats['p99'] * 1e3:.1f}] "
            f"({stats['mean'] * 1e3:.1f}±{stats['std'] * 1e3:.1f})")


def _x(v: float | None) -> str:
    return speed_ratio(v)


def _compressed(e: dict[str, Any]) -> bool:
    return bool(e.get("info", {}).get("compression"))


def _name(e: dict[str, Any]) -> str:
    method = (e.get("info", {}).get("quantization") or {}).get("method")
    comp = e.get("info", {}).get("compression") or {}
    lowrank = f" lowrank {comp['encoder_flops_ratio']:.2f}" if comp.get("encoder_flops_ratio") else ""
    return (f"{e['backend']} {e['precision']}" + (f"/{method}" if method else "") + lowrank
            + ("" if e["engine"] == "builtin" else f" `{Path(e['engine']).name}`"))


def _fp32_pairs(engines: list[dict[str, Any]]) -> list[list[str]]:
    """Reduced-precision and compressed engines against the (uncompressed) FP32 engine of the same backend
    and the fastest such FP32 engine."""
    fp32 = [e for e in engines if e["precision"] == "fp32" and not _compressed(e)]
    if not fp32:
        return []
    fastest = min(fp32, key=lambda e: sum(e["case_seconds"].values()))
    rows = []
    for e in engines:
        if e in fp32:
            continue
        same = next((f for f in fp32 if f["backend"] == e["backend"]), None)
        cells = [_name(e)]
        for ref in (same, fastest):
            if ref is None:
                cells += ["n/a", "n/a"]
                continue
            enc = ref["stages"]["encoder"].get("p50", math.nan) / e["stages"]["encoder"].get("p50", math.nan)
            tot = sum(ref["case_seconds"].values()) / sum(e["case_seconds"].values())
            cells += [f"{_x(enc)} vs {_name(ref)}", _x(tot)]
        rows.append(cells)
    return rows


def _threads(cfg: dict[str, Any], engines: list[dict[str, Any]]) -> str:
    """The intra-op threads the engines ran with (what they report), not "default"."""
    used = sorted({str(e.get("info", {}).get("threads")) for e in engines if e.get("info", {}).get("threads")})
    if cfg.get("threads"):
        return str(cfg["threads"])
    return "/".join(used) + " (each backend's default)" if used else "each backend's default (not reported)"


def to_markdown(result: dict[str, Any]) -> str:
    env, cfg, engines = result["environment"], result["config"], result["engines"]
    cpu = env["cpu"]
    out = [f"CPU: {cpu['model']} ({cpu['usable_cores']} usable cores, flags {', '.join(cpu['flags']) or 'none'}); "
           f"threads {_threads(cfg, engines)}; GPU: {', '.join(g['name'] + ' SM ' + g['compute_capability'] for g in env['gpus']) or 'none'}; "
           + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
           f"Stages: {cfg['warmup']} warm-up + {cfg['iters']} rounds on `{cfg['stage_input']}`, engines interleaved "
           f"(order rotating). Cases: {len(cfg['cases'])}, {cfg['case_iters']} round(s). "
           f"Speedups are against the first engine. Milliseconds: p50 [p90/p99] (mean±std)."]
    rows = []
    for e in engines:
        st = e["stages"]
        rows.append([_name(e)] + [_ms(st[k]) for k in _STAGE_LABELS] +
                    [f"{st['encoder'].get('throughput', math.nan):.2f}", _x(e["speedup"]["encoder"])])
    out.append("### Stages (ms)\n\n" + markdown_table(["engine", *_STAGE_LABELS.values(), "encoder img/s",
                                                       "encoder speedup"], rows))
    head = ["case", "kind", "boxes"] + [_name(e) for e in engines]
    rows = []
    for name in cfg["cases"]:
        first = next(c for c in engines[0]["cases"] if c["case"] == name)
        ref = engines[0]["case_seconds"][name]
        cells = []
        for j, e in enumerate(engines):
            s = e["case_seconds"][name]
            cells.append(f"{s:.2f} s" + ("" if j == 0 else f" ({speed_ratio(ref / s)})"))
        rows.append([name, first["kind"], first["boxes"], *cells])
    totals = [f"{sum(e['case_seconds'].values()):.2f} s" + ("" if j == 0 else f" ({_x(e['speedup']['case_total'])})")
              for j, e in enumerate(engines)]
    rows.append(["**total**", "", "", *totals])
    out.append("### Cases (wall seconds in this process, median of rounds)\n\n" + markdown_table(head, rows))
    split = []
    for e in engines:
        agg: dict[str, float] = {}
        boxes = 0
        for c in e["cases"]:
            boxes += c["decoded_boxes"]
            for k, v in c["stages"].items():
                agg[k] = agg.get(k, 0.0) + v
        n = max(len({c["round"] for c in e["cases"]}), 1)
        split.append([_name(e)] + [f"{agg.get(k, 0) / n:.2f} s" for k in ("preprocess", "encode", "decode", "postprocess")]
                     + [f"{agg.get('decode', 0) / max(boxes, 1) * 1e3:.1f} ms"])
    out.append("### Where case time goes (sum over cases)\n\n" + markdown_table(
        ["engine", "preprocess", "encode", "decode", "postprocess", "decode per box"], split))
    if any("cold_start" in e for e in engines):
        rows = []
        for e in engines:
            c = e.get("cold_start", {})
            if "error" in c:
                rows.append([_name(e), f"error: {c['error']}", "", "", "", "", ""])
                continue
            rows.append([_name(e), f"{c['wall_s']:.2f} s", f"{c['import_s']:.2f} s", f"{c['load_s']:.2f} s",
                         f"{c['first_case_s']:.2f} s", f"{c['peak_rss_mb']:.0f} MB", _x(e["speedup"]["cold_start"])])
        out.append(f"### Cold start (fresh process: start → first case `{cfg['stage_input']}` segmented)\n\n" +
                   markdown_table(["engine", "wall", "imports", "engine load", "first case", "peak RSS", "speedup"], rows))
    pairs = _fp32_pairs(engines)
    if pairs:
        out.append("### Reduced precision / compressed vs FP32 (same run)\n\n" + markdown_table(
            ["engine", "encoder p50 vs same-backend FP32", "cases total", "encoder p50 vs fastest FP32", "cases total"],
            pairs))
    rows = [[_name(e), f"{e['accuracy']['dsc']:.4f}", f"{e['accuracy']['nsd']:.4f}",
             f"{e['accuracy']['min_agreement_vs_reference']:.5f}"] for e in engines]
    out.append("### Accuracy (first round; DSC/NSD vs GT when present)\n\n" +
               markdown_table(["engine", "DSC", "NSD", "min label agreement vs reference"], rows))
    return "\n\n".join(out) + "\n"


def write_chart(result: dict[str, Any], path: str | Path) -> Path | None:
    """Latency by stage per engine, and accuracy vs speed when GT was given; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import numpy as np

    engines = result["engines"]
    has_acc = any(not math.isnan(e["accuracy"]["dsc"]) for e in engines)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(13 if has_acc else 8, 4.5), squeeze=False)
    ax = axes[0, 0]
    keys = list(_STAGE_LABELS)
    width = 0.8 / max(len(engines), 1)
    for j, e in enumerate(engines):
        vals = [e["stages"][k].get("p50", 0) * 1e3 for k in keys]
        ax.bar(np.arange(len(keys)) + j * width, vals, width, label=_name(e).replace("`", ""))
    ax.set_xticks(np.arange(len(keys)) + width * (len(engines) - 1) / 2)
    ax.set_xticklabels([_STAGE_LABELS[k] for k in keys], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("ms (p50)")
    ax.set_yscale("log")
    ax.set_title("latency by stage")
    ax.legend(fontsize=7)
    if has_acc:
        ax = axes[0, 1]
        markers = "osD^v<>pPX*h"
        for j, e in enumerate(engines):  # a legend, not labels at the points: equal DSCs put them on top of each other
            total = sum(e["case_seconds"].values())
            ax.scatter(total, e["accuracy"]["dsc"], s=46, marker=markers[j % len(markers)], alpha=0.8,
                       label=_name(e).replace("`", ""))
        ax.legend(fontsize=7, loc="best")
        ax.set_xlabel("total case time (s)")
        ax.set_ylabel("mean DSC vs GT")
        ax.set_title("accuracy vs speed")
    fig.tight_layout()
    import io

    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return path
