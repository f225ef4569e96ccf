"""The INT8 bundle against its FP32 source: the parity gate and the side-by-side stage latency."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from umedsam.data.npz import find_gts, require_cases
from umedsam.export.check import write_check_cases
from umedsam.metrics.parity import ParityReport, Tolerances, run_parity, with_overrides
from umedsam.quantize.options import QuantizeOptions
from umedsam.runtime.formats import load_backend
from umedsam.runtime.predictor import Predictor


def gate(src: Path, candidate: Path, opts: QuantizeOptions, work: Path, log: Callable[[str], None]) -> ParityReport:
    """The parity gate of the INT8 bundle against its FP32 source on ``opts.data`` (INT8 tolerances)."""

    data = opts.data
    if data is None:
        data, _ = write_check_cases(work / "gate")
    cases = require_cases(data)
    tol = with_overrides(Tolerances.for_precision("int8"), max_dsc_drop=opts.max_dsc_drop, max_nsd_drop=opts.max_nsd_drop,
                         min_agreement=opts.min_agreement, min_boundary_agreement=opts.min_boundary)
    log(f"parity gate: INT8 vs FP32 on {len(cases)} cases from {data}")
    with Predictor(src, threads=opts.threads) as ref, Predictor(candidate, threads=opts.threads) as cand:
        return run_parity(ref, cand, cases, find_gts(data, opts.gts), tol,
                          on_case=lambda c: log(f"gate {c.case}: min agreement {c.min_agreement:.4f}"))


def parity_summary(report: ParityReport) -> dict[str, Any]:
    """What the manifest records of the gate."""
    return {"passed": report.passed, "precision": report.precision, "tolerances": asdict(report.tolerances),
            "overall": report.overall, "failures": report.failures + [f"{c.case}: {f}" for c in report.cases for f in c.failures],
            "cases": {c.case: {"min_agreement": c.min_agreement, "ref_dsc": c.ref_dsc, "cand_dsc": c.cand_dsc,
                               "ref_nsd": c.ref_nsd, "cand_nsd": c.cand_nsd, "error": c.error} for c in report.cases}}


def latency_ms(src: Path, candidate: Path, opts: QuantizeOptions) -> dict[str, dict[str, float]]:
    """Median ms of encoder (1 image) and decoder (1 box) calls, FP32 and INT8 interleaved."""
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 3, 256, 256)).astype(np.float32)
    box = np.array([[40, 50, 180, 200]], np.float32)
    times: dict[str, dict[str, list[float]]] = {"fp32": {"encoder": [], "decoder": []}, "int8": {"encoder": [], "decoder": []}}
    with load_backend(src, threads=opts.threads) as a, load_backend(candidate, threads=opts.threads) as b:
        engines = {"fp32": a, "int8": b}
        emb = a.encode(image)
        for name, e in engines.items():  # warm-up (first calls compile/allocate)
            e.encode(image), e.decode(emb, box)
        for _ in range(max(1, opts.latency_iters)):
            for name, e in engines.items():
                t = time.perf_counter()
                e.encode(image)
                times[name]["encoder"].append(time.perf_counter() - t)
                t = time.perf_counter()
                e.decode(emb, box)
                times[name]["decoder"].append(time.perf_counter() - t)
    return {n: {s: round(float(np.median(v)) * 1000, 1) for s, v in d.items()} for n, d in times.items()}
