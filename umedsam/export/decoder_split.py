"""The decoder split in two graphs: what does not depend on the box, once per image, and the rest per box.

In SAM's mask decoder the box only enters through the prompt tokens. The image side of the first
two-way attention block is box-independent: the image tokens (embedding plus the no-mask dense
prompt, flattened), and their projections in that block's two cross-attentions (keys and values of
token->image attention, the queries of image->token attention, each 4096 x 128). Those three
projections are about a quarter of the decoder's FLOPs per box. ``DecoderImageGraph`` computes them
once per image (per slice in 3D); ``DecoderBoxGraph`` takes them with the boxes and runs the rest.
The arithmetic is the same as :class:`umedsam.export.graphs.DecoderGraph`'s; only the grouping of
floating-point operations can differ (a shared (1, ...) operand broadcast over the boxes instead
of repeated), so masks agree at the fp32 gate's level rather than bit for bit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from umedsam.model.mask_decoder import Attention
from umedsam.model.medsam_lite import MedSAMLite

from umedsam.runtime.bundle import DECODER_IMAGE_OUTPUTS as IMAGE_PARTS  # noqa: F401  (re-exported)


def _heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, n_heads, c // n_heads).transpose(1, 2)


def _attend(attn: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Attention.forward on already projected q, k, v (batch 1 operands broadcast over the boxes)."""
    q, k, v = _heads(q, attn.num_heads), _heads(k, attn.num_heads), _heads(v, attn.num_heads)
    weights = torch.softmax((q @ k.permute(0, 1, 3, 2)) / math.sqrt(q.shape[-1]), dim=-1)
    out = (weights @ v).transpose(1, 2)
    b, n, h, c = out.shape
    return attn.out_proj(out.reshape(b, n, h * c))


class DecoderImageGraph(nn.Module):
    """image_embeddings (1, 256, 64, 64) -> image_tokens (1, 4096, 256) + three (1, 4096, 128) projections."""

    def __init__(self, model: MedSAMLite) -> None:
        super().__init__()
        self.model = model

    def forward(self, image_embeddings: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pe_enc, dec = self.model.prompt_encoder, self.model.mask_decoder
        layer = dec.transformer.layers[0]
        dense = pe_enc.no_mask_embed.weight.reshape(1, -1, 1, 1)
        tokens = (image_embeddings + dense).flatten(2).permute(0, 2, 1)
        pe = pe_enc.get_dense_pe().flatten(2).permute(0, 2, 1)
        k = tokens + pe
        return (tokens, layer.cross_attn_token_to_image.k_proj(k), layer.cross_attn_token_to_image.v_proj(tokens),
                layer.cross_attn_image_to_token.q_proj(k))


class DecoderBoxGraph(nn.Module):
    """The image part's four outputs + boxes (N, 4) -> low_res_logits (N, 1, 256, 256), iou (N, 1)."""

    def __init__(self, model: MedSAMLite) -> None:
        super().__init__()
        self.model = model

    def forward(self, image_tokens: torch.Tensor, t2i_keys: torch.Tensor, t2i_values: torch.Tensor,
                i2t_queries: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pe_enc, dec = self.model.prompt_encoder, self.model.mask_decoder
        transformer = dec.transformer
        sparse = pe_enc.embed_boxes(boxes.reshape(-1, 1, 4))
        out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)
        out_tokens = out_tokens.unsqueeze(0).expand(sparse.shape[0], -1, -1)
        point_embedding = torch.cat((out_tokens, sparse), dim=1)
        pe = pe_enc.get_dense_pe().flatten(2).permute(0, 2, 1)
        # block 0 (skip_first_layer_pe) with its image-side projections given
        first = transformer.layers[0]
        queries = first.norm1(first.self_attn(point_embedding, point_embedding, point_embedding))
        q = queries + point_embedding
        t2i = first.cross_attn_token_to_image
        queries = first.norm2(queries + _attend(t2i, t2i.q_proj(q), t2i_keys, t2i_values))
        queries = first.norm3(queries + first.mlp(queries))
        q = queries + point_embedding
        i2t = first.cross_attn_image_to_token
        keys = first.norm4(image_tokens + _attend(i2t, i2t_queries, i2t.k_proj(q), i2t.v_proj(queries)))
        for layer in transformer.layers[1:]:
            queries, keys = layer(queries, keys, point_embedding, pe)
        q = queries + point_embedding
        k = keys + pe
        queries = transformer.norm_final_attn(queries + transformer.final_attn_token_to_image(q, k, keys))
        iou_token_out = queries[:, 0, :]
        mask_tokens_out = queries[:, 1:1 + dec.num_mask_tokens, :]
        n, _, c = keys.shape
        src = keys.transpose(1, 2).reshape(n, c, 64, 64)
        upscaled = dec.output_upscaling(src)
        hyper_in = torch.stack([mlp(mask_tokens_out[:, i, :]) for i, mlp in
                                enumerate(dec.output_hypernetworks_mlps)], dim=1)
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
        return masks[:, 0:1], dec.iou_prediction_head(iou_token_out)[:, 0:1]
