"""OpenVINO backend (CPU by default): runs IR bundles, and ONNX bundles through OpenVINO's ONNX frontend.

Compiled blobs go to a persistent ``CACHE_DIR`` so a second process (the challenge runs one per case)
skips compilation: ``UMEDSAM_OV_CACHE`` if set, else ``~/.cache/umedsam/openvino``; OpenVINO keys
the blobs by model, device and properties itself, so one folder serves every bundle. OpenVINO
rebuilds a truncated or garbage blob itself but imports one damaged in place (NaN outputs), so each
blob's sha256 is recorded once written and checked before every compile; a changed blob is deleted
and compiled again (``umedsam.runtime.integrity.check_blob_cache``). Checking, compiling and
recording happen under an exclusive lock on the cache folder (``cache_lock``, shared with the native
runtime): two processes starting at once on one cache both succeed, the second importing the blob
the first compiled (tests/runtime/test_compile_cache.py). Inference
precision is pinned to f32 (``INFERENCE_PRECISION_HINT``) so parity with PyTorch does not depend on
the CPU (OpenVINO picks bf16 on AMX CPUs by default), except for a ``bf16`` bundle, which asks for
bf16 (``Bundle.inference_precision``) where the CPU has it and falls back to f32 where it does not
(``info()["inference_precision"]`` says which ran); ``precision_hint`` overrides both.

OpenVINO may write into input tensors it was handed; inputs are therefore copied into the request
(``share_inputs=False``) and outputs copied out, because the predictor reuses cached embeddings.

Static shapes for the common calls: the encoder is compiled for one image (the predictor's call;
its kernels are built at import instead of in the first call, and it runs 11 % faster than the
dynamic-batch graph on a Xeon, as fast on an AMD EPYC) and the decoder for one box (51 vs 56 ms per call with dynamic shapes at 2 threads);
the dynamic graphs are compiled on the first batched or multi-box call. The decoder's stages are not
pinned to cores (``ENABLE_CPU_PINNING``): the CPU plugin builds a compiled model's graph on its
stream thread, and with pinning the encoder's and the decoder's imports, which run side by side on
two threads (as in the native runtime), queue on one core. docs/TARGETS.md ("Start-up") has the
measurements.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from umedsam.data.geometry import IMG_SIZE
from umedsam.errors import EngineError
from umedsam.runtime import timeline
from umedsam.runtime.backends.graph_backend import GraphBackend
from umedsam.runtime.bundle import DECODER_INPUTS, ENCODER_INPUT
from umedsam.runtime.integrity import cache_lock, check_blob_cache, record_blobs


def default_cache_dir() -> Path:
    """Where compiled OpenVINO blobs are kept between processes."""
    env = os.environ.get("UMEDSAM_OV_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "umedsam" / "openvino"


#: stages compiled with a static first dimension of 1 for the common call, under their own key
STATIC_KEY = {"encoder": "encoder_1", "decoder": "decoder_1box", "decoder_box": "decoder_box_1box"}
STATIC_SHAPES = {"encoder_1": {ENCODER_INPUT: [1, 3, IMG_SIZE, IMG_SIZE]},
                 "decoder_1box": {DECODER_INPUTS[1]: [1, 4]}, "decoder_box_1box": {DECODER_INPUTS[1]: [1, 4]}}


class OpenVINOBackend(GraphBackend):
    """One compiled model and one infer request per stage."""

    name = "openvino"

    def __init__(self, path: str, threads: int | None = None, device: str | None = None,
                 precision_hint: str | None = None, cache_dir: str | Path | None = None,
                 verify: bool = True) -> None:
        super().__init__(path, threads, verify)
        self.device = device or os.environ.get("UMEDSAM_OV_DEVICE", "CPU")
        self.core = ov.Core()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            self.core.set_property({"CACHE_DIR": str(self.cache_dir)})
        except OSError:
            self.cache_dir = None  # read-only file system: compile every time rather than fail
        self.rebuilt_blobs: list[str] = []  # blobs found changed and deleted before compiling (rebuilt)
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if self.device.startswith("CPU"):
            config["INFERENCE_PRECISION_HINT"] = precision_hint or self._cpu_precision(self.bundle.inference_precision)
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)
        self.config = config
        self.compiled: dict[str, ov.CompiledModel] = {}
        self.requests: dict[str, ov.InferRequest] = {}
        for graph in self.bundle.graphs.values():
            if graph.suffix.lower() not in (".xml", ".onnx"):
                raise EngineError(f"{graph}: OpenVINO runs .xml (IR) or .onnx graphs; use --backend "
                                  f"{self.bundle.format} for this bundle")
        stages = [(STATIC_KEY.get(stage, stage), graph) for stage, graph in self.bundle.graphs.items()
                  if not (stage == "decoder" and self.split_decoder)]  # decoder_image + decoder_box replace it
        with cache_lock(self.cache_dir):
            if self.cache_dir is not None:
                self.rebuilt_blobs = check_blob_cache(self.cache_dir)
            self._compile_side_by_side(stages)
            if self.cache_dir is not None:
                record_blobs(self.cache_dir)  # after every compile: no blob is recorded half-written
        if self.bundle.merged:
            graph = self.bundle.graphs["merged"]
            self._check_merged(graph, [p.get_any_name() for p in self.compiled["merged"].inputs])

    def _cpu_precision(self, wanted: str) -> str:
        """``wanted`` when the CPU computes in it (OpenVINO's OPTIMIZATION_CAPABILITIES), else f32."""
        if wanted == "f32":
            return wanted
        try:
            caps = self.core.get_property(self.device, "OPTIMIZATION_CAPABILITIES")
        except Exception:  # a device without the property: the safe precision
            return "f32"
        return wanted if wanted.upper() in caps else "f32"

    def _compile_side_by_side(self, stages: list[tuple[str, Path]]) -> None:
        """Compile the first stage (the encoder) here and the others on a second thread meanwhile.

        Importing a cached blob is mostly the CPU plugin building its kernels on one core, so the
        decoder's import overlaps the encoder's (the decoder is unpinned for this, see ``_compile``).
        """
        errors: list[BaseException] = []

        def rest() -> None:
            try:
                for key, graph in stages[1:]:
                    self._compile(key, graph, thread=1)
            except BaseException as exc:  # re-raised on the calling thread
                errors.append(exc)

        worker = threading.Thread(target=rest, name="umedsam-compile") if len(stages) > 1 else None
        if worker is not None:
            worker.start()
        try:
            self._compile(*stages[0])
        finally:
            if worker is not None:
                worker.join()
        if errors:
            raise errors[0]

    def _compile(self, key: str, graph: Path, thread: int = 0) -> None:
        """Compile ``graph`` as ``key``: a key of ``STATIC_KEY`` fixes its first input to one row."""
        config = dict(self.config)
        if key.startswith("decoder") and self.device.startswith("CPU"):
            config["ENABLE_CPU_PINNING"] = False
        try:
            with timeline.span(f"{key}: read graph", thread):
                model = self.core.read_model(str(graph))
                if key in STATIC_SHAPES:
                    model.reshape(STATIC_SHAPES[key])
            with timeline.span(f"{key}: compile or import", thread):
                self.compiled[key] = self.core.compile_model(model, self.device, config)
        except Exception as exc:  # OpenVINO raises RuntimeError with multi-line messages
            raise EngineError(f"{graph}: OpenVINO cannot compile it on {self.device} "
                              f"({str(exc).strip().splitlines()[0]})") from None
        self.requests[key] = self.compiled[key].create_infer_request()

    def _run(self, stage: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if stage in STATIC_KEY:
            row_input = next(iter(STATIC_SHAPES[STATIC_KEY[stage]]))
            if len(feeds[row_input]) == 1:
                stage = STATIC_KEY[stage]
            elif stage not in self.requests:
                with cache_lock(self.cache_dir):
                    self._compile(stage, self.bundle.graphs[stage])
                    if self.cache_dir is not None:
                        record_blobs(self.cache_dir)
        request = self.requests[stage]
        try:
            result = request.infer(feeds, share_inputs=False, share_outputs=False)
        except Exception as exc:  # OpenVINO raises RuntimeError with multi-line messages
            raise EngineError(f"{self.bundle.root}: OpenVINO {stage} failed: {str(exc).strip().splitlines()[0]}") from None
        return {port.get_any_name(): np.array(value, copy=True) for port, value in result.items()}

    def info(self) -> dict[str, Any]:
        info = super().info()
        compiled = self.compiled.get(STATIC_KEY["encoder"]) or next(iter(self.compiled.values()))
        cpu = self.device.startswith("CPU")
        hint = compiled.get_property("INFERENCE_PRECISION_HINT") if cpu else None
        info.update(openvino=ov.get_version(), device=self.device,
                    threads=int(compiled.get_property("INFERENCE_NUM_THREADS")) if cpu else None,
                    inference_precision=hint.to_string() if hasattr(hint, "to_string") else hint,
                    cache_dir=str(self.cache_dir) if self.cache_dir else None)
        return info

    def close(self) -> None:
        self.requests.clear()
        self.compiled.clear()
