"""One calibration source for every INT8 method: encoder images and decoder (embedding, boxes) pairs.

Encoder inputs come from :func:`umedsam.runtime.calibration.calibration_frames` (the inference
preprocessing, 3D slices inside the boxes' z ranges). Decoder inputs are *real* boxes of the same
cases, mapped to 256-space exactly as the predictor maps them, paired with the *real* FP32
embedding of their image, so the decoder is calibrated on the distribution it will see. The same
arrays feed ONNX Runtime's ``CalibrationDataReader``, ``nncf.Dataset`` and neural-compressor (as an
``.npz`` its worker reads).

Fewer than :data:`RECOMMENDED_SAMPLES` encoder images works but warns (NNCF and ultralytics use 300).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from umedsam.runtime.calibration import calibration_frames, calibration_hash
from umedsam.data.npz import Case, require_cases
from umedsam.errors import UmedsamError
from umedsam.runtime.preprocess import resize_box_to_256
from umedsam.runtime.bundle import DECODER_INPUTS, ENCODER_INPUT

RECOMMENDED_SAMPLES = 300
#: boxes per decoder calibration sample (one decoder call)
DECODER_BOXES = 8


@dataclass
class CalibrationSet:
    """Preprocessed calibration inputs of one folder, plus what the manifest records about them."""

    folder: Path
    images: list[np.ndarray]                                   # (3, 256, 256) float32 each
    boxes: list[np.ndarray]                                    # (n, 4) float32 256-space, per image
    sha256: str
    cases: int
    embeddings: list[np.ndarray] = field(default_factory=list)  # (1, 256, 64, 64), filled by attach_embeddings
    warnings: list[str] = field(default_factory=list)

    def encoder_feeds(self) -> Iterator[dict[str, np.ndarray]]:
        for img in self.images:
            yield {ENCODER_INPUT: img[None]}

    def decoder_feeds(self) -> Iterator[dict[str, np.ndarray]]:
        if not self.embeddings:
            raise UmedsamError("decoder calibration needs embeddings: call attach_embeddings first")
        for emb, boxes in zip(self.embeddings, self.boxes):
            if len(boxes):
                yield {DECODER_INPUTS[0]: emb, DECODER_INPUTS[1]: boxes}

    def feeds(self, stage: str) -> list[dict[str, np.ndarray]]:
        return list(self.encoder_feeds() if stage == "encoder" else self.decoder_feeds())

    def attach_embeddings(self, encode: Callable[[np.ndarray], np.ndarray],
                          on_item: Callable[[str], None] = lambda s: None) -> None:
        """Embed every calibration image with the FP32 engine (the decoder's real inputs)."""
        self.embeddings = []
        for img in self.images:
            self.embeddings.append(np.ascontiguousarray(encode(img[None])[:1]))
            on_item("")

    def record(self) -> dict[str, object]:
        """The manifest's ``quantization.calibration`` entry."""
        return {"folder": str(self.folder), "sha256": self.sha256, "cases": self.cases,
                "encoder_samples": len(self.images),
                "decoder_samples": sum(1 for b in self.boxes if len(b)),
                "decoder_boxes": int(sum(len(b) for b in self.boxes))}


def _frame_boxes(case: Case, z: int | None) -> np.ndarray:
    """The real boxes of one calibration frame (a 2D image, or slice ``z`` of a 3D case) in 256-space."""
    if z is None:
        h, w = case.imgs.shape[:2]
        return np.stack([resize_box_to_256(b, (h, w)) for b in case.boxes]).astype(np.float32) \
            if len(case.boxes) else np.zeros((0, 4), np.float32)
    h, w = case.imgs.shape[1:]
    inside = [b for b in case.boxes if b[2] <= z <= b[5]]
    return np.stack([resize_box_to_256(np.asarray(b)[[0, 1, 3, 4]], (h, w)) for b in inside]).astype(np.float32)


def load_calibration(folder: str | Path, max_samples: int = RECOMMENDED_SAMPLES, slice_step: int = 2,
                     seed: int = 0) -> CalibrationSet:
    """Read a calibration folder (an ``imgs`` folder or a root holding ``imgs/``)."""
    folder = Path(folder)
    paths = require_cases(folder)
    rng = np.random.default_rng(seed)
    images, boxes = [], []
    for image, case, z in calibration_frames(folder, max_samples=max_samples, slice_step=slice_step):
        images.append(image)
        frame_boxes = _frame_boxes(case, z)
        if len(frame_boxes) > DECODER_BOXES:  # a fixed random subset: many-box images would dominate
            frame_boxes = frame_boxes[np.sort(rng.choice(len(frame_boxes), DECODER_BOXES, replace=False))]
        boxes.append(frame_boxes)
    calib = CalibrationSet(folder, images, boxes, calibration_hash(folder), len(paths))
    if len(images) < RECOMMENDED_SAMPLES:
        calib.warnings.append(f"{folder}: {len(images)} calibration images (< {RECOMMENDED_SAMPLES} recommended); "
                              f"INT8 ranges may be less representative")
    return calib
