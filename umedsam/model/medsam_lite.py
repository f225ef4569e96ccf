"""The top-level LiteMedSAM / U-MedSAM model (docs/MODEL.md, "Top-level model").

Submodules are registered in the reference order (image_encoder, mask_decoder, prompt_encoder) so
``state_dict()`` iterates in the official key order. U-MedSAM shares the architecture: its
uncertainty-aware loss and SAM optimizer are training-only and never enter the state dict.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from umedsam.model.mask_decoder import MaskDecoder, TwoWayTransformer
from umedsam.model.prompt_encoder import PromptEncoder
from umedsam.model.tiny_vit import TinyViT


class MedSAMLite(nn.Module):
    """TinyViT encoder + SAM prompt encoder + mask decoder at 256x256."""

    def __init__(self) -> None:
        super().__init__()
        self.image_encoder = TinyViT()
        self.mask_decoder = MaskDecoder(256, TwoWayTransformer(depth=2, embedding_dim=256, num_heads=8, mlp_dim=2048))
        self.prompt_encoder = PromptEncoder(256, (64, 64), (256, 256), 16)
        self.compression: dict | None = None  # set by load_checkpoint for a factorized checkpoint

    def decode(self, image_embeddings: torch.Tensor, boxes256: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedding (1 or N, 256, 64, 64) + boxes (N, 4) in 256-space -> logits (N,1,256,256), iou (N,1).

        This is the export split's decoder stage: prompt encoder + mask decoder, single-mask output.
        """
        sparse, dense = self.prompt_encoder(boxes=boxes256.reshape(-1, 1, 4))
        return self.mask_decoder(image_embeddings, self.prompt_encoder.get_dense_pe(), sparse, dense,
                                 multimask_output=False)

    def forward(self, image: torch.Tensor, boxes256: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Train-script semantics: one box per image -> (low-res logits (B,1,256,256), iou (B,1))."""
        return self.decode(self.image_encoder(image), boxes256)

    @staticmethod
    def postprocess_masks(masks: torch.Tensor, new_size: tuple[int, int],
                          original_size: tuple[int, int]) -> torch.Tensor:
        """Crop the padded 256x256 logits to the resized image, then bilinear to the original size."""
        masks = masks[..., : new_size[0], : new_size[1]]
        return F.interpolate(masks, size=original_size, mode="bilinear", align_corners=False)
