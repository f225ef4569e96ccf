"""Presets and node selection: what each preset quantizes, on a small graph with module-path names."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from umedsam.quantize.ort_qdq import select_nodes
from umedsam.quantize.presets import HEAD_SCOPES, PRESETS, block_of, in_scopes, scope_of


def test_block_of_groups_nodes_by_module_path():
    assert block_of("image_encoder.layers.2.blocks.1.attn.qkv/MatMul_66") == "image_encoder.layers.2.blocks.1"
    assert block_of("image_encoder.layers.0.downsample.conv1.bn/Conv_45") == "image_encoder.layers.0.downsample"
    assert block_of("image_encoder.patch_embed.seq.0.bn/Conv_0") == "image_encoder.patch_embed"
    assert block_of("mask_decoder.transformer.layers.1.mlp.lin1/MatMul_3") == "mask_decoder.transformer.layers.1"
    assert block_of("mask_decoder.transformer.final_attn_token_to_image.q_proj/Gemm_9") == \
        "mask_decoder.transformer.final_attn_token_to_image"
    assert block_of("mask_decoder.output_hypernetworks_mlps.0.layers.1/Gemm_5") == "mask_decoder.output_hypernetworks_mlps"
    assert block_of("graph/Split_356") == "other"
    assert block_of("node_Conv_12") == "other"  # graphs exported before names carried scopes
    assert scope_of("graph/Add_1") == ""


def test_in_scopes_matches_whole_path_components():
    assert in_scopes("mask_decoder.iou_prediction_head.layers.0/Gemm_1", HEAD_SCOPES)
    assert not in_scopes("mask_decoder.iou_prediction_head_extra/Gemm_1", HEAD_SCOPES)


def _graph() -> onnx.ModelProto:
    """x -> MatMul(W) -> q; q @ q^T (two activations) -> LayerNorm -> head MatMul(W2)."""
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "W")
    w2 = numpy_helper.from_array(np.ones((4, 4), np.float32), "W2")
    scale = numpy_helper.from_array(np.ones(4, np.float32), "S")
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["q"], name="image_encoder.layers.1.blocks.0.attn.qkv/MatMul_0"),
        helper.make_node("Transpose", ["q"], ["qt"], name="image_encoder.layers.1.blocks.0.attn/Transpose_1"),
        helper.make_node("MatMul", ["q", "qt"], ["a"], name="image_encoder.layers.1.blocks.0.attn/MatMul_2"),
        helper.make_node("LayerNormalization", ["a", "S"], ["n"], name="image_encoder.neck.3/LayerNormalization_3"),
        helper.make_node("MatMul", ["n", "W2"], ["y"], name="mask_decoder.iou_prediction_head.layers.0/MatMul_4"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])], [w, w2, scale])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_transformer_preset_keeps_attention_products_norms_and_heads_float():
    include, exclude = select_nodes(_graph(), PRESETS["transformer"])
    assert include == ["image_encoder.layers.1.blocks.0.attn.qkv/MatMul_0"]
    assert exclude == []


def test_full_preset_quantizes_everything_but_float_blocks():
    include, exclude = select_nodes(_graph(), PRESETS["full"], float_blocks=["image_encoder.layers.1.blocks.0"])
    assert include is None  # ONNX Runtime: every op it can quantize ...
    assert exclude == ["image_encoder.layers.1.blocks.0.attn.qkv/MatMul_0", "image_encoder.layers.1.blocks.0.attn/Transpose_1",
                       "image_encoder.layers.1.blocks.0.attn/MatMul_2"]  # ... except the float block


def test_float_block_removes_it_from_the_transformer_selection():
    include, _ = select_nodes(_graph(), PRESETS["transformer"], float_blocks=["image_encoder.layers.1.blocks.0"])
    assert include == []


def test_preset_table_is_consistent():
    assert set(PRESETS) == {"full", "transformer", "encoder", "weights"}
    assert PRESETS["weights"].weights_only and not PRESETS["encoder"].decoder
    for p in PRESETS.values():
        assert p.description
