"""The benchmark: every engine on the same inputs in one run, interleaved, plus cold starts in fresh processes.

Protocol (docs/FLAGS.md, "Benchmarks"):

1. **Stages** (in this process, all engines loaded with the same ``threads``): the encoder on one
   preprocessed image, the decoder on 1 box and on 16 boxes (per-box time), the decoder on 1 box of
   an image it has not seen just before (``decoder_new_image_1box``: with a split decoder, the
   box-independent part runs there once per image and ``decoder_1box`` is the per-box rest), the host-side
   preprocessing of that image and postprocessing of one box. ``warmup`` rounds are discarded, then
   ``iters`` rounds; in every round each engine runs once, and the engine order rotates from round to
   round, so thermal or background drift hits all engines alike. Before an engine's turn the runner
   idles ``settle`` seconds: thread pools busy-wait after their work (OpenMP's block time is 200 ms,
   ONNX Runtime spins), and without the pause the previous engine's spinning threads would steal
   the cores from the next one (measured: ORT's encoder 1.15 s interleaved vs 0.84 s alone).
2. **Cases**: every case through the shared :class:`Predictor`, engines interleaved per case (order
   rotating), ``case_iters`` times; wall time per case plus the predictor's per-stage split. The
   first round's masks give DSC/NSD against GT (when present) and the agreement with the first engine.
3. **Cold start and peak RSS**: per engine, a fresh interpreter segments the first case
   (:mod:`umedsam.bench.coldstart`); RSS only grows within a process, so it cannot be measured in
   this one.

The first engine is the reference of every speedup (its time divided by the other engine's).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from umedsam.bench.environment import environment
from umedsam.bench.stats import speedup, summarize
from umedsam.data.npz import Case, find_gts, load_case, load_gt, require_cases
from umedsam.runtime.postprocess import logits_to_masks
from umedsam.runtime.predictor import Predictor
from umedsam.runtime.preprocess import preprocess_image, resize_box_to_256, normalize_pad, resize_longest_side

STAGES = ("preprocess", "encoder", "decoder_new_image_1box", "decoder_1box", "decoder_per_box_16",
          "postprocess_per_box")


@dataclass
class BenchConfig:
    engines: list[str]
    data: Path
    backends: list[str | None] | None = None
    threads: int | None = None
    warmup: int = 2
    iters: int = 10
    case_iters: int = 1
    cold_start: bool = True
    gts: Path | None = None
    settle: float = 0.3


def _stage_inputs(case: Case) -> tuple[np.ndarray, tuple[int, int], tuple[int, int], np.ndarray, np.ndarray]:
    """The image batch (1, 3, 256, 256), sizes, and 1 + 16 boxes in 256-space, from the first case."""
    if case.kind == "2D":
        image = case.imgs
        boxes = case.boxes[:, :4]
    else:
        z = int(np.median([(b[2] + b[5]) // 2 for b in case.boxes]))
        image = case.imgs[min(max(z, 0), len(case.imgs) - 1)]
        boxes = case.boxes[:, [0, 1, 3, 4]]
    x, new_hw = preprocess_image(image)
    hw = image.shape[:2]
    b256 = np.stack([resize_box_to_256(b, hw) for b in boxes]).astype(np.float32)
    many = np.resize(b256, (16, 4)).astype(np.float32)  # cycle the case's boxes to 16
    return x[None], new_hw, hw, b256[:1], many


def _rotate(items: list, k: int) -> list:
    k %= max(len(items), 1)
    return items[k:] + items[:k]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the whole protocol; returns the JSON-ready result."""
    from umedsam.bench import coldstart
    from umedsam.metrics.challenge import score_labels
    from umedsam.metrics.parity import label_agreement

    backends = cfg.backends or [None] * len(cfg.engines)
    paths = require_cases(cfg.data)
    cases = [load_case(p) for p in paths]
    predictors: list[Predictor] = []
    engines: list[dict[str, Any]] = []
    try:
        for e, b in zip(cfg.engines, backends):
            predictors.append(Predictor(e, backend=b, threads=cfg.threads))  # "builtin" resolves in the format table
        for e, p in zip(cfg.engines, predictors):
            info = p.backend.info()
            engines.append({"engine": e, "backend": info.get("backend"), "precision": info.get("precision", "fp32"),
                            "info": info, "stages": {}, "cases": []})
        idx = list(range(len(predictors)))

        # 1. stages
        image = cases[0].imgs if cases[0].kind == "2D" else None
        x, new_hw, hw, box1, box16 = _stage_inputs(cases[0])
        samples: dict[int, dict[str, list[float]]] = {i: {s: [] for s in STAGES} for i in idx}
        embs = {i: predictors[i].backend.encode(x) for i in idx}
        x_other = np.ascontiguousarray(x[..., ::-1])  # a second image (mirrored) for decoder_new_image_1box
        embs_other = {i: predictors[i].backend.encode(x_other) for i in idx}
        logits1 = predictors[0].backend.decode(embs[0], box1)[0]
        for r in range(cfg.warmup + cfg.iters):
            for i in _rotate(idx, r):
                be = predictors[i].backend
                rec = samples[i]
                time.sleep(cfg.settle)
                if image is not None:
                    dt, _ = _timed(lambda: preprocess_image(image))
                else:
                    sl = cases[0].imgs[len(cases[0].imgs) // 2]
                    dt, _ = _timed(lambda: normalize_pad(resize_longest_side(sl)))
                s_pre = dt
                s_enc, _ = _timed(lambda: be.encode(x))
                s_dn, _ = _timed(lambda: be.decode(embs_other[i], box1))
                be.decode(embs[i], box1)  # back to the first image (untimed), then its boxes
                s_d1, _ = _timed(lambda: be.decode(embs[i], box1))
                s_d16, _ = _timed(lambda: be.decode(embs[i], box16))
                s_post, _ = _timed(lambda: logits_to_masks(logits1, new_hw, hw))
                if r >= cfg.warmup:
                    for key, val in zip(STAGES, (s_pre, s_enc, s_dn, s_d1, s_d16 / 16, s_post)):
                        rec[key].append(val)
            progress(f"stages round {r + 1}/{cfg.warmup + cfg.iters}")
        for i in idx:
            engines[i]["stages"] = {k: summarize(v) for k, v in samples[i].items()}

        # 2. cases
        gts_dir = find_gts(cfg.data, cfg.gts)
        first_labels: dict[tuple[int, str], np.ndarray] = {}
        for r in range(cfg.case_iters):
            for case in cases:
                for i in _rotate(idx, r + cases.index(case)):
                    time.sleep(cfg.settle)
                    dt, seg = _timed(lambda: predictors[i].segment_case(case.kind, case.imgs, case.boxes))
                    # decoder calls: the native runtime counts them itself (it keeps no per-call log)
                    decoded = int(seg.timings["decoder_calls"]) if "decoder_calls" in seg.timings else \
                        (len(seg.calls) if case.kind == "3D" else len(case.boxes))
                    engines[i]["cases"].append({
                        "case": case.name, "kind": case.kind, "boxes": int(len(case.boxes)), "round": r,
                        "seconds": dt, "decoded_boxes": decoded,
                        "stages": {k: float(v) for k, v in seg.timings.items()
                                   if not k.startswith("cache") and not k.endswith("_calls")}})
                    if r == 0:
                        first_labels[(i, case.name)] = seg.labels
                progress(f"case {case.name} round {r + 1}/{cfg.case_iters}")
        for i in idx:
            per_case = {}
            for c in engines[i]["cases"]:
                per_case.setdefault(c["case"], []).append(c["seconds"])
            engines[i]["case_seconds"] = {k: float(np.median(v)) for k, v in per_case.items()}
            engines[i]["case_total"] = summarize(list(engines[i]["case_seconds"].values()))

        # accuracy: DSC/NSD vs GT (each GT read once) and agreement with the reference engine
        gts = {c.name: load_gt(gts_dir / c.name) for c in cases
               if gts_dir is not None and (gts_dir / c.name).is_file()}
        for i in idx:
            acc: dict[str, Any] = {"cases": {}}
            agree = []
            for case in cases:
                labels = first_labels[(i, case.name)]
                agree += label_agreement(first_labels[(0, case.name)], labels, len(case.boxes))
                if case.name in gts:
                    gt, gt_spacing = gts[case.name]
                    scores = score_labels(case.kind, gt, labels, gt_spacing, case.spacing)
                    acc["cases"][case.name] = dict(zip(("dsc", "nsd"), scores))
            vals = list(acc["cases"].values())
            acc["dsc"] = float(np.nanmean([v["dsc"] for v in vals])) if vals else math.nan
            acc["nsd"] = float(np.nanmean([v["nsd"] for v in vals])) if vals else math.nan
            acc["min_agreement_vs_reference"] = float(min(agree)) if agree else math.nan
            engines[i]["accuracy"] = acc
    finally:
        for p in predictors:
            p.close()

    # 3. cold start + peak RSS, one fresh process per engine (after this process let go of its engines)
    if cfg.cold_start:
        for i, e in enumerate(cfg.engines):
            progress(f"cold start {e}")
            engines[i]["cold_start"] = coldstart.measure(e, str(paths[0]), cfg.threads, backends[i])

    def cold(e: dict[str, Any]) -> float | None:
        c = e.get("cold_start", {})
        return None if "error" in c else c.get("wall_s")

    ref = engines[0]
    for e in engines:
        e["speedup"] = {
            "encoder": speedup(ref["stages"]["encoder"], e["stages"]["encoder"]),
            "decoder_1box": speedup(ref["stages"]["decoder_1box"], e["stages"]["decoder_1box"]),
            "case_total": speedup({"p50": sum(ref["case_seconds"].values())}, {"p50": sum(e["case_seconds"].values())}),
            "cold_start": speedup({"p50": cold(ref)}, {"p50": cold(e)}),
        }
    return {"environment": environment(cfg.threads),
            "config": {"data": str(cfg.data), "cases": [c.name for c in cases], "warmup": cfg.warmup,
                       "settle_s": cfg.settle,
                       "iters": cfg.iters, "case_iters": cfg.case_iters, "threads": cfg.threads,
                       "stage_input": paths[0].name},
            "engines": engines}
