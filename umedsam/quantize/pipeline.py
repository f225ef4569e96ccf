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
"""

from __future__ import annotations

import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

import numpy as np

from umedsam.errors import UmedsamError
from umedsam.runtime.backends.base import Backend
from umedsam.quantize.calibration import CalibrationSet, load_calibration
from umedsam.quantize.presets import DEFAULT_PRESET, PRESETS, Preset
from umedsam.quantize.search import SearchResult, Validator, cosine_error, fallback_search, mask_error, rank_blocks

METHODS = ("ort", "nncf", "inc")
#: method -> bundle format it writes
METHOD_FORMAT = {"ort": "onnx", "inc": "onnx", "nncf": "openvino"}
STAGES = ("encoder", "decoder")


@dataclass
class QuantizeOptions:
    """Everything ``umedsam-quantize`` can set. Drops are fractions here (the CLI takes points)."""

    method: str = "ort"
    preset: str = DEFAULT_PRESET
    max_dsc_drop: float = 0.005
    max_nsd_drop: float = 0.007
    min_agreement: float = 0.5         # per label vs FP32's masks: no object lost (the gate's INT8 default)
    min_boundary: float = 0.95         # per case: boundary within 1 model pixel of FP32's (the gate's INT8 default)
    search: bool = True
    per_channel: bool = True
    reduce_range: bool = False
    calibration: str = "minmax"
    samples: int = 300
    val: Path | None = None            # validation cases for the search (default: the calibration folder)
    val_cases: int | None = None
    sensitivity_inputs: int = 4        # validation images / decoder calls per sensitivity measurement
    max_evals: int = 6                 # validation runs the fallback search may spend
    data: Path | None = None           # gate cases (default: the export check's cases)
    gts: Path | None = None
    threads: int | None = None
    force: bool = False
    inc_python: Path | None = None
    smooth_quant_alpha: float | None = 0.5
    nncf_accuracy_control: bool = False  # nncf: NNCF's quantize_with_accuracy_control instead of our search
    latency_iters: int = 5


#: ``progress(description, total)`` -> a context manager yielding ``advance(label)`` (the CLI's rich bars)
ProgressFactory = Callable[[str, int], ContextManager[Callable[[str], None]]]


def _no_progress(description: str, total: int) -> ContextManager[Callable[[str], None]]:
    return nullcontext(lambda label="": None)


@dataclass
class QuantizeResult:
    manifest: dict[str, Any]
    parity: Any                        # ParityReport
    search: SearchResult | None = None
    notes: list[str] = field(default_factory=list)


def _validate(opts: QuantizeOptions) -> Preset:
    if opts.method not in METHODS:
        raise UmedsamError(f"--method {opts.method}: choose one of {', '.join(METHODS)}")
    if opts.preset not in PRESETS:
        raise UmedsamError(f"--preset {opts.preset}: choose one of {', '.join(PRESETS)}")
    if opts.max_dsc_drop < 0 or opts.max_nsd_drop < 0:
        raise UmedsamError("--max-dsc-drop/--max-nsd-drop: must be >= 0 (points)")
    return PRESETS[opts.preset]


# ------------------------------------------------------------------------------------------ source
def source_bundle(engine: str | Path | None, method: str, work: Path, threads: int | None,
                  log: Callable[[str], None]) -> Path:
    """An FP32 bundle folder in the format ``method`` quantizes (exported or converted when needed)."""
    from umedsam.runtime.bundle import open_bundle
    from umedsam.runtime.formats import BUILTIN

    want = METHOD_FORMAT[method]
    if engine is None or str(engine) == BUILTIN or str(engine).endswith((".pth", ".pt")):
        from umedsam.export import ExportOptions, export_bundle

        target = "onnx" if want == "onnx" else "openvino"
        log(f"exporting {'the built-in weights' if engine in (None, BUILTIN) else engine} to an FP32 {target} bundle")
        export_bundle(None if engine in (None, BUILTIN) else engine, work / "fp32", ExportOptions(
            target=target, check=False, threads=threads, force=True))
        return work / "fp32"
    bundle = open_bundle(engine)
    if bundle.merged:
        raise UmedsamError(f"{engine}: quantize needs a bundle folder with encoder and decoder graphs, not a merged graph")
    if bundle.manifest.get("quantization") or bundle.precision != "fp32":
        raise UmedsamError(f"{engine}: field 'precision': {bundle.precision}"
                           f"{' (already quantized)' if bundle.manifest.get('quantization') else ''}; "
                           f"quantize an FP32 bundle")
    if bundle.format == want:
        return bundle.root
    if bundle.format == "onnx" and want == "openvino":
        from umedsam.export import ExportOptions, export_bundle

        log(f"converting {engine} to OpenVINO IR for NNCF")
        export_bundle(None, work / "fp32", ExportOptions(target="openvino", check=False, force=True,
                                                         from_onnx=bundle.root, threads=threads))
        return work / "fp32"
    raise UmedsamError(f"{engine}: --method {method} quantizes {want} graphs; this is a {bundle.format} bundle "
                       f"(pass the ONNX bundle or a checkpoint)")


def write_candidate(folder: Path, fmt: str, src_manifest: dict[str, Any], stages: dict[str, Any],
                    quantization: dict[str, Any]) -> dict[str, Any]:
    """Manifest for a folder whose graphs are written; returns it."""
    from umedsam.export.manifest import build_manifest, write_manifest

    graphs = {s: f"{s}.{'onnx' if fmt == 'onnx' else 'xml'}" for s in STAGES}
    manifest = build_manifest(folder, fmt, "int8", graphs, src_manifest.get("source", {}),
                              {"stages": stages, "quantized_from": src_manifest.get("files", {})},
                              {"opset": src_manifest.get("opset"), "quantization": quantization,
                               **({"compression": src_manifest["compression"]} if src_manifest.get("compression") else {})})
    write_manifest(folder, manifest)
    return manifest


def _copy_stage(src: Path, folder: Path) -> dict[str, Any]:
    """The FP32 graph of a stage, copied unchanged (with its .bin for IR)."""
    dst = folder / src.name
    shutil.copyfile(src, dst)
    size = dst.stat().st_size
    if src.suffix == ".xml":
        shutil.copyfile(src.with_suffix(".bin"), dst.with_suffix(".bin"))
        size += dst.with_suffix(".bin").stat().st_size
    return {"quantized": False, "bytes": size}


# ----------------------------------------------------------------------------------------- methods
class _Quantizer(ABC):
    """Writes candidate bundles (stage graphs + manifest) for a set of blocks kept in float."""

    fmt = "onnx"

    def __init__(self, src: Path, calib: CalibrationSet, preset: Preset, opts: QuantizeOptions, work: Path,
                 log: Callable[[str], None], progress: ProgressFactory = _no_progress) -> None:
        from umedsam.runtime.bundle import open_bundle

        self.src = open_bundle(src)
        self.calib, self.preset, self.opts, self.work, self.log = calib, preset, opts, work, log
        self.progress = progress

    def stages(self) -> tuple[str, ...]:
        return STAGES if self.preset.decoder else ("encoder",)

    @abstractmethod
    def blocks(self, stage: str) -> list[str]:
        """The blocks of ``stage`` that the preset quantizes (what the search ranks)."""

    @abstractmethod
    def quantize(self, stage: str, folder: Path, float_blocks: list[str]) -> dict[str, Any]:
        """Write ``stage`` into ``folder`` with ``float_blocks`` kept in float; returns its manifest entry."""

    def build(self, folder: Path, float_blocks: list[str], quantization: dict[str, Any]) -> dict[str, Any]:
        folder.mkdir(parents=True, exist_ok=True)
        info = {}
        for stage in STAGES:
            if stage in self.stages():
                info[stage] = {"quantized": True, **self.quantize(stage, folder, float_blocks)}
            else:
                info[stage] = _copy_stage(self.src.graphs[stage], folder)
        return write_candidate(folder, self.fmt, self.src.manifest, info, quantization)


class _OrtQuantizer(_Quantizer):
    """ONNX Runtime QDQ with a calibration cache per stage (one calibration pass each)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from umedsam.quantize.ort_qdq import prepare

        self.prepared = {s: prepare(self.src.graphs[s], self.work / f"{s}.prep.onnx") for s in STAGES}
        self.caches = {s: self.work / f"{s}.calibration.json" for s in STAGES}

    def blocks(self, stage: str) -> list[str]:
        from umedsam.quantize.ort_qdq import graph_blocks

        return graph_blocks(self.prepared[stage], self.preset)

    def quantize(self, stage: str, folder: Path, float_blocks: list[str]) -> dict[str, Any]:
        from umedsam.quantize.ort_qdq import quantize_stage

        cache = self.caches[stage]
        feeds = None if cache.is_file() or self.preset.weights_only else self.calib.feeds(stage)
        bar = _no_progress
        if feeds is not None:
            self.log(f"calibrating the {stage} on {len(feeds)} inputs (ONNX Runtime, {self.opts.calibration}; once, cached)")
            bar = self.progress
        with bar(f"calibrating the {stage} (ONNX Runtime, {self.opts.calibration})", len(feeds or ())) as advance:
            return quantize_stage(self.prepared[stage], folder / f"{stage}.onnx", feeds, self.preset, float_blocks,
                                  self.opts.per_channel, self.opts.reduce_range, self.opts.calibration, cache,
                                  on_feed=advance)


class _IncQuantizer(_Quantizer):
    """neural-compressor SmoothQuant + QDQ in its own Python (a calibration pass per call)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from umedsam.quantize.inc import find_python

        self.python = find_python(self.opts.inc_python)

    def blocks(self, stage: str) -> list[str]:
        from umedsam.quantize.ort_qdq import graph_blocks

        return graph_blocks(self.src.graphs[stage], self.preset)

    def quantize(self, stage: str, folder: Path, float_blocks: list[str]) -> dict[str, Any]:
        from umedsam.quantize.inc import quantize_stage

        self.log(f"neural-compressor on the {stage} ({len(self.calib.feeds(stage))} calibration inputs, "
                 f"SmoothQuant alpha {self.opts.smooth_quant_alpha})")
        return quantize_stage(self.python, self.src.graphs[stage], folder / f"{stage}.onnx", self.calib.feeds(stage),
                              self.preset, float_blocks, self.opts.per_channel, self.opts.reduce_range,
                              self.opts.smooth_quant_alpha)


class _NncfQuantizer(_Quantizer):
    """NNCF on OpenVINO IR. Each stage is quantized once; the search's variants revert blocks to float by
    removing their FakeQuantize ops (:func:`umedsam.quantize.nncf_ov.revert_blocks`), no recalibration.
    With ``accuracy_control`` the encoder goes through NNCF's own accuracy control instead (our DSC as
    its metric)."""

    fmt = "openvino"

    def __init__(self, *args: Any, fp32_backend: Backend, validator: Validator | None = None,
                 accuracy_control: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fp32_backend, self.validator, self.accuracy_control = fp32_backend, validator, accuracy_control
        self.full: dict[str, Any] = {}
        self.fp32_models: dict[str, Any] = {}

    def _quantized(self, stage: str):
        """The stage quantized with every block INT8 (computed once)."""
        if stage in self.full:
            return self.full[stage]
        import openvino as ov

        from umedsam.quantize import nncf_ov

        model = ov.Core().read_model(str(self.src.graphs[stage]))
        self.fp32_models[stage] = model
        feeds = self.calib.feeds(stage)
        if self.preset.weights_only:
            self.log(f"NNCF weight-only INT8 on the {stage}")
            q = nncf_ov.compress_ir_weights(model, self.preset)
        elif stage == "encoder" and self.accuracy_control and self.validator is not None:
            self.log(f"NNCF accuracy control on the encoder (max DSC drop {self.opts.max_dsc_drop * 100:.2f} points, "
                     f"{len(self.validator.cases)} validation cases)")
            q = nncf_ov.quantize_ir_with_accuracy_control(model, feeds, self.preset, list(self.validator.cases),
                                                          self._score, self.opts.max_dsc_drop, self.opts.max_evals)
        else:
            self.log(f"NNCF INT8 on the {stage} ({len(feeds)} calibration inputs, transformer model type)")
            q = nncf_ov.quantize_ir(model, feeds, self.preset)
        self.full[stage] = q
        return q

    def blocks(self, stage: str) -> list[str]:
        from umedsam.quantize.nncf_ov import quantized_blocks

        return quantized_blocks(self._quantized(stage))

    def quantize(self, stage: str, folder: Path, float_blocks: list[str]) -> dict[str, Any]:
        from umedsam.quantize import nncf_ov

        start = time.perf_counter()
        q = self._quantized(stage)
        if set(float_blocks) & set(self.blocks(stage)):
            q = nncf_ov.revert_blocks(q, self.fp32_models[stage], float_blocks)
        info = nncf_ov.save_ir(q, folder / f"{stage}.xml")
        info.update(seconds=round(time.perf_counter() - start, 2), int8_ops=nncf_ov.int8_ops(q))
        return info

    def _score(self, compiled, items: list[Path]) -> tuple[float, list[float]]:
        """NNCF's validation_fn: the predictor with this compiled encoder + the FP32 decoder, per-case DSC."""
        from umedsam.runtime.predictor import Predictor

        predictor = Predictor(_CompiledEncoderBackend(compiled, self.fp32_backend))
        scores = [float(dsc) for dsc, _, _ in self.validator.score_cases(predictor, list(items))]
        return float(np.nanmean(scores)), scores


class _CompiledEncoderBackend(Backend):
    """A backend whose encoder is a given ``ov.CompiledModel`` and whose decoder is another backend's."""

    name = "openvino-candidate"

    def __init__(self, compiled, decoder_backend: Backend) -> None:
        super().__init__(decoder_backend.path, decoder_backend.threads)
        self.compiled, self.decoder_backend = compiled, decoder_backend

    def encode(self, images: np.ndarray) -> np.ndarray:
        return np.array(self.compiled({0: np.ascontiguousarray(images, np.float32)})[0], copy=True)

    def decode(self, embedding: np.ndarray, boxes256: np.ndarray):
        return self.decoder_backend.decode(embedding, boxes256)

    def info(self) -> dict[str, Any]:
        return {"backend": self.name}

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------- pipeline
def _sensitivity(q: _Quantizer, fp32, calib: CalibrationSet, val_images: list[np.ndarray], n: int) -> Callable[[str], float]:
    """``block -> error`` of its stage's output with only that block quantized (see :mod:`.search`)."""
    from umedsam.runtime.formats import load_backend

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


def quantize_bundle(engine: str | Path | None, calib_dir: str | Path, out: str | Path, opts: QuantizeOptions,
                    log: Callable[[str], None] = lambda s: None,
                    progress: ProgressFactory = _no_progress) -> QuantizeResult:
    """Quantize ``engine`` with calibration cases ``calib_dir`` into the bundle folder ``out``."""
    from umedsam.export.bundle import _commit, _prepare_out
    from umedsam.export.manifest import write_manifest
    from umedsam.runtime.formats import load_backend
    from umedsam.runtime.predictor import Predictor

    preset = _validate(opts)
    out = Path(out)
    tmp = _prepare_out(out, opts.force)
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
        args = (src, calib, preset, opts, work, log, progress)
        search = None
        if opts.method == "nncf":
            q: _Quantizer = _NncfQuantizer(*args, fp32_backend=fp32, validator=validator,
                                           accuracy_control=opts.nncf_accuracy_control)
            quantization["nncf_accuracy_control"] = opts.nncf_accuracy_control
        else:
            q = _OrtQuantizer(*args) if opts.method == "ort" else _IncQuantizer(*args)
        float_blocks: list[str] = []
        if validator is not None and opts.method != "inc" and not opts.nncf_accuracy_control:
            search = _search(q, fp32, calib, validator, opts, log)
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
        report = _gate(src, tmp, opts, work, log)
        manifest["parity"] = _parity_summary(report)
        manifest["status"] = "passed" if report.passed and (search is None or search.passed) else "failed"
        if search is not None and not search.passed:
            manifest["status_reason"] = "accuracy-aware search did not meet the bounds on the validation set"
        quantization["latency_ms"] = _latency(src, tmp, opts)
        write_manifest(tmp, manifest)
        fp32.close()
        _commit(tmp, out)
        return QuantizeResult(manifest, report, search, notes)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _search(q: _Quantizer, fp32, calib: CalibrationSet, validator: Validator, opts: QuantizeOptions,
            log: Callable[[str], None]) -> SearchResult:
    from umedsam.runtime.calibration import calibration_images
    from umedsam.runtime.formats import load_backend
    from umedsam.runtime.predictor import Predictor

    val_images = list(calibration_images(validator.cases[0].parent, max_samples=opts.sensitivity_inputs, slice_step=4))
    q.build(q.work / "calibrate", [], {"method": "calibration"})  # fills the calibration caches once
    blocks = [b for s in q.stages() for b in q.blocks(s)]
    log(f"ranking {len(blocks)} blocks by sensitivity (each quantized alone)")
    ranking = rank_blocks(blocks, _sensitivity(q, fp32, calib, val_images, opts.sensitivity_inputs), log)

    def evaluate(float_blocks: list[str]) -> tuple[float, float, float, float]:
        folder = q.work / "candidate"
        shutil.rmtree(folder, ignore_errors=True)
        q.build(folder, float_blocks, {"method": "search"})
        with load_backend(folder, threads=opts.threads) as cand:
            return validator.drops(Predictor(cand))

    return fallback_search(ranking, evaluate, opts.max_dsc_drop, opts.max_nsd_drop, opts.min_agreement,
                           opts.min_boundary, opts.max_evals, log)


def _gate(src: Path, candidate: Path, opts: QuantizeOptions, work: Path, log: Callable[[str], None]):
    from umedsam.data.npz import find_cases, find_gts
    from umedsam.export.check import write_check_cases
    from umedsam.metrics.parity import Tolerances, run_parity, with_overrides
    from umedsam.runtime.predictor import Predictor

    data = opts.data
    if data is None:
        data, _ = write_check_cases(work / "gate")
    cases = find_cases(data)
    tol = with_overrides(Tolerances.for_precision("int8"), max_dsc_drop=opts.max_dsc_drop, max_nsd_drop=opts.max_nsd_drop,
                         min_agreement=opts.min_agreement, min_boundary_agreement=opts.min_boundary)
    log(f"parity gate: INT8 vs FP32 on {len(cases)} cases from {data}")
    with Predictor(src, threads=opts.threads) as ref, Predictor(candidate, threads=opts.threads) as cand:
        return run_parity(ref, cand, cases, find_gts(data, opts.gts), tol,
                          on_case=lambda c: log(f"gate {c.case}: min agreement {c.min_agreement:.4f}"))


def _parity_summary(report) -> dict[str, Any]:
    return {"passed": report.passed, "precision": report.precision, "tolerances": asdict(report.tolerances),
            "overall": report.overall, "failures": report.failures + [f"{c.case}: {f}" for c in report.cases for f in c.failures],
            "cases": {c.case: {"min_agreement": c.min_agreement, "ref_dsc": c.ref_dsc, "cand_dsc": c.cand_dsc,
                               "ref_nsd": c.ref_nsd, "cand_nsd": c.cand_nsd, "error": c.error} for c in report.cases}}


def _latency(src: Path, candidate: Path, opts: QuantizeOptions) -> dict[str, dict[str, float]]:
    """Median ms of encoder (1 image) and decoder (1 box) calls, FP32 and INT8 interleaved."""
    from umedsam.runtime.formats import load_backend

    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 3, 256, 256)).astype(np.float32)
    box = np.array([[40, 50, 180, 200]], np.float32)
    times: dict[str, dict[str, list[float]]] = {"fp32": {"encoder": [], "decoder": []}, "int8": {"encoder": [], "decoder": []}}
    with load_backend(src, threads=opts.threads) as a, load_backend(candidate, threads=opts.threads) as b:
        engines = {"fp32": a, "int8": b}
        emb = a.encode(image)
        for name, e in engines.items():  # warm-up (first calls compile/allocate)
            e.encode(image), e.decode(emb, box)
        for _ in range(max(1, opts.latency_iters)):
            for name, e in engines.items():
                t = time.perf_counter()
                e.encode(image)
                times[name]["encoder"].append(time.perf_counter() - t)
                t = time.perf_counter()
                e.decode(emb, box)
                times[name]["decoder"].append(time.perf_counter() - t)
    return {n: {s: round(float(np.median(v)) * 1000, 1) for s, v in d.items()} for n, d in times.items()}


def summary_row(result: QuantizeResult, out: Path) -> dict[str, Any]:
    """One row of the quantize table (also what the demo and the note print)."""
    m = result.manifest
    q, o = m["quantization"], m["parity"]["overall"]
    size = sum(v.get("bytes", 0) for v in m["export"]["stages"].values())
    lat = q.get("latency_ms", {})
    return {"bundle": str(out), "method": q["method"], "preset": q["preset"], "size_mb": round(size / 1e6, 1),
            "enc_ms_fp32": lat.get("fp32", {}).get("encoder"), "enc_ms_int8": lat.get("int8", {}).get("encoder"),
            "dec_ms_fp32": lat.get("fp32", {}).get("decoder"), "dec_ms_int8": lat.get("int8", {}).get("decoder"),
            "dsc_fp32": o.get("ref_dsc"), "dsc_int8": o.get("cand_dsc"), "dsc_delta": o.get("dsc_delta"),
            "nsd_fp32": o.get("ref_nsd"), "nsd_int8": o.get("cand_nsd"), "nsd_delta": o.get("nsd_delta"),
            "min_agreement": o.get("min_agreement"), "mean_agreement": o.get("mean_agreement"),
            "min_case_boundary": o.get("min_case_boundary"),
            "float_blocks": len(q.get("float_blocks", [])), "decoder_int8": q.get("decoder_quantized"),
            "status": m["status"]}


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: method, size, latency FP32 -> INT8, DSC/NSD vs GT and deltas in points, agreement, verdict."""
    from umedsam.common import markdown_table

    def pts(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x * 100:+.2f}"

    def f4(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x:.4f}"

    def ms(a: float | None, b: float | None) -> str:
        return "n/a" if not a or not b else f"{a:.0f} → {b:.0f} ({a / b:.2f}×)"

    body = [[r["method"], r["preset"], f"{r['size_mb']:.1f} MB", ms(r["enc_ms_fp32"], r["enc_ms_int8"]),
             ms(r["dec_ms_fp32"], r["dec_ms_int8"]), f"{f4(r['dsc_fp32'])} → {f4(r['dsc_int8'])}", pts(r["dsc_delta"]),
             f"{f4(r['nsd_fp32'])} → {f4(r['nsd_int8'])}", pts(r["nsd_delta"]), f4(r["min_agreement"]),
             f4(r["min_case_boundary"]), str(r["float_blocks"]), "yes" if r["decoder_int8"] else "no",
             "**passed**" if r["status"] == "passed" else "**FAILED**"] for r in rows]
    return markdown_table(["method", "preset", "size", "encoder ms FP32 → INT8", "decoder ms (1 box)",
                           "DSC vs GT", "ΔDSC pts", "NSD vs GT", "ΔNSD pts", "min label Dice vs FP32", "min case boundary ≤1px",
                           "float blocks", "decoder INT8", "gate"], body)
