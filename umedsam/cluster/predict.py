"""``umedsam-predict --cluster``: the outputs of :func:`umedsam.runtime.batch.predict_folder`, computed by
Ray workers and written by the driver."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from umedsam.cluster.runner import ClusterOptions, cluster_report, run_cases, start
from umedsam.cluster.weights import heaviest_first
from umedsam.common import write_json, write_text_atomic
from umedsam.data.npz import find_cases, save_segs
from umedsam.runtime.batch import CaseResult
from umedsam.runtime.result import Segmentation


def predict_distributed(engine: str | None, inputs: str | Path, outputs: str | Path, options: ClusterOptions,
                        backend: str | None = None, predictor_kwargs: dict[str, Any] | None = None,
                        sidecars: bool = True, on_case: Callable[[CaseResult], None] | None = None,
                        on_start: Callable[[Any], None] | None = None) -> tuple[list[CaseResult], dict[str, Any]]:
    """Segment every case of ``inputs`` on the cluster; returns the results (in case order) and the report."""
    t0 = time.perf_counter()
    out_dir = Path(outputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = find_cases(inputs)
    cluster = start(options, engine, backend, predictor_kwargs)
    if on_start is not None:
        on_start(cluster)
    results: dict[Path, CaseResult] = {}
    per_case: list[dict[str, Any]] = []
    infos = cluster.info["worker_info"]

    def submit(actor, path: Path):
        return actor.predict.remote(path.name, path.read_bytes(), str(path))

    def failed(path: Path, message: str) -> dict[str, Any]:
        return {"ok": False, "error": f"{path}: {message}", "seconds": 0.0}

    def on_result(path: Path, r: dict[str, Any], attempts: int, worker: int) -> None:
        t = time.perf_counter()
        if r["ok"]:
            save_segs(out_dir / path.name, r["labels"])
            if sidecars:
                info = {"case": path.name, "kind": r["kind"], "boxes": r["scores"],
                        "timings_s": {k: round(v, 6) for k, v in r["timings"].items()},
                        "backend": infos[worker]["candidate"] if worker >= 0 else None,
                        "cluster": {"worker": worker, "pid": r.get("pid"), "attempts": attempts}}
                write_json(out_dir / (path.stem + ".json"), info)
            seg = Segmentation(r["labels"], r["scores"], [], r["timings"])
            result = CaseResult(path.name, r["seconds"] + time.perf_counter() - t, True, None, r["warnings"], seg)
        else:
            result = CaseResult(path.name, r["seconds"], False, r["error"])
        results[path] = result
        per_case.append({"case": path.name, "ok": result.ok, "worker": worker, "pid": r.get("pid"),
                         "attempts": attempts, "seconds": round(result.seconds, 4), "error": result.error})
        if on_case is not None:
            on_case(result)

    try:
        run_cases(cluster, heaviest_first(paths), submit, on_result, failed)
    finally:
        report = cluster_report(cluster, t0, per_case)
        cluster.close()
    ordered = [results[p] for p in paths if p in results]
    lines = ["case,time"] + [f"{r.name},{r.seconds:.4f}" for r in ordered if r.ok]
    write_text_atomic(out_dir / "efficiency.csv", "\n".join(lines) + "\n")
    write_json(out_dir / "cluster.json", report)
    return ordered, report
