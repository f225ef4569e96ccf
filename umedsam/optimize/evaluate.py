"""The evaluator: a candidate through the parity gate against the FP32 model, then timed on this machine.

* **Gate** (:func:`umedsam.metrics.parity.run_parity`) on the held-out ``--data`` cases against the FP32
  checkpoint on PyTorch, with the tolerances of the candidate's precision class (docs/METRICS.md,
  "Parity gate"): FP32 engines strictly, FP16 looser, INT8 and low rank by masks and DSC/NSD drops.
  The FP32 model's own DSC/NSD is reported next to every candidate's.
* **Warm per-case time**: every case segmented ``rounds`` times in one warm process (after the gate
  has compiled and warmed the engine), the median per case, then the mean over cases.
* **Cold start**: a fresh interpreter that opens the engine and segments the first case
  (:func:`umedsam.bench.coldstart.measure`), what a per-case container pays.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from umedsam.bench import coldstart
from umedsam.data.npz import load_case
from umedsam.errors import UmedsamError
from umedsam.metrics.parity import ReferenceMemo, run_parity
from umedsam.runtime.predictor import Predictor


@dataclass
class Evaluation:
    """What the search decides with, and what the report prints per candidate."""

    passed: bool = False
    gate_class: str = ""
    failures: list[str] = field(default_factory=list)
    ref_dsc: float = math.nan
    dsc: float = math.nan
    dsc_delta: float = math.nan
    ref_nsd: float = math.nan
    nsd: float = math.nan
    nsd_delta: float = math.nan
    min_agreement: float = math.nan
    min_case_boundary: float = math.nan
    case_s: float = math.nan           # mean over cases of the median warm per-case time
    per_case_s: dict[str, float] = field(default_factory=dict)
    cold_start_s: float = math.nan
    size_mb: float = math.nan
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def engine_size_mb(engine: Path) -> float:
    """Bytes on disk of an engine (a bundle's files, or a checkpoint and its sidecar), in MB."""
    files = [p for p in engine.rglob("*") if p.is_file()] if engine.is_dir() else \
        [p for p in (engine, engine.with_suffix(".factorized.json")) if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def _warm_times(predictor: Predictor, cases: list, rounds: int) -> dict[str, float]:
    """Median seconds per case over ``rounds`` passes (the gate has already compiled and warmed the engine)."""
    samples: dict[str, list[float]] = {c.name: [] for c in cases}
    for _ in range(max(1, rounds)):
        for case in cases:
            start = time.perf_counter()
            predictor.segment_case(case.kind, case.imgs, case.boxes)
            samples[case.name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in samples.items()}


def evaluate_candidate(engine: Path | None, backend: str | None, reference: Predictor, cases: list[Path],
                       gts_dir: Path | None, threads: int | None = None, rounds: int = 2,
                       cold_start: bool = True, memo: ReferenceMemo | None = None) -> Evaluation:
    """Gate and time one engine (None = the checkpoint itself on PyTorch).

    ``memo``: the reference's results of earlier candidates on these cases, reused (computed once per search).
    """
    ev = Evaluation()
    try:
        cand = Predictor(engine, backend=backend, threads=threads)
        with cand:
            report = run_parity(reference, cand, cases, gts_dir, memo=memo)
            cand.backend = cand.backend.inner  # the same opened engine, timed without the parity recorder
            times = _warm_times(cand, [load_case(p) for p in cases], rounds)
        o = report.overall
        ev.passed, ev.gate_class = report.passed, report.precision
        ev.failures = report.failures + [f"{c.case}: {f}" for c in report.cases for f in c.failures] + \
            [f"{c.case}: {c.error}" for c in report.cases if c.error]
        for k in ("ref_dsc", "dsc_delta", "ref_nsd", "nsd_delta", "min_agreement", "min_case_boundary"):
            setattr(ev, k, float(o.get(k, math.nan)))
        ev.dsc, ev.nsd = float(o.get("cand_dsc", math.nan)), float(o.get("cand_nsd", math.nan))
        ev.per_case_s = times
        ev.case_s = statistics.fmean(ev.per_case_s.values())
        if cold_start:
            cold = coldstart.measure(str(engine) if engine is not None else "builtin", str(cases[0]), threads, backend)
            ev.cold_start_s = float(cold.get("wall_s", math.nan)) if "error" not in cold else math.nan
            if "error" in cold:
                ev.failures.append(f"cold start: {cold['error']}")
        if engine is not None:
            ev.size_mb = engine_size_mb(engine)
    except UmedsamError as exc:
        ev.passed, ev.error = False, str(exc)
    return ev
