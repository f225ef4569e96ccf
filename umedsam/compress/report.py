"""Markdown for people: per-layer ranks, params, FLOPs, errors; overall size, speed and accuracy."""

from __future__ import annotations

from typing import Any

from umedsam.common import markdown_table, speed_ratio
from umedsam.train.evaluate import accuracy_table


def layer_table(layers: list) -> str:
    rows = []
    for r in layers:
        shape = f"{r.shape[0]}→{r.shape[1]}" + (f" ({r.shape[2] ** 0.5:.0f}x{r.shape[2] ** 0.5:.0f})" if r.shape[2] > 1 else "")
        rows.append([r.name.replace("image_encoder.", "enc.").replace("mask_decoder.", "dec."), r.kind, shape,
                     "×".join(str(x) for x in r.ranks), f"{r.params_before / 1e3:.1f}k → {r.params_after / 1e3:.1f}k",
                     f"{r.gmacs_before:.3f} → {r.gmacs_after:.3f}", f"{r.rel_error:.3f}",
                     "" if r.sensitivity is None else f"{r.sensitivity:.2f}"])
    return markdown_table(["layer", "kind", "in→out", "rank", "params", "GMACs/image", "rel. error",
                           "sensitivity"], rows)


def per_case_table(accuracy: dict[str, Any]) -> str:
    tags = list(accuracy)
    cases = [c["case"] for c in accuracy[tags[0]]["per_case"]]
    rows = []
    for i, name in enumerate(cases):
        first = accuracy[tags[0]]["per_case"][i]
        row = [name, f"{first['ref_dsc']:.4f}"]
        for t in tags:
            c = accuracy[t]["per_case"][i]
            row.append(f"{c['cand_dsc']:.4f} ({(c['cand_dsc'] - c['ref_dsc']) * 100:+.2f})")
        rows.append(row)
    return markdown_table(["case", "DSC original"] + [f"DSC {t} recovery (Δ pts)" for t in tags], rows)


def to_markdown(report) -> str:
    s = report.result.summary
    lat = report.latency
    parts = [
        f"## Compression ({s['mode']}{_target(s)}"
        f", {'data-aware' if s['data_aware'] else 'weight'} SVD, "
        f"{'sensitivity-weighted' if s['sensitivity_weighted'] else 'unweighted'})",
        markdown_table(["", "original", "compressed", "ratio"], [
            ["encoder GFLOPs / image", f"{s['encoder_gflops_before']:.2f}", f"{s['encoder_gflops_after']:.2f}",
             f"{s['encoder_flops_ratio']:.3f}"],
            ["encoder params", f"{s['encoder_params_before'] / 1e6:.3f} M", f"{s['encoder_params_after'] / 1e6:.3f} M",
             f"{s['encoder_params_after'] / s['encoder_params_before']:.3f}"],
            ["model params", f"{s['params_before'] / 1e6:.3f} M", f"{s['params_after'] / 1e6:.3f} M",
             f"{s['params_after'] / s['params_before']:.3f}"],
            [f"encoder p50 ({lat['backend']})", f"{lat['original']['p50_ms']:.0f} ms",
             f"{lat['compressed']['p50_ms']:.0f} ms", speed_ratio(lat['speedup'])],
        ]),
        f"### Factorized layers ({s['factorized_layers']}; rel. error = share of the layer's output lost on the "
        f"calibration data for data-aware SVD, of the weights otherwise)",
        layer_table(report.result.layers),
    ]
    if report.accuracy:
        parts += [f"### Accuracy on `{next(iter(report.accuracy.values()))['data']}` (evaluation cases, kept apart "
                  f"from calibration and recovery)", accuracy_table(report.accuracy, lambda tag: f"{tag} recovery", "low-rank gate"), per_case_table(report.accuracy)]
    if report.local is not None and report.local.steps:
        loc = report.local
        parts.append(f"Stage-local recovery: {loc.steps} steps in {loc.seconds:.0f} s (teacher caching included); "
                     "stage output relMSE first → last: " + ", ".join(
                         f"{k} {v[0]:.3f} → {v[1]:.3f}" for k, v in loc.stage_error.items()))
    if report.recovery is not None:
        r = report.recovery
        last = r.history[-1] if r.history else {}
        parts.append(f"End-to-end recovery: {r.steps} steps in {r.seconds:.0f} s, {r.trainable_params / 1e6:.2f} M trainable "
                     f"parameters (the factorized layers), last losses: "
                     + ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k not in ("step", "seconds"))
                     + "; learned σ: " + ", ".join(f"{k} {v:.2f}" for k, v in r.sigma.items()))
    return "\n\n".join(parts)


def _target(summary: dict[str, Any]) -> str:
    if summary.get("target_flops_ratio") is None:
        return f", energy {summary.get('energy')}"
    return f", target FLOPs ratio {summary['target_flops_ratio']:.2f}"
