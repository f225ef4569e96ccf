"""1 worker x 2 threads vs 2 workers x 1 thread on a local Ray cluster, against the single-process path.

Three runs over the same phantom cases with the same engine, one after the other (each starts its
own Ray, as a user's command would):

* ``local``: ``umedsam-predict`` without ``--cluster`` (one process, ``--threads`` 2);
* ``ray 1x2``: one worker with 2 threads: the same compute as ``local``, so the difference is the
  engine's overhead (Ray start-up, worker start and engine load, moving case bytes and results);
* ``ray 2x1``: two workers with 1 thread each: the throughput of case-level parallelism.

It checks that ``ray 1x2`` writes exactly ``local``'s segs (same threads per process), prints a
markdown table and writes ``--json``.

``python benchmarks/cluster_bench.py --engine BUNDLE [--n2d 8] [--n3d 2] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    from umedsam.cluster.predict import predict_distributed
    from umedsam.cluster.runner import ClusterOptions
    from umedsam.data.npz import find_cases, load_segs
    from umedsam.data.phantoms import write_phantoms
    from umedsam.metrics.evaluate import evaluate_folder
    from umedsam.runtime.batch import predict_folder
    from umedsam.runtime.predictor import Predictor

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engine", required=True)
    ap.add_argument("--n2d", type=int, default=8)
    ap.add_argument("--n3d", type=int, default=2)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="umedsam-cluster-bench-") as tmp:
        root = Path(tmp)
        write_phantoms(root / "data", n2d=args.n2d, n3d=args.n3d, seed=args.seed)
        cases = find_cases(root / "data")
        runs: dict[str, dict] = {}

        t = time.perf_counter()
        with Predictor(args.engine, threads=2) as p:
            load = time.perf_counter() - t
            results = predict_folder(p, root / "data", root / "local")
        wall = time.perf_counter() - t
        runs["local 1 process x 2 threads"] = {"wall_s": wall, "startup_s": load, "cases_ok": sum(r.ok for r in results)}

        for name, workers, threads in (("ray 1 worker x 2 threads", 1, 2), ("ray 2 workers x 1 thread", 2, 1)):
            out = root / name.replace(" ", "_")
            _, report = predict_distributed(args.engine, root / "data", out, ClusterOptions("local", workers, threads))
            runs[name] = {k: report[k] for k in ("wall_s", "startup_s", "connect_s", "workers_ready_s", "cases_ok")}
            runs[name]["out"] = out
            runs[name]["metrics"] = evaluate_folder(out, root / "data" / "gts")

        local_segs = {p.name: load_segs(root / "local" / p.name) for p in cases}
        same = all(np.array_equal(local_segs[p.name], load_segs(runs["ray 1 worker x 2 threads"]["out"] / p.name))
                   for p in cases)
        runs["local 1 process x 2 threads"]["metrics"] = evaluate_folder(root / "local", root / "data" / "gts")
        for r in runs.values():
            scores = r.pop("metrics")
            r["dsc"] = float(np.nanmean([s.dsc for s in scores]))
            r["nsd"] = float(np.nanmean([s.nsd for s in scores]))
        for r in runs.values():
            r.pop("out", None)
            r["cases_per_min"] = 60 * r["cases_ok"] / r["wall_s"]
        base = runs["local 1 process x 2 threads"]
        one, two = runs["ray 1 worker x 2 threads"], runs["ray 2 workers x 1 thread"]
        result = {"cases": len(cases), "n2d": args.n2d, "n3d": args.n3d, "engine": args.engine, "runs": runs,
                  "ray_1x2_segs_equal_local": same,
                  "engine_overhead_s": one["wall_s"] - base["wall_s"],
                  "throughput_2x1_over_1x2": one["wall_s"] / two["wall_s"],
                  "throughput_2x1_over_1x2_excluding_startup": (one["wall_s"] - one["startup_s"]) /
                                                               (two["wall_s"] - two["startup_s"])}
    lines = ["| run | wall s | start-up s | cases/min | DSC | NSD |", "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        lines.append(f"| {name} | {r['wall_s']:.1f} | {r['startup_s']:.1f} | {r['cases_per_min']:.2f} | "
                     f"{r['dsc']:.4f} | {r['nsd']:.4f} |")
    lines.append("")
    lines.append(f"{len(cases)} phantom cases ({args.n2d} 2D, {args.n3d} 3D). Ray's overhead (1x2 vs local, same "
                 f"compute): {result['engine_overhead_s']:+.1f} s. Throughput 2x1 / 1x2: "
                 f"{result['throughput_2x1_over_1x2']:.2f}x ({result['throughput_2x1_over_1x2_excluding_startup']:.2f}x "
                 f"excluding start-up). Ray 1x2 segs equal local: {same}.")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
