"""A trained (fine-tuned or compressed) torch model against the original on held-out cases.

Both fine-tuning and compression report the same thing: the parity gate's low-rank class of the new
model against the original (DSC/NSD vs GT and their deltas, per-label mask agreement, boundary
agreement; docs/METRICS.md, "Parity gate"), and print it as one table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from umedsam.common import markdown_table
from umedsam.data.npz import find_cases, find_gts
from umedsam.errors import UmedsamError
from umedsam.metrics.parity import ReferenceMemo, run_parity
from umedsam.model.torch_backend import TorchBackend
from umedsam.runtime.predictor import Predictor


def evaluate_models(reference, candidate, data: Path, threads: int | None,
                    log: Callable[[str], None], memo: ReferenceMemo | None = None) -> dict[str, Any]:
    """The parity gate (low-rank class) of ``candidate`` vs ``reference`` on ``data``: DSC/NSD and agreement.

    Both are torch models (fine-tuned or compressed against the original).

    ``reference`` is a model or a Predictor; ``memo`` (a :class:`ReferenceMemo` of that Predictor) reuses
    its results across calls.
    """
    cases = find_cases(data)
    gts = find_gts(data)
    if not cases or gts is None:
        raise UmedsamError(f"{data}: --data needs cases with ground truth (imgs/ + gts/)")
    ref = reference if isinstance(reference, Predictor) else Predictor(
        TorchBackend.from_model(reference, threads, "original"))
    with Predictor(TorchBackend.from_model(candidate, threads, "compressed")) as cand:
        report = run_parity(ref, cand, cases, gts,
                            on_case=lambda c: log(f"eval {c.case}: DSC {c.ref_dsc:.4f} -> {c.cand_dsc:.4f}, "
                                                  f"agreement {c.min_agreement:.3f}"), memo=memo)
    o = report.overall
    return {"cases": len(cases), "data": str(data), "passed": report.passed, "failures": report.failures,
            **{k: o[k] for k in ("ref_dsc", "cand_dsc", "dsc_delta", "ref_nsd", "cand_nsd", "nsd_delta",
                                 "min_agreement", "mean_agreement", "min_case_boundary")},
            "per_case": [{"case": c.case, "ref_dsc": c.ref_dsc, "cand_dsc": c.cand_dsc, "ref_nsd": c.ref_nsd,
                          "cand_nsd": c.cand_nsd, "min_agreement": c.min_agreement} for c in report.cases]}


def accuracy_table(accuracy: dict[str, Any], row_label: Callable[[str], str] = str, gate: str = "gate") -> str:
    """Markdown: one row per evaluation (``accuracy[tag]`` from :func:`evaluate_models`), DSC/NSD and agreement."""
    rows = []
    for tag, a in accuracy.items():
        rows.append([row_label(tag), f"{a['ref_dsc']:.4f} → {a['cand_dsc']:.4f} ({a['dsc_delta'] * 100:+.2f})",
                     f"{a['ref_nsd']:.4f} → {a['cand_nsd']:.4f} ({a['nsd_delta'] * 100:+.2f})",
                     f"{a['min_agreement']:.3f}", f"{a['min_case_boundary']:.3f}",
                     "passed" if a["passed"] else "failed: " + ("; ".join(a["failures"])[:120]
                                                               or "per-label agreement / boundary below the bounds")])
    return markdown_table(["model", "DSC original → new (Δ pts)", "NSD (Δ pts)", "min label Dice vs original",
                           "min case boundary", gate], rows)
