"""Emulate the challenge's timing harness: one fresh process per case, wall time including start-up.

The challenge (docs/METRICS.md, "Challenge evaluation": ``CVPR24_time_eval.py``) copies each case alone into ``inputs/``, starts
the team's container running ``predict.sh`` and times the whole run: container and interpreter start,
imports, model load/compile, npz I/O and inference all count. Without a Docker engine, this script
does the same minus the container start: per case and engine, a temporary ``inputs/`` holding only
that case, a fresh interpreter running the predict command, the wall time around it, then DSC/NSD of
what it wrote against GT.

Engines (``--engine NAME=PATH``; the first two are always run):

* ``reference``: the PyTorch eager path that mirrors the official ``CVPR24_LiteMedSAM_infer.py``:
  one box per decoder call, and with ``--max-cache-mb 0`` every 3D slice is re-encoded for every box
  (the official loop encodes inside the per-box, per-slice loop). It skips the official script's
  overlay PNG, which the official script writes by default, so the reference is timed faster than the
  official script runs: every speedup below is conservative. Its start-up is also lighter (our model
  code instead of timm + segment_anything imports).
* ``torch``: our PyTorch path (slice embeddings cached across boxes).
* ``native:BUNDLE``: the native binary ``umedsam-native -i … -o … --bundle BUNDLE`` (no Python at all;
  ``umedsam native build`` puts it on the PATH);
* any bundle or checkpoint: ``umedsam-predict --engine PATH``; a ``.sh`` path is run as a
  ``predict.sh`` (the container's entry point) with ``UMEDSAM_INPUTS``/``UMEDSAM_OUTPUTS`` set
  (its bundle comes from ``UMEDSAM_BUNDLE`` in the environment, as in the container).

Before/after comparisons in one run: ``--checkout NAME=DIR`` runs engine NAME from another checkout
(``git worktree add DIR COMMIT``): Python engines with ``PYTHONPATH=DIR``, ``native:`` engines with
``DIR/.nprefix/bin/umedsam-native`` (built there by ``umedsam native build --prefix DIR/.nprefix``).
``--skip-reference`` leaves out the two PyTorch engines.

Overhead per case: wall time minus the encoder and decoder seconds that the engine
itself measured: ``umedsam-predict``'s JSON sidecar (``timings_s``), ``umedsam-native --profile-json``.
A native binary without ``--profile-json`` (older builds) borrows them from the engine named by
``--encdec-from NAME=OTHER`` on the same case (the same OpenVINO calls on the same inputs).

Engine order rotates from case to case. Run it as
``python benchmarks/challenge_harness.py --data DIR [--engine onnx=bundles/onnx ...] [--threads N]``;
it prints a markdown table and writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from umedsam.common import write_text_atomic
from umedsam.data.npz import find_cases, find_gts, load_case, load_gt, load_segs
from umedsam.metrics.challenge import score_labels

REFERENCE_ARGS = ["--engine", "builtin", "--box-batch", "1", "--max-cache-mb", "0"]


def _native_exe(checkout: Path | None) -> str:
    if checkout is not None:
        return str(checkout / ".nprefix" / "bin" / "umedsam-native")
    return shutil.which("umedsam-native") or str(Path(sys.prefix) / "bin" / "umedsam-native")


def _has_profile_json(exe: str) -> bool:
    """Whether this umedsam-native build writes ``--profile-json`` (its usage text names it)."""
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, encoding="utf-8", errors="replace")
    return "--profile-json" in proc.stdout


def _command(spec: str, inputs: Path, outputs: Path, threads: int | None, checkout: Path | None = None,
             profile: Path | None = None) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    if spec.endswith(".sh"):
        env.update(UMEDSAM_INPUTS=str(inputs), UMEDSAM_OUTPUTS=str(outputs), UMEDSAM_PYTHON=sys.executable)
        if threads:
            env["UMEDSAM_THREADS"] = str(threads)
        return ["bash", spec], env
    if spec.startswith("native:"):
        exe = _native_exe(checkout)
        cmd = [exe, "-i", str(inputs), "-o", str(outputs), "--bundle", spec.split(":", 1)[1], "--quiet"]
        if profile is not None and _has_profile_json(exe):
            cmd += ["--profile-json", str(profile)]
        return cmd + (["--threads", str(threads)] if threads else []), env
    cmd = [sys.executable, "-m", "umedsam.cli.predict", "-i", str(inputs), "-o", str(outputs)]
    cmd += REFERENCE_ARGS if spec == "reference" else ["--engine", "builtin" if spec == "torch" else spec]
    if threads:
        cmd += ["--threads", str(threads)]
    return cmd, env


def _encdec_seconds(outputs: Path, case: Path, profile: Path) -> float | None:
    """Encoder + decoder seconds the engine measured itself (native profile JSON or Python sidecar)."""
    try:
        if profile.is_file():
            prof = json.loads(profile.read_text(encoding="utf-8"))
            return float(prof["encode_s"] + prof["decode_s"])
        sidecar = outputs / (case.stem + ".json")
        if sidecar.is_file():
            t = json.loads(sidecar.read_text(encoding="utf-8"))["timings_s"]
            return float(t.get("encode", 0.0) + t.get("decode", 0.0))
    except (ValueError, KeyError, TypeError):
        return None
    return None


def run_case(case: Path, spec: str, work: Path, threads: int | None, timeout: float = 1800,
             checkout: Path | None = None) -> dict[str, Any]:
    """One fresh-process run of one case; returns wall seconds, the engine's own encoder + decoder
    seconds when it reports them, and the written segs (or the error)."""
    inputs, outputs = work / "inputs", work / "outputs"
    shutil.rmtree(work, ignore_errors=True)
    inputs.mkdir(parents=True)
    outputs.mkdir()
    shutil.copyfile(case, inputs / case.name)
    profile = work / "profile.json"
    cmd, env = _command(spec, inputs, outputs, threads, checkout, profile)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"seconds": time.perf_counter() - start, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    out = outputs / case.name
    if proc.returncode != 0 or not out.is_file():
        return {"seconds": wall, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return {"seconds": wall, "encdec": _encdec_seconds(outputs, case, profile), "segs": load_segs(out)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path, help="cases: imgs/ folder or a root with imgs/ + gts/")
    ap.add_argument("--engine", action="append", default=[], help="NAME=PATH (bundle, .pth, or predict.sh)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--max-cases", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=1, help="runs per case and engine; the median wall time is kept")
    ap.add_argument("--checkout", action="append", default=[], help="NAME=DIR: run engine NAME from that checkout")
    ap.add_argument("--skip-reference", action="store_true", help="leave out the reference and torch engines")
    ap.add_argument("--encdec-from", action="append", default=[],
                    help="NAME=OTHER: encoder+decoder seconds of NAME (no profile) taken from OTHER's run")
    args = ap.parse_args(argv)

    checkouts = {k: Path(v).resolve() for k, _, v in (c.partition("=") for c in args.checkout)}
    borrow = dict(c.split("=", 1) for c in args.encdec_from)
    engines = [] if args.skip_reference else [("reference", "reference"), ("torch", "torch")]
    for item in args.engine:
        name, _, path = item.partition("=")
        engines.append((name, path or name))
    cases = find_cases(args.data)[: args.max_cases]
    gts_dir = find_gts(args.data)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="umedsam-harness-") as tmp:
        for n, case in enumerate(cases):
            c = load_case(case)
            row: dict[str, Any] = {"case": case.name, "kind": c.kind, "boxes": int(len(c.boxes)),
                                   "slices": int(len(c.imgs)) if c.kind == "3D" else 1, "engines": {}}
            gt = load_gt(gts_dir / case.name) if gts_dir is not None and (gts_dir / case.name).is_file() else None
            order = engines[n % len(engines):] + engines[: n % len(engines)]
            for name, spec in order:
                runs = [run_case(case, spec, Path(tmp) / name, args.threads, checkout=checkouts.get(name))
                        for _ in range(max(1, args.repeat))]
                good = [r for r in runs if "error" not in r]
                result = good[-1] if good else runs[-1]  # an engine that failed any run is marked failed
                result["runs"] = [r["seconds"] for r in runs]
                result["seconds"] = float(np.median([r["seconds"] for r in good])) if good else math.nan
                encdec = [r["encdec"] for r in good if r.get("encdec") is not None]
                result["encdec_runs"] = encdec
                # the overhead of the median run: wall minus the engine's own encoder + decoder time
                result["overhead"] = (float(np.median([r["seconds"] - r["encdec"] for r in good]))
                                      if good and len(encdec) == len(good) else None)
                if len(good) < len(runs):
                    result["error"] = next(r["error"] for r in runs if "error" in r)
                if "segs" in result and gt is not None:
                    result["dsc"], result["nsd"] = score_labels(c.kind, gt[0], result.pop("segs"), gt[1], c.spacing)
                result.pop("segs", None)
                result.pop("encdec", None)
                row["engines"][name] = result
                print(f"{case.name} {name}: {result['seconds']:.2f}s {result.get('error', '')}", file=sys.stderr)
            for name, other in borrow.items():
                mine, theirs = row["engines"].get(name), row["engines"].get(other)
                if mine and theirs and mine.get("overhead") is None and theirs.get("encdec_runs") and "error" not in mine:
                    mine["overhead"] = mine["seconds"] - float(np.median(theirs["encdec_runs"]))
                    mine["overhead_borrowed_from"] = other
            rows.append(row)
    names = [n for n, _ in engines]
    report = {"protocol": "fresh process per case (interpreter start, imports, engine load, npz I/O, "
                          "inference); reference path without the overlay PNG (conservative); "
                          f"median of {max(1, args.repeat)} run(s)",
              "threads": args.threads, "engines": dict(engines), "cases": rows,
              # an engine with any failed case has no total: a crash must not look fast
              "total_seconds": {n: (math.nan if any("error" in r["engines"][n] for r in rows)
                                    else sum(r["engines"][n]["seconds"] for r in rows)) for n in names}}
    print(to_markdown(report, names))
    print("\n" + overhead_markdown(report, names))
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=1))
    return report


def _f4(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.4f}"


def overhead_markdown(report: dict[str, Any], names: list[str]) -> str:
    """Per case and engine: wall s and overhead s (wall minus the engine's encoder + decoder)."""
    head = ["case"] + [f"{n} wall / overhead s" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in report["cases"]:
        cells = [r["case"]]
        for n in names:
            e = r["engines"][n]
            ov = e.get("overhead")
            mark = "*" if e.get("overhead_borrowed_from") else ""
            cells.append("error" if "error" in e else f"{e['seconds']:.2f} / " + ("—" if ov is None else f"{ov:.2f}{mark}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + ("\n\n* overhead computed with the encoder + decoder seconds of another engine on the "
                               "same case (--encdec-from)." if any("*" in line for line in lines[2:]) else "")


def to_markdown(report: dict[str, Any], names: list[str]) -> str:
    ref_name = "reference" if "reference" in names else names[0]
    head = ["case", "kind", "boxes", "slices"] + [f"{n} s (speedup)" for n in names] + [f"{n} DSC/NSD" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in report["cases"]:
        ref = r["engines"][ref_name]["seconds"]
        times, accs = [], []
        for n in names:
            e = r["engines"][n]
            times.append(f"error: {e['error']}" if "error" in e else
                         f"{e['seconds']:.2f}" + ("" if n == ref_name else f" ({ref / e['seconds']:.2f}×)"))
            accs.append(f"{_f4(e.get('dsc'))}/{_f4(e.get('nsd'))}")
        lines.append("| " + " | ".join([r["case"], r["kind"], str(r["boxes"]), str(r["slices"]), *times, *accs]) + " |")
    tot = report["total_seconds"]
    cells = ["**total**", "", "", ""] + [f"{tot[n]:.2f}" + ("" if n == ref_name else f" ({tot[ref_name] / tot[n]:.2f}×)")
                                         for n in names] + [""] * len(names)
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + ("\n\nWall seconds per case in a fresh process (start-up, load, I/O included), "
                               f"speedup vs the {ref_name} engine. The reference path skips the official "
                               "script's overlay PNG, so the speedups against it are conservative.")


if __name__ == "__main__":
    main()
