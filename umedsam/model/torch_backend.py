"""Eager PyTorch backend: the reference engine, the runtime's ``Backend`` over the torch model.

It lives with the model, not in ``umedsam/runtime/backends/``, because it is the one backend that needs
torch and :mod:`umedsam.model`: the runtime stays torch-free by construction (docs/ARCHITECTURE.md)
and reaches this class only by name, through the format table (:mod:`umedsam.runtime.formats`), when a
``.pth`` engine is opened. torch is imported when the backend is constructed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from umedsam.runtime.backends.base import Backend


class TorchBackend(Backend):
    """Runs a ``.pth`` checkpoint (or the built-in weights when ``path`` is None) on the CPU."""

    name = "torch"

    def __init__(self, path: str | None, threads: int | None = None) -> None:
        import torch

        from umedsam.model.checkpoint import load_checkpoint

        super().__init__(path if path is not None else "<built-in LiteMedSAM>", threads)
        if threads:
            torch.set_num_threads(int(threads))
        self._torch = torch
        self.model = load_checkpoint(path)

    @classmethod
    def from_model(cls, model, threads: int | None = None, label: str = "<in-memory model>") -> "TorchBackend":
        """Wrap an already loaded ``MedSAMLite`` (export checks, compression) without reloading it."""
        import torch

        self = cls.__new__(cls)
        Backend.__init__(self, label, threads)
        if threads:
            torch.set_num_threads(int(threads))
        self._torch, self.model = torch, model.eval()
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            out = self.model.image_encoder(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)))
        return out.numpy().copy()

    def decode(self, embedding: np.ndarray, boxes256: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            logits, iou = self.model.decode(torch.from_numpy(np.ascontiguousarray(embedding, dtype=np.float32)),
                                            torch.from_numpy(np.asarray(boxes256, dtype=np.float32)))
        return logits.numpy().copy(), iou.numpy().copy()

    def info(self) -> dict[str, Any]:
        info = super().info()
        info["threads"] = self._torch.get_num_threads()
        info["torch"] = self._torch.__version__
        compression = getattr(self.model, "compression", None)
        if compression:
            info["compression"] = {k: compression.get(k) for k in
                                   ("mode", "factorized_layers", "encoder_flops_ratio", "source_sha256")}
            if self.path and Path(self.path).is_file():
                from umedsam.assets import sha256_file

                info["compression"]["checkpoint_sha256"] = sha256_file(self.path)
        return info
