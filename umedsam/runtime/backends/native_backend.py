"""The native runtime (``libumedsam.so`` over OpenVINO's C API) as a backend, through ctypes.

It runs the same bundles as the OpenVINO backend (IR or ONNX graphs). Two ways in:

* ``segment_case``: the whole case in C++ (pre-processing, 3D propagation, embedding cache,
  post-processing); the :class:`~umedsam.runtime.predictor.Predictor` hands cases to it, so parity and
  benchmarks compare the native pipeline, not only its inference, with the Python one;
* ``encode``/``decode``: the graphs alone, for per-stage benchmarks and tensor parity.

Select it with ``--backend native`` (or ``--candidate-backend native``) on a bundle folder.
"""

from __future__ import annotations

import ctypes
import json
from typing import Any

import numpy as np

from umedsam.errors import EngineError
from umedsam.runtime import native_lib as nl
from umedsam.runtime.backends.graph_backend import GraphBackend
from umedsam.runtime.bundle import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUT,
    ENCODER_OUTPUT,
)
from umedsam.runtime.result import Segmentation


class NativeBackend(GraphBackend):
    """One native session per backend (a session is single-threaded, like the Python backends)."""

    name = "native"

    def __init__(self, path: str, threads: int | None = None, max_cache_mb: float = 1024,
                 cache_dir: str | None = None, verify: bool = True) -> None:
        super().__init__(path, threads, verify)
        self.split_decoder = False  # a split bundle is split inside the library (umedsam_decode)
        if self.bundle.merged:
            raise EngineError(f"{self.bundle.root}: the native runtime needs a bundle with encoder and decoder graphs, "
                              "not a merged graph")
        self.lib = nl.load_library()
        opts = nl.Options()
        self.lib.umedsam_options_default(ctypes.byref(opts))
        opts.threads = int(threads or 0)
        opts.max_cache_mb = float(max_cache_mb)
        opts.verify = 1 if verify else 0  # the library checks again (a stat per file: the digests are cached)
        opts.allow_failed = 1  # refusing failed bundles is the predict command's policy, not the backend's
        if cache_dir is not None:
            opts.cache_dir = str(cache_dir).encode()
        handle = ctypes.c_void_p()
        if self.lib.umedsam_open(str(self.bundle.root).encode(), ctypes.byref(opts), ctypes.byref(handle)) != nl.OK:
            raise EngineError(nl.last_error(self.lib))
        self.session = handle
        self.native_info = json.loads(self.lib.umedsam_session_info(self.session).decode())

    def _check(self, status: int) -> None:
        if status != nl.OK:
            raise EngineError(nl.last_error(self.lib))

    def _run(self, stage: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        f32 = ctypes.c_float
        if stage == "encoder":
            images = np.ascontiguousarray(feeds[ENCODER_INPUT], dtype=np.float32)
            out = np.empty((len(images), 256, 64, 64), dtype=np.float32)
            self._check(self.lib.umedsam_encode(self.session, nl.ptr(images, f32), len(images), nl.ptr(out, f32)))
            return {ENCODER_OUTPUT: out}
        emb = np.ascontiguousarray(feeds[DECODER_INPUTS[0]], dtype=np.float32)
        boxes = np.ascontiguousarray(feeds[DECODER_INPUTS[1]], dtype=np.float32).reshape(-1, 4)
        logits = np.empty((len(boxes), 1, 256, 256), dtype=np.float32)
        iou = np.empty((len(boxes), 1), dtype=np.float32)
        self._check(self.lib.umedsam_decode(self.session, nl.ptr(emb, f32), nl.ptr(boxes, f32), len(boxes),
                                            nl.ptr(logits, f32), nl.ptr(iou, f32)))
        return {DECODER_OUTPUTS[0]: logits, DECODER_OUTPUTS[1]: iou}

    def segment_case(self, kind: str, imgs: np.ndarray, boxes: np.ndarray):
        """The whole case in the native runtime, as a :class:`~umedsam.runtime.result.Segmentation`."""
        boxes = np.asarray(boxes)
        width = 4 if kind == "2D" else 6
        arith = nl.box_arith(boxes.dtype)
        values = np.ascontiguousarray(boxes.reshape(-1, width), dtype=np.float64)
        image = np.ascontiguousarray(imgs, dtype=np.uint8)
        n = len(values)
        ious = np.full(n, np.nan)
        u8, u16, f64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_double
        if kind == "2D":
            h, w = image.shape[:2]
            channels = 1 if image.ndim == 2 else image.shape[2]
            labels = np.empty((h, w), dtype=np.uint16)
            status = self.lib.umedsam_segment_2d(self.session, nl.ptr(image, u8), h, w, channels, nl.ptr(values, f64), n,
                                                 arith, nl.ptr(labels, u16), nl.ptr(ious, f64))
        else:
            d, h, w = image.shape
            labels = np.empty((d, h, w), dtype=np.uint16)
            status = self.lib.umedsam_segment_3d(self.session, nl.ptr(image, u8), d, h, w, nl.ptr(values, f64), n,
                                                 arith, nl.ptr(labels, u16), nl.ptr(ious, f64))
        self._check(status)
        t = nl.Timings()
        self._check(self.lib.umedsam_get_timings(self.session, ctypes.byref(t)))
        timings: dict[str, float] = {k: getattr(t, k + "_s") for k in ("preprocess", "encode", "decode", "postprocess")}
        timings.update(encoder_calls=t.encoder_calls, decoder_calls=t.decoder_calls)
        if kind == "3D":
            timings.update(cache_hits=t.cache_hits, cache_misses=t.cache_misses, cache_evictions=t.cache_evictions)
        warnings = [w for w in self.lib.umedsam_warnings(self.session).decode().split("\n") if w]
        scores = [{"label": k + 1, "iou": None if np.isnan(v) else float(v)} for k, v in enumerate(ious)]
        return Segmentation(labels, scores, warnings, timings)

    def info(self) -> dict[str, Any]:
        info = super().info()
        ni = self.native_info
        info.update(threads=ni.get("threads"), device=ni.get("device"), openvino=ni.get("openvino"),
                    inference_precision=ni.get("inference_precision"), cache_dir=ni.get("cache_dir") or None,
                    native=ni.get("version"), library=str(nl.library_path()))
        return info

    def close(self) -> None:
        if getattr(self, "session", None):
            self.lib.umedsam_close(self.session)
            self.session = None
