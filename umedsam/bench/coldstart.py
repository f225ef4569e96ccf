"""Cold start in a fresh process: interpreter start -> imports -> engine load -> first case segmented.

Run as ``python -m umedsam.bench.coldstart ENGINE CASE [--threads N] [--backend B]``; prints one JSON
line with its own phase times and peak RSS. :func:`measure` spawns it and adds the wall time seen
from outside (interpreter start included), which is what a per-case container pays.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    ``VmHWM`` from /proc is per address space and starts afresh at exec; ``ru_maxrss`` would not do:
    Linux carries the parent's high-water mark at fork into the child's.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("engine")
    ap.add_argument("case")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--backend", default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    from umedsam.data.npz import load_case
    from umedsam.runtime.predictor import Predictor

    t1 = time.perf_counter()
    predictor = Predictor(args.engine, backend=args.backend, threads=args.threads)
    t2 = time.perf_counter()
    case = load_case(args.case)
    predictor.segment_case(case.kind, case.imgs, case.boxes)
    t3 = time.perf_counter()
    print(json.dumps({"startup_to_main_s": t0 - _T0, "import_s": t1 - t0, "load_s": t2 - t1,
                      "first_case_s": t3 - t2, "peak_rss_mb": _peak_rss_mb(),
                      "torch_imported": "torch" in sys.modules}))


def measure(engine: str, case: str, threads: int | None = None, backend: str | None = None,
            timeout: float = 900) -> dict[str, Any]:
    """Spawn a fresh interpreter; returns its phases plus ``wall_s`` (spawn -> result)."""
    cmd = [sys.executable, "-m", "umedsam.bench.coldstart", engine, case]
    if threads:
        cmd += ["--threads", str(threads)]
    if backend:
        cmd += ["--backend", backend]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s", "wall_s": time.perf_counter() - start}
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": tail, "wall_s": wall}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


if __name__ == "__main__":
    _child(sys.argv[1:])
