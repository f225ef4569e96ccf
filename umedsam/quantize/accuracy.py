"""Accuracy-aware INT8: which blocks stay in float.

Each block's sensitivity is the error of its stage's output with only that block quantized; the blocks
are ranked by it and the fallback search (:func:`umedsam.quantize.search.fallback_search`) keeps the most
sensitive ones in float until the DSC/NSD drop and the agreement with FP32 on the validation cases are
within bounds.
"""

from __future__ import annotations

import shutil
from typing import Callable

import numpy as np

from umedsam.quantize.calibration import CalibrationSet
from umedsam.quantize.methods import Quantizer
from umedsam.quantize.options import QuantizeOptions
from umedsam.quantize.search import SearchResult, Validator, cosine_error, fallback_search, mask_error, rank_blocks
from umedsam.runtime.calibration import calibration_images
from umedsam.runtime.formats import load_backend
from umedsam.runtime.predictor import Predictor


def sensitivity(q: Quantizer, fp32, calib: CalibrationSet, val_images: list[np.ndarray], n: int) -> Callable[[str], float]:
    """``block -> error`` of its stage's output with only that block quantized (see :mod:`.search`)."""
    enc_in = val_images[:n]
    dec_in = calib.feeds("decoder")[:n]
    ref = {"encoder": [fp32.encode(x[None]) for x in enc_in],
           "decoder": [fp32.decode(f["image_embeddings"], f["boxes"])[0] for f in dec_in]}
    stage_of = {b: s for s in q.stages() for b in q.blocks(s)}
    all_blocks = list(stage_of)

    def measure(block: str) -> float:
        folder = q.work / "sensitivity"
        shutil.rmtree(folder, ignore_errors=True)
        q.build(folder, [b for b in all_blocks if b != block], {"method": "sensitivity"})
        with load_backend(folder, threads=q.opts.threads) as b:
            if stage_of[block] == "encoder":
                return cosine_error(ref["encoder"], [b.encode(x[None]) for x in enc_in])
            return mask_error(ref["decoder"], [b.decode(f["image_embeddings"], f["boxes"])[0] for f in dec_in])

    return measure


def search_float_blocks(q: Quantizer, fp32, calib: CalibrationSet, validator: Validator, opts: QuantizeOptions,
            log: Callable[[str], None]) -> SearchResult:
    """Rank the blocks by sensitivity, then keep the most sensitive in float until the bounds hold."""
    val_images = list(calibration_images(validator.cases[0].parent, max_samples=opts.sensitivity_inputs, slice_step=4))
    q.build(q.work / "calibrate", [], {"method": "calibration"})  # fills the calibration caches once
    blocks = [b for s in q.stages() for b in q.blocks(s)]
    log(f"ranking {len(blocks)} blocks by sensitivity (each quantized alone)")
    ranking = rank_blocks(blocks, sensitivity(q, fp32, calib, val_images, opts.sensitivity_inputs), log)

    def evaluate(float_blocks: list[str]) -> tuple[float, float, float, float]:
        folder = q.work / "candidate"
        shutil.rmtree(folder, ignore_errors=True)
        q.build(folder, float_blocks, {"method": "search"})
        with load_backend(folder, threads=opts.threads) as cand:
            return validator.drops(Predictor(cand))

    return fallback_search(ranking, evaluate, opts.max_dsc_drop, opts.max_nsd_drop, opts.min_agreement,
                           opts.min_boundary, opts.max_evals, log)
