"""The two exported stages as torch modules, with the example inputs and dynamic dimensions of the export.

The split is the natural one (docs/MODEL.md, "Top-level model"): the image encoder alone, and prompt encoder + mask
decoder together, so a 3D slice is encoded once and decoded for any number of boxes. I/O names and
shapes are the runtime's contract (:mod:`umedsam.runtime.bundle`).
"""

from __future__ import annotations

import torch
from torch import nn

from umedsam.model.medsam_lite import MedSAMLite

#: upper bounds of the dynamic dimensions (TensorRT profiles use them; ONNX/OpenVINO stay unbounded)
MAX_SLICE_BATCH = 64
MAX_BOXES = 1024


class EncoderGraph(nn.Module):
    """image (B, 3, 256, 256) -> image_embeddings (B, 256, 64, 64)."""

    def __init__(self, model: MedSAMLite) -> None:
        super().__init__()
        self.image_encoder = model.image_encoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(image)


class DecoderGraph(nn.Module):
    """image_embeddings (1, 256, 64, 64) + boxes (N, 4) -> low_res_logits (N, 1, 256, 256), iou (N, 1)."""

    def __init__(self, model: MedSAMLite) -> None:
        super().__init__()
        self.model = model

    def forward(self, image_embeddings: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.decode(image_embeddings, boxes)


def stage_module(model: MedSAMLite, stage: str) -> nn.Module:
    """The torch module of one exported stage (the decoder split's two live in decoder_split.py)."""
    from umedsam.export.decoder_split import DecoderBoxGraph, DecoderImageGraph

    table = {"encoder": EncoderGraph, "decoder": DecoderGraph, "decoder_image": DecoderImageGraph,
             "decoder_box": DecoderBoxGraph}
    return table[stage](model).eval()


def example_inputs() -> dict[str, tuple[torch.Tensor, ...]]:
    """Deterministic example inputs. Batch 2 and 3 boxes, so no dynamic dimension is specialised to 1."""
    g = torch.Generator().manual_seed(0)
    image = torch.randn(2, 3, 256, 256, generator=g)
    embeddings = torch.randn(1, 256, 64, 64, generator=g)
    boxes = torch.tensor([[10.0, 20.0, 120.0, 200.0], [30.0, 40.0, 60.0, 90.0], [0.0, 0.0, 255.0, 255.0]])
    parts = (torch.randn(1, 4096, 256, generator=g),) + tuple(torch.randn(1, 4096, 128, generator=g) for _ in range(3))
    return {"encoder": (image,), "decoder": (embeddings, boxes), "decoder_image": (embeddings,),
            "decoder_box": parts + (boxes,)}


def dynamic_shapes() -> dict[str, dict[str, dict[int, object] | None]]:
    """torch.export dynamic dimensions per stage, keyed by forward() argument name."""
    batch = torch.export.Dim("batch", min=1, max=MAX_SLICE_BATCH)
    boxes = torch.export.Dim("boxes", min=1, max=MAX_BOXES)
    return {"encoder": {"image": {0: batch}}, "decoder": {"image_embeddings": None, "boxes": {0: boxes}},
            "decoder_image": {"image_embeddings": None},
            "decoder_box": {"image_tokens": None, "t2i_keys": None, "t2i_values": None, "i2t_queries": None,
                            "boxes": {0: boxes}}}
