"""The INT8 methods, one class each over a shared :class:`Quantizer` interface.

* :class:`OrtQuantizer`: ONNX Runtime QDQ (:mod:`umedsam.quantize.ort_qdq`);
* :class:`IncQuantizer`: Intel neural-compressor SmoothQuant + QDQ in its own venv (:mod:`umedsam.quantize.inc`);
* :class:`NncfQuantizer`: NNCF on OpenVINO IR (:mod:`umedsam.quantize.nncf_ov`).

A quantizer writes candidate bundles for a given set of blocks kept in float, which is all the
accuracy-aware search (:mod:`umedsam.quantize.accuracy`) needs from it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

import numpy as np

from umedsam.quantize.calibration import CalibrationSet
from umedsam.quantize.options import STAGES, ProgressFactory, QuantizeOptions, no_progress
from umedsam.quantize.presets import Preset
from umedsam.quantize.search import Validator
from umedsam.quantize.source import copy_stage, write_candidate
from umedsam.runtime.backends.base import Backend
from umedsam.runtime.bundle import open_bundle


class Quantizer(ABC):
    """Writes candidate bundles (stage graphs + manifest) for a set of blocks kept in float."""

    fmt = "onnx"

    def __init__(self, src: Path, calib: CalibrationSet, preset: Preset, opts: QuantizeOptions, work: Path,
                 log: Callable[[str], None], progress: ProgressFactory = no_progress) -> None:
        self.src = open_bundle(src)
        self.calib, self.preset, self.opts, self.work, self.log = calib, preset, opts, work, log
        self.progress = progress

    def stages(self) -> tuple[str, ...]:
        """The stages the preset quantizes (the decoder only when the preset says so)."""
        return STAGES if self.preset.decoder else ("encoder",)

    @abstractmethod
    def blocks(self, stage: str) -> list[str]:
        """The blocks of ``stage`` that the preset quantizes (what the search ranks)."""

    @abstractmethod
    def quantize(self, stage: str, folder: Path, float_blocks: list[str]) -> dict[str, Any]:
        """Write ``stage`` into ``folder`` with ``float_blocks`` kept in float; returns its manifest entry."""

    def build(self, folder: Path, float_blocks: list[str], quantization: dict[str, Any]) -> dict[str, Any]:
        """Write a whole candidate bundle into ``folder`` (quantized stages + copied float ones); its manifest."""
        folder.mkdir(parents=True, exist_ok=True)
        info = {}
        for stage in STAGES:
            if stage in self.stages():
                info[stage] = {"quantized": True, **self.quantize(stage, folder, float_blocks)}
            else:
                info[stage] = copy_stage(self.src.graphs[stage], folder)
        return write_candidate(folder, self.fmt, self.src.manifest, info, quantization)


class OrtQuantizer(Quantizer):
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
        bar = no_progress
        if feeds is not None:
            self.log(f"calibrating the {stage} on {len(feeds)} inputs (ONNX Runtime, {self.opts.calibration}; once, cached)")
            bar = self.progress
        with bar(f"calibrating the {stage} (ONNX Runtime, {self.opts.calibration})", len(feeds or ())) as advance:
            return quantize_stage(self.prepared[stage], folder / f"{stage}.onnx", feeds, self.preset, float_blocks,
                                  self.opts.per_channel, self.opts.reduce_range, self.opts.calibration, cache,
                                  on_feed=advance)


class IncQuantizer(Quantizer):
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


class NncfQuantizer(Quantizer):
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

        predictor = Predictor(CompiledEncoderBackend(compiled, self.fp32_backend))
        scores = [float(dsc) for dsc, _, _ in self.validator.score_cases(predictor, list(items))]
        return float(np.nanmean(scores)), scores


class CompiledEncoderBackend(Backend):
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


def make_quantizer(src: Path, calib: CalibrationSet, preset: Preset, opts: QuantizeOptions, work: Path,
                   log: Callable[[str], None], progress: ProgressFactory, fp32: Backend,
                   validator: Validator | None) -> Quantizer:
    """The quantizer for ``opts.method``."""
    args = (src, calib, preset, opts, work, log, progress)
    if opts.method == "nncf":
        return NncfQuantizer(*args, fp32_backend=fp32, validator=validator, accuracy_control=opts.nncf_accuracy_control)
    return OrtQuantizer(*args) if opts.method == "ort" else IncQuantizer(*args)
