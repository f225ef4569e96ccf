"""Numbers for the faults issue (record: benchmarks/faults_2026-12-02.md).

1. Start-up cost of bundle verification, in fresh processes: the Python OpenVINO backend's open
   (imports + sha256 check + compile from a warm blob cache) and ``umedsam-native --compile-only``,
   each with ``--no-verify``, with verification and an empty digest cache (every graph file hashed)
   and with a warm digest cache (a ``stat`` per file).
2. Peak RSS of a large 3D case (D x 512 x 512 uint8, one box over ``--slices`` slices) per runtime,
   with the embedding cache capped (``--max-cache-mb``) and uncapped, measured by GNU time (``%M``:
   the child's ``ru_maxrss``; time's own 2 MB at fork is included), plus a tiny 3D case for the
   runtime's own footprint.

    PYTHONPATH=. python benchmarks/faults_bench.py --bundle BUNDLE --work /tmp/faults --json faults.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from umedsam.common import write_json
from umedsam.data.npz import save_npz_atomic

PY_OPEN = ("import sys, time; t = time.perf_counter(); "
           "from umedsam.runtime.backends.openvino_backend import OpenVINOBackend; "
           "b = OpenVINOBackend(sys.argv[1], threads=2, verify=sys.argv[2] == '1'); "
           "print(time.perf_counter() - t)")


def _wall(cmd: list[str], env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", env=env)
    if r.returncode != 0:
        raise SystemExit(f"{cmd}: exit {r.returncode}: {r.stderr[-800:]}")
    return time.perf_counter() - t, r.stdout


def startup(bundle: Path, native: str, work: Path, repeat: int) -> dict:
    env = {**os.environ, "UMEDSAM_VERIFY_CACHE": str(work / "verified.json"), "UMEDSAM_OV_CACHE": str(work / "ov")}
    _wall([native, "--bundle", str(bundle), "--compile-only", "--quiet", "--threads", "2"], env)  # warm blobs
    out: dict = {}
    for mode in ("no_verify", "verify_cold", "verify_warm"):
        py_total, py_open, nat = [], [], []
        for _ in range(repeat):
            for runner in ("python", "native"):
                if mode == "verify_cold":
                    (work / "verified.json").unlink(missing_ok=True)
                flag = "0" if mode == "no_verify" else "1"
                if runner == "python":
                    wall, stdout = _wall([sys.executable, "-c", PY_OPEN, str(bundle), flag], env)
                    py_total.append(wall)
                    py_open.append(float(stdout.split()[-1]))
                else:
                    extra = ["--no-verify"] if mode == "no_verify" else []
                    wall, _ = _wall([native, "--bundle", str(bundle), "--compile-only", "--quiet", "--threads", "2",
                                     *extra], env)
                    nat.append(wall)
        out[mode] = {"python_process_s": statistics.median(py_total), "python_open_s": statistics.median(py_open),
                     "native_process_s": statistics.median(nat), "repeat": repeat}
    return out


def large_case(folder: Path, depth: int, slices: int) -> Path:
    """A (depth, 512, 512) volume: noise plus a bright ellipsoid, one box over ``slices`` slices."""
    rng = np.random.default_rng(7)
    z, y, x = np.ogrid[:depth, :512, :512]
    mid = depth // 2
    blob = ((z - mid) / max(slices / 2, 1)) ** 2 + ((y - 256) / 90) ** 2 + ((x - 240) / 120) ** 2 <= 1
    vol = rng.integers(20, 60, size=(depth, 512, 512), dtype=np.uint8)
    vol[blob] = 200
    box = np.array([[120, 166, mid - slices // 2, 360, 346, mid + slices // 2 - 1]])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"3Dlarge_{depth}.npz"
    save_npz_atomic(path, imgs=vol, boxes=box, spacing=np.array([2.5, 0.8, 0.8]))
    return path


def peak_rss(bundle: Path, native: str, work: Path, depth: int, slices: int) -> list[dict]:
    env = {**os.environ, "UMEDSAM_OV_CACHE": str(work / "ov"), "UMEDSAM_VERIFY_CACHE": str(work / "verified.json")}
    rows = []
    for name, d, s in (("tiny", 8, 4), ("large", depth, slices)):
        folder = work / f"case_{name}"
        if not folder.exists():
            large_case(folder, d, s) if name == "large" else _tiny(folder)
        for runtime in ("python", "native"):
            for cap in ((1024,) if name == "tiny" else (64, 100000)):
                out = work / f"out_{name}_{runtime}_{cap}"
                shutil.rmtree(out, ignore_errors=True)
                if runtime == "python":
                    cmd = [sys.executable, "-m", "umedsam.cli.predict", "-i", str(folder), "-o", str(out), "--engine",
                           str(bundle), "--threads", "2", "--no-sidecars", "--max-cache-mb", str(cap)]
                else:
                    cmd = [native, "-i", str(folder), "-o", str(out), "--bundle", str(bundle), "--threads", "2",
                           "--quiet", "--max-cache-mb", str(cap)]
                t = time.perf_counter()
                r = subprocess.run(["/usr/bin/time", "-f", "RSS_KB=%M", *cmd], capture_output=True, text=True, encoding="utf-8", errors="replace", env=env)
                wall = time.perf_counter() - t
                if r.returncode != 0:
                    raise SystemExit(f"{cmd}: exit {r.returncode}: {r.stderr[-800:]}")
                kb = int(next(line for line in r.stderr.splitlines() if line.startswith("RSS_KB="))[7:])
                rows.append({"case": name, "shape": [d, 512 if name == "large" else 64, 512 if name == "large" else 64],
                             "box_slices": s, "runtime": runtime, "max_cache_mb": cap, "peak_rss_mb": round(kb / 1024, 1),
                             "wall_s": round(wall, 1)})
                print(rows[-1], flush=True)
    return rows


def _tiny(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    vol = np.full((8, 64, 64), 30, np.uint8)
    vol[2:6, 20:40, 20:40] = 200
    save_npz_atomic(folder / "3Dtiny.npz", imgs=vol, boxes=np.array([[18, 18, 2, 42, 42, 5]]),
                    spacing=np.array([2.5, 0.8, 0.8]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--native", default=shutil.which("umedsam-native") or "umedsam-native")
    ap.add_argument("--depth", type=int, default=300)
    ap.add_argument("--slices", type=int, default=80)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result = {"startup": startup(args.bundle, args.native, args.work, args.repeat)}
    print(json.dumps(result, indent=1), flush=True)
    if not args.skip_rss:
        result["rss"] = peak_rss(args.bundle, args.native, args.work, args.depth, args.slices)
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
