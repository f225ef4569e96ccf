"""How a bundle's two compiled-blob imports overlap, and what the encoder's static shape costs and saves.

Each variant runs in a fresh interpreter (as the challenge runs each case), with the same OpenVINO
settings as ``umedsam/runtime/backends/openvino_backend.py`` (LATENCY hint, f32, ``--threads``) and
its own compile cache, filled by one unmeasured run first. The variants differ in one setting each:

* ``sequential``: encoder then decoder, both pinned (OpenVINO's default);
* ``pinned``: the decoder on a second thread, both pinned;
* ``unpinned-decoder``: the decoder on a second thread with ``ENABLE_CPU_PINNING=False`` (what both
  runtimes ship);
* ``dynamic-encoder``: as ``unpinned-decoder`` with the encoder's batch left dynamic (before).

Per variant: the time to open both stages, each import's end, the first encoder call and the median
of the next ``--calls`` (one real image: the first case of ``--data`` if given, else a fixed random
image), and the median of 9 warm one-box decoder calls on that image's embedding. Rounds interleave
the variants so drift hits them alike; medians over ``--rounds``.

    python benchmarks/import_overlap.py BUNDLE [--data CASES] [--rounds 7] [--threads 2] [--json F]

Records: benchmarks/native_floor_2026-12-03.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from umedsam.data.geometry import IMG_SIZE

VARIANTS = {  # name -> (side by side, decoder pinned, encoder static)
    "sequential": (False, True, True),
    "pinned": (True, True, True),
    "unpinned-decoder": (True, False, True),
    "dynamic-encoder": (True, False, False),
}


def _image(data: str | None):
    import numpy as np

    if not data:
        return np.random.default_rng(0).random((1, 3, IMG_SIZE, IMG_SIZE), dtype=np.float32)
    from umedsam.data.npz import find_cases, load_case
    from umedsam.runtime.preprocess import preprocess_image

    case = load_case(find_cases(Path(data))[0])
    image = case.imgs if case.imgs.ndim == 3 and case.imgs.shape[-1] == 3 else case.imgs[len(case.imgs) // 2]
    return preprocess_image(image)[0][None]


def one(bundle: Path, variant: str, cache: Path, threads: int, data: str | None, calls: int) -> dict:
    """Open the bundle's encoder and 1-box decoder as ``variant`` says; time the opening and both stages."""
    import numpy as np
    import openvino as ov

    from umedsam.runtime.backends.openvino_backend import STATIC_SHAPES
    from umedsam.runtime.bundle import DECODER_INPUTS, ENCODER_INPUT, open_bundle

    side_by_side, decoder_pinned, encoder_static = VARIANTS[variant]
    graphs = open_bundle(bundle).graphs
    core = ov.Core()
    core.set_property({"CACHE_DIR": str(cache)})
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
    ends: dict[str, float] = {}
    requests: dict[str, object] = {}
    t0 = time.monotonic()

    def compile_stage(stage: str, shape: dict | None, pinned: bool) -> None:
        model = core.read_model(str(graphs[stage]))
        if shape:
            model.reshape(shape)
        compiled = core.compile_model(model, "CPU", {**config, "ENABLE_CPU_PINNING": pinned})
        requests[stage] = compiled.create_infer_request()
        ends[stage] = time.monotonic() - t0

    encoder = (lambda: compile_stage("encoder", STATIC_SHAPES["encoder_1"] if encoder_static else None, True))
    decoder = (lambda: compile_stage("decoder", STATIC_SHAPES["decoder_1box"], decoder_pinned))
    if side_by_side:
        worker = threading.Thread(target=decoder)
        worker.start()
        encoder()
        worker.join()
    else:
        encoder()
        decoder()
    opened = time.monotonic() - t0
    image = _image(data)
    times = []
    for _ in range(calls + 1):
        t = time.monotonic()
        embedding = requests["encoder"].infer({ENCODER_INPUT: image})[0]
        times.append(time.monotonic() - t)
    feeds = {DECODER_INPUTS[0]: embedding, DECODER_INPUTS[1]: np.array([[30, 40, 150, 170]], np.float32)}
    decoder_times = []
    for _ in range(10):
        t = time.monotonic()
        requests["decoder"].infer(feeds)
        decoder_times.append(time.monotonic() - t)
    return {"open_s": opened, "encoder_import_end_s": ends["encoder"], "decoder_import_end_s": ends["decoder"],
            "first_encoder_call_s": times[0], "warm_encoder_call_s": statistics.median(times[1:]),
            "warm_decoder_call_s": statistics.median(decoder_times[1:])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--data", default=None, help="cases folder; its first case is the encoder's input")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=3, help="warm encoder calls per process")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one variant, print JSON
    ap.add_argument("--cache", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.bundle, args.one, args.cache, args.threads, args.data, args.calls)))
        return
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds + 1):  # round 0 fills each variant's cache and is not kept
            for variant in VARIANTS:
                cmd = [sys.executable, __file__, str(args.bundle), "--one", variant, "--cache", f"{tmp}/{variant}",
                       "--threads", str(args.threads), "--calls", str(args.calls)] + (["--data", args.data] if args.data else [])
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                if round_:
                    results[variant].append(json.loads(out.strip().splitlines()[-1]))
    keys = ["open_s", "encoder_import_end_s", "decoder_import_end_s", "first_encoder_call_s", "warm_encoder_call_s",
            "warm_decoder_call_s"]
    print(f"medians of {args.rounds} fresh processes per variant, {args.threads} threads, seconds\n")
    print("| variant | " + " | ".join(k.removesuffix("_s").replace("_", " ") for k in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for variant, runs in results.items():
        print(f"| {variant} | " + " | ".join(f"{statistics.median(r[k] for r in runs):.3f}" for k in keys) + " |")
    if args.json:
        from umedsam.common import write_json

        write_json(args.json, {"rounds": args.rounds, "threads": args.threads, "runs": results})


if __name__ == "__main__":
    main()
