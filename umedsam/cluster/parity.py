"""``umedsam-parity --cluster``: each worker holds both engines and judges whole cases; the driver
aggregates exactly as :func:`umedsam.metrics.parity.run_parity` does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from umedsam.cluster.runner import ClusterOptions, cluster_report, run_cases, start
from umedsam.cluster.weights import heaviest_first
from umedsam.metrics.parity import CaseParity, ParityReport, Tolerances, precision_class, summarize_parity


def parity_distributed(reference: str | None, candidate: str, cases: list[Path], gts_dir: Path | None,
                       options: ClusterOptions, reference_backend: str | None = None,
                       candidate_backend: str | None = None, precision: str | None = None,
                       tolerances: Callable[[str], Tolerances] | None = None,
                       predictor_kwargs: dict[str, Any] | None = None,
                       on_case: Callable[[CaseParity], None] | None = None) -> tuple[ParityReport, dict[str, Any]]:
    """The parity report over ``cases`` computed on the cluster, and the cluster report."""
    t0 = time.perf_counter()
    cluster = start(options, candidate, candidate_backend, predictor_kwargs, reference or "builtin", reference_backend)
    results: dict[Path, CaseParity] = {}
    per_case: list[dict[str, Any]] = []
    try:
        first = cluster.info["worker_info"][0]
        ref_info, cand_info = first["reference"], first["candidate"]
        cls = precision or precision_class(cand_info, ref_info)
        tol = tolerances(cls) if tolerances is not None else Tolerances.for_precision(cls)

        def submit(actor, path: Path):
            gt = gts_dir / path.name if gts_dir is not None else None
            return actor.parity.remote(path.name, path.read_bytes(),
                                       gt.read_bytes() if gt is not None and gt.is_file() else None, tol)

        def failed(path: Path, message: str) -> CaseParity:
            return CaseParity(path.name, "?", 0, error=f"{path}: {message}")

        def on_result(path: Path, r: CaseParity, attempts: int, worker: int) -> None:
            results[path] = r
            per_case.append({"case": path.name, "ok": r.error is None, "worker": worker, "attempts": attempts,
                             "seconds": r.seconds, "error": r.error})
            if on_case is not None:
                on_case(r)

        run_cases(cluster, heaviest_first([Path(c) for c in cases]), submit, on_result, failed)
    finally:
        report = cluster_report(cluster, t0, per_case)
        cluster.close()
    ordered = [results[Path(c)] for c in cases if Path(c) in results]
    return summarize_parity(ref_info, cand_info, cls, tol, ordered), report
