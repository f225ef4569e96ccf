"""``quantize_bundle``: FP32 engine -> INT8 bundle, accuracy-aware, gated against the FP32 bundle.

Steps, each reported:

1. **Source**: the FP32 bundle the method works on (ONNX for ``ort``/``inc``, OpenVINO IR for
   ``nncf``); a checkpoint (or ``builtin``) is exported first, an ONNX bundle converts to IR.
2. **Calibration** (:mod:`umedsam.quantize.calibration`): encoder images and real-box decoder inputs
   with real FP32 embeddings, from ``--calib`` (kept apart from the gate's cases).
3. **Quantize** with the preset; with ``search`` on (``ort``, ``nncf``), keep the most sensitive
   blocks in float until the DSC/NSD drop and the agreement with FP32 on the validation set are
   within bounds (:mod:`umedsam.quantize.search`); ``--nncf-accuracy-control`` uses NNCF's own
   accuracy control, driven by our DSC, instead.
4. **Gate**: the parity gate (:mod:`umedsam.metrics.parity`) of the INT8 bundle against the FP32
   bundle on ``--data`` (default: the export check's real DSB2018 q3/q4 + a phantom); a bundle over the
   tolerated drop is written with ``status: failed`` and the command exits 1.
5. **Speed**: encoder and decoder latency of FP32 and INT8, interleaved, in the same process.

The bundle is assembled in a hidden temporary folder and renamed into place (never half-written).
One module per concern: options, source, methods, accuracy (search), gate, report; this one
strings them together.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from umedsam.common import commit_dir, staging_dir
from umedsam.export.manifest import write_manifest
from umedsam.quantize.accuracy import search_float_blocks
from umedsam.quantize.calibration import load_calibration
from umedsam.quantize.gate import gate, latency_ms, parity_summary
from umedsam.quantize.methods import make_quantizer
from umedsam.quantize.options import ProgressFactory, QuantizeOptions, QuantizeResult, no_progress, validate_options
from umedsam.quantize.search import Validator
from umedsam.quantize.source import default_method, source_bundle
from umedsam.runtime.formats import load_backend
from umedsam.runtime.predictor import Predictor


def quantize_bundle(engine: str | Path | None, calib_dir: str | Path, out: str | Path, opts: QuantizeOptions,
                    log: Callable[[str], None] = lambda s: None,
                    progress: ProgressFactory = no_progress) -> QuantizeResult:
    """Quantize ``engine`` with calibration cases ``calib_dir`` into the bundle folder ``out``.

    ``opts.method`` None takes the method that fits the engine's format (:func:`default_method`).
    """
    if opts.method is None:
        opts = replace(opts, method=default_method(engine))
    preset = validate_options(opts)
    out = Path(out)
    tmp = staging_dir(out, opts.force)
    work = Path(tempfile.mkdtemp(prefix="umedsam-quantize-"))
    notes: list[str] = []
    try:
        t0 = time.perf_counter()
        src = source_bundle(engine, opts.method, work, opts.threads, log)
        calib = load_calibration(calib_dir, max_samples=opts.samples)
        for w in calib.warnings:
            log(f"warning: {w}")
            notes.append(w)
        fp32 = load_backend(src, threads=opts.threads)
        with progress(f"embedding calibration images (FP32 {fp32.name})", len(calib.images)) as advance:
            calib.attach_embeddings(fp32.encode, on_item=advance)
        validator = None
        if opts.search and not preset.weights_only:
            validator = Validator.from_folder(Path(opts.val or calib_dir), opts.val_cases)
            log(f"validation: {len(validator.cases)} cases from {opts.val or calib_dir}, scoring FP32")
            validator.set_reference(Predictor(fp32))
        quantization: dict[str, Any] = {
            "method": opts.method, "preset": preset.name, "preset_description": preset.description,
            "weights_only": preset.weights_only, "per_channel": opts.per_channel, "reduce_range": opts.reduce_range,
            "calibration_method": opts.calibration, "calibration": calib.record(),
            "float_scopes": list(preset.exclude_scopes), "decoder_quantized": preset.decoder,
            "max_dsc_drop": opts.max_dsc_drop, "max_nsd_drop": opts.max_nsd_drop, "min_agreement": opts.min_agreement,
            "min_boundary": opts.min_boundary}
        search = None
        q = make_quantizer(src, calib, preset, opts, work, log, progress, fp32, validator)
        if opts.method == "nncf":
            quantization["nncf_accuracy_control"] = opts.nncf_accuracy_control
        float_blocks: list[str] = []
        if validator is not None and opts.method != "inc" and not opts.nncf_accuracy_control:
            search = search_float_blocks(q, fp32, calib, validator, opts, log)
            if search.passed:
                float_blocks = search.float_blocks
            else:  # keep the most-float configuration it tried, and say the bounds were not met
                float_blocks = max((st.float_blocks for st in search.steps), key=len, default=[])
                notes.append(f"the search found no configuration within the bounds in {len(search.steps)} validation "
                             f"runs (--max-evals); the bundle keeps the {len(float_blocks)} most sensitive blocks in "
                             f"float and is marked failed")
            quantization["search"] = search.to_json()
        quantization["float_blocks"] = float_blocks
        manifest = q.build(tmp, float_blocks, quantization)
        if validator is not None:
            with load_backend(tmp, threads=opts.threads) as cand:
                dsc, nsd, agree, boundary = validator.drops(Predictor(cand))
            quantization["validation"] = {"cases": len(validator.cases), "fp32_dsc": validator.reference[0],
                                          "fp32_nsd": validator.reference[1], "dsc_drop": dsc, "nsd_drop": nsd,
                                          "min_agreement": agree, "min_case_boundary": boundary}
            log(f"validation: DSC drop {dsc * 100:+.2f}, NSD drop {nsd * 100:+.2f} points, min label Dice {agree:.4f}, "
                f"min case boundary {boundary:.4f}")
        manifest["quantization"] = quantization
        quantization["seconds"] = round(time.perf_counter() - t0, 1)
        report = gate(src, tmp, opts, work, log)
        manifest["parity"] = parity_summary(report)
        manifest["status"] = "passed" if report.passed and (search is None or search.passed) else "failed"
        if search is not None and not search.passed:
            manifest["status_reason"] = "accuracy-aware search did not meet the bounds on the validation set"
        quantization["latency_ms"] = latency_ms(src, tmp, opts)
        write_manifest(tmp, manifest)
        fp32.close()
        commit_dir(tmp, out)
        return QuantizeResult(manifest, report, search, notes)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
