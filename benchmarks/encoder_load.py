"""Opening the encoder and running it once, in a fresh process: OpenVINO (cached blob) vs ONNX Runtime.

Why: the native floor record (benchmarks/native_floor_2026-12-03.md) found that the floor of a
per-case process is OpenVINO importing the encoder's compiled blob (the CPU plugin builds its JIT
kernels at import). ONNX Runtime's CPU kernels are compiled ahead of time, so its session opens
faster; this measures whether that pays for a case, where one process opens the encoder and runs it
once (a 2D case) or many times (a 3D case).

Each variant runs in a fresh interpreter, rounds interleaved, medians reported:

* ``openvino``: the IR bundle's encoder with the shipped settings (static ``[1,3,256,256]``, LATENCY
  hint, f32, ``--threads``), from a compile cache filled by one unmeasured run;
* ``onnxruntime``: the ONNX bundle's encoder, ``ORT_ENABLE_ALL`` (what the ORT backend ships);
* ``onnxruntime-preoptimized``: the graph ONNX Runtime optimized and saved in a first unmeasured run,
  opened with optimizations off (the cheapest ONNX Runtime open).

Per variant: importing the runtime's module, opening the encoder, the first call and the fastest of
three more (one fixed random image).

    python benchmarks/encoder_load.py OV_BUNDLE ONNX_BUNDLE [--rounds 5] [--threads 2] [--json F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from umedsam.data.geometry import IMG_SIZE

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
variant, graph, threads, scratch, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
import numpy as np
x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
if variant == "openvino":
    import openvino as ov
    t1 = time.perf_counter()
    core = ov.Core()
    core.set_property({"CACHE_DIR": scratch + "/ov-cache"})
    model = core.read_model(graph)
    model.reshape({model.inputs[0]: [1, 3, size, size]})
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
                                                 "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    t2 = time.perf_counter()
    run = lambda: request.infer({0: x})
else:
    import onnxruntime as ort
    t1 = time.perf_counter()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    saved = scratch + "/encoder.ort-optimized.onnx"
    if variant == "onnxruntime":
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    elif variant == "prepare":
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = saved
    else:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        graph = saved
    session = ort.InferenceSession(graph, sess_options=opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    t2 = time.perf_counter()
    run = lambda: session.run(None, {name: x})
times = []
for _ in range(4):
    a = time.perf_counter()
    run()
    times.append(time.perf_counter() - a)
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "first_s": times[0], "warm_s": min(times[1:])}))
"""

VARIANTS = ("openvino", "onnxruntime", "onnxruntime-preoptimized")


def _child(variant: str, graph: Path, threads: int, scratch: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, variant, str(graph), str(threads), str(scratch), str(IMG_SIZE)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ov_bundle", type=Path)
    ap.add_argument("onnx_bundle", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    graphs = {"openvino": args.ov_bundle / "encoder.xml", "onnxruntime": args.onnx_bundle / "encoder.onnx",
              "onnxruntime-preoptimized": args.onnx_bundle / "encoder.onnx"}
    with tempfile.TemporaryDirectory(prefix="umedsam-encoder-load-") as tmp:
        scratch = Path(tmp)
        _child("openvino", graphs["openvino"], args.threads, scratch)          # fills the compile cache
        _child("prepare", graphs["onnxruntime"], args.threads, scratch)        # saves the optimized graph
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for v in VARIANTS:
                runs[v].append(_child(v, graphs[v], args.threads, scratch))
    rows = {}
    for v, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        med["open_plus_first_s"] = statistics.median(r["open_s"] + r["first_s"] for r in rs)
        rows[v] = med
    print(f"{'variant':26} {'import':>7} {'open':>7} {'first':>7} {'warm':>7} {'open+first':>11}  (s, median of {args.rounds})")
    for v, m in rows.items():
        print(f"{v:26} {m['import_s']:7.3f} {m['open_s']:7.3f} {m['first_s']:7.3f} {m['warm_s']:7.3f} "
              f"{m['open_plus_first_s']:11.3f}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "threads": args.threads, "variants": rows,
                                         "runs": runs}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
