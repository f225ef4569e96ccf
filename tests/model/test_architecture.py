"""Key-exact architecture and block numerics."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from umedsam.model import MedSAMLite
from umedsam.model.common import LayerNorm2d
from umedsam.model.tiny_vit import Attention, TinyViTBlock


def test_state_dict_matches_reference_facts():
    sd = MedSAMLite().state_dict()
    assert len(sd) == 435
    assert sum(v.numel() for v in sd.values() if v.dtype == torch.float32) == 9_801_412
    assert sum(1 for k in sd if k.endswith("num_batches_tracked")) == 27
    prefixes = [k.split(".")[0] for k in sd]
    assert (prefixes.count("image_encoder"), prefixes.count("mask_decoder"), prefixes.count("prompt_encoder")) == (298, 120, 17)
    model = MedSAMLite()
    assert sum(p.numel() for p in model.parameters()) == 9_791_300
    assert sum(p.numel() for p in model.image_encoder.parameters()) == 5_726_740
    assert list(sd)[0] == "image_encoder.patch_embed.seq.0.c.weight"
    assert list(sd)[-1] == "prompt_encoder.no_mask_embed.weight"
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["image_encoder.layers.2.blocks.0.attn.attention_biases"] == (5, 196)
    assert shapes["image_encoder.layers.3.blocks.0.attn.qkv.weight"] == (960, 320)
    assert shapes["mask_decoder.output_upscaling.0.weight"] == (256, 64, 2, 2)
    assert shapes["mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight"] == (128, 256)


def test_key_order_and_shapes_equal_builtin_checkpoint(builtin_ckpt):
    ref = torch.load(builtin_ckpt, weights_only=True, map_location="cpu")
    ours = MedSAMLite().state_dict()
    assert list(ours) == list(ref)
    assert all(tuple(ours[k].shape) == tuple(ref[k].shape) for k in ref)


def test_layernorm2d_is_channel_layernorm():
    torch.manual_seed(0)
    ln = LayerNorm2d(8)
    ln.weight.data.normal_()
    ln.bias.data.normal_()
    x = torch.randn(2, 8, 5, 7)
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (8,), ln.weight, ln.bias, eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(ln(x), expected, atol=1e-5, rtol=1e-5)


def test_attention_bias_index_and_per_head_qkv_split():
    torch.manual_seed(0)
    attn = Attention(dim=8, num_heads=2, window=3)
    assert attn.attention_bias_idxs[0, 4].item() == 1 * 3 + 1  # (0,0) vs (1,1)
    assert attn.attention_bias_idxs[2, 6].item() == 2 * 3 + 2  # (0,2) vs (2,0)
    attn.attention_biases.data.normal_()
    attn.eval()
    x = torch.randn(1, 9, 8)
    xn = attn.norm(x)
    qkv = attn.qkv(xn).view(1, 9, 2, 12)  # per head: [q(4) k(4) v(4)]
    out = []
    for h in range(2):
        q, k, v = qkv[0, :, h, :4], qkv[0, :, h, 4:8], qkv[0, :, h, 8:]
        bias = attn.attention_biases[h][attn.attention_bias_idxs]
        a = torch.softmax(q @ k.T / math.sqrt(4) + bias, dim=-1)
        out.append(a @ v)
    expected = attn.proj(torch.cat(out, dim=-1))[None]
    torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-5)


def test_eval_caches_bias_from_loaded_weights():
    attn = Attention(dim=8, num_heads=2, window=3)
    attn.attention_biases.data.fill_(0.5)
    attn.eval()
    assert torch.all(attn.ab == 0.5)
    attn.train()
    assert attn.ab is None


def test_window_padding_is_zero_tokens_before_layernorm():
    """The bottom-right window = attention over its 4 real tokens plus 5 explicit zero tokens."""
    torch.manual_seed(0)
    blk = TinyViTBlock(dim=8, input_resolution=(5, 5), num_heads=2, window_size=3, mlp_ratio=2, local_conv_size=3).eval()
    blk.attn.norm.bias.data.fill_(1.0)  # LN(0) = beta: padded tokens become non-zero keys
    x = torch.randn(1, 25, 8)
    out = blk._window_attention(x).view(1, 5, 5, 8)
    window = torch.zeros(1, 3, 3, 8)
    window[:, :2, :2] = x.view(1, 5, 5, 8)[:, 3:, 3:]
    expected = blk.attn(window.view(1, 9, 8)).view(1, 3, 3, 8)[:, :2, :2]
    torch.testing.assert_close(out[:, 3:, 3:], expected, atol=1e-5, rtol=1e-5)
