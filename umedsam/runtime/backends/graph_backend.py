"""What the graph backends (ONNX Runtime, OpenVINO, TensorRT) share: bundle resolution and merged graphs.

Each subclass opens one compiled graph per stage and implements ``_run(stage, feeds)``; this class
turns that into ``encode``/``decode``. A lone merged graph (encoder and decoder in one graph,
inputs ``image`` + ``boxes``) is supported the only way it can be: ``encode`` keeps the image
itself as the "embedding" and every ``decode`` runs the whole graph, so it is correct but re-encodes
per decoder call; bundles with two graphs are the fast path.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from umedsam.runtime.backends.base import Backend
from umedsam.runtime.bundle import (DECODER_INPUTS, DECODER_OUTPUTS, ENCODER_INPUT, ENCODER_OUTPUT, Bundle,
                                    open_bundle, single_stage_error)


class GraphBackend(Backend):
    """Encoder/decoder over named-tensor graph sessions.

    ``verify`` (default on) checks the sha256 of every graph file against the manifest before any
    graph is loaded (:meth:`~umedsam.runtime.bundle.Bundle.verify_graphs`); off only on the user's
    explicit ``--no-verify``.
    """

    #: the format table passes ``verify`` only to backends that open bundles
    opens_bundles = True

    def __init__(self, path: str, threads: int | None = None, verify: bool = True) -> None:
        super().__init__(path, threads)
        self.bundle: Bundle = open_bundle(path)
        self.verified = bool(verify)
        if verify:
            self.bundle.verify_graphs()
        if self.bundle.manifest.get("status") == "failed":
            warnings.warn(f"{self.bundle.root}: this bundle FAILED its check (export-time check or INT8 gate; manifest status 'failed')",
                          stacklevel=2)

    def _check_merged(self, path: Path, inputs: list[str]) -> None:
        """A lone graph must take both ``image`` and ``boxes``; a single stage needs its bundle."""
        if not {ENCODER_INPUT, DECODER_INPUTS[1]} <= set(inputs):
            raise single_stage_error(path, inputs)

    @abstractmethod
    def _run(self, stage: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one stage's graph; returns fresh arrays (never views of backend buffers)."""

    def encode(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, dtype=np.float32)
        if self.bundle.merged:
            return images.copy()  # the merged graph encodes inside every decode call
        return self._run("encoder", {ENCODER_INPUT: images})[ENCODER_OUTPUT]

    def decode(self, embedding: np.ndarray, boxes256: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = np.ascontiguousarray(np.asarray(boxes256, dtype=np.float32).reshape(-1, 4))
        first = ENCODER_INPUT if self.bundle.merged else DECODER_INPUTS[0]
        out = self._run("merged" if self.bundle.merged else "decoder",
                        {first: np.ascontiguousarray(embedding, dtype=np.float32), DECODER_INPUTS[1]: boxes})
        return out[DECODER_OUTPUTS[0]], out[DECODER_OUTPUTS[1]]

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update(precision=self.bundle.precision, format=self.bundle.format, merged=self.bundle.merged,
                    quantization=self.bundle.manifest.get("quantization"))
        if self.bundle.manifest.get("compression"):
            info["compression"] = {**self.bundle.manifest["compression"],
                                   "checkpoint_sha256": self.bundle.manifest.get("source", {}).get("sha256")}
        return info
