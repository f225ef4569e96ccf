"""What the graph backends (ONNX Runtime, OpenVINO, TensorRT) share: bundle resolution and merged graphs.

Each subclass opens one compiled graph per stage and implements ``_run(stage, feeds)``; this class
turns that into ``encode``/``decode``. A lone merged graph (encoder and decoder in one graph,
inputs ``image`` + ``boxes``) is supported the only way it can be: ``encode`` keeps the image
itself as the "embedding" and every ``decode`` runs the whole graph, so it is correct but re-encodes
per decoder call; bundles with two graphs are the fast path.

A bundle exported with ``--split-decoder`` also holds ``decoder_image`` (the decoder's
box-independent part) and ``decoder_box`` (the rest): ``decode`` then runs ``decoder_image`` once per
embedding (the last one's outputs are kept and reused while the same embedding comes back, box
after box, slice after slice) and ``decoder_box`` per call.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from umedsam.runtime.backends.base import Backend
from umedsam.runtime.bundle import (DECODER_IMAGE_OUTPUTS, DECODER_INPUTS, DECODER_OUTPUTS, ENCODER_INPUT,
                                    ENCODER_OUTPUT, Bundle, open_bundle, single_stage_error)


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
        #: the decoder split is used when the bundle has both of its graphs
        self.split_decoder = not self.bundle.merged and {"decoder_image", "decoder_box"} <= self.bundle.graphs.keys()
        self._parts_of: np.ndarray | None = None  # the embedding whose decoder_image outputs are kept
        self._parts: dict[str, np.ndarray] = {}
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

    def _image_parts(self, embedding: np.ndarray) -> dict[str, np.ndarray]:
        """decoder_image's outputs for this embedding, computed once while the same embedding comes back."""
        if self._parts_of is None or not np.array_equal(self._parts_of, embedding):
            out = self._run("decoder_image", {DECODER_INPUTS[0]: embedding})
            self._parts = {name: out[name] for name in DECODER_IMAGE_OUTPUTS}
            self._parts_of = embedding.copy()
        return self._parts

    def decode(self, embedding: np.ndarray, boxes256: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = np.ascontiguousarray(np.asarray(boxes256, dtype=np.float32).reshape(-1, 4))
        if self.split_decoder:
            parts = self._image_parts(np.ascontiguousarray(embedding, dtype=np.float32))
            out = self._run("decoder_box", {**parts, DECODER_INPUTS[1]: boxes})
            return out[DECODER_OUTPUTS[0]], out[DECODER_OUTPUTS[1]]
        first = ENCODER_INPUT if self.bundle.merged else DECODER_INPUTS[0]
        out = self._run("merged" if self.bundle.merged else "decoder",
                        {first: np.ascontiguousarray(embedding, dtype=np.float32), DECODER_INPUTS[1]: boxes})
        return out[DECODER_OUTPUTS[0]], out[DECODER_OUTPUTS[1]]

    def info(self) -> dict[str, Any]:
        info = super().info()
        info.update(precision=self.bundle.precision, format=self.bundle.format, merged=self.bundle.merged,
                    split_decoder=self.split_decoder,
                    quantization=self.bundle.manifest.get("quantization"))
        if self.bundle.manifest.get("compression"):
            info["compression"] = {**self.bundle.manifest["compression"],
                                   "checkpoint_sha256": self.bundle.manifest.get("source", {}).get("sha256")}
        return info
