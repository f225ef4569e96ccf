"""The PyTorch model against the official pipeline's outputs (tests/fixtures/golden)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def test_embeddings_match_golden(torch_model, golden):
    with torch.no_grad():
        emb = torch_model.image_encoder(torch.from_numpy(golden["a_images"])).numpy()
    np.testing.assert_allclose(emb, golden["a_embeddings"], atol=1e-4, rtol=0)


def test_dense_pe_and_prompt_encoder_match_golden(torch_model, golden):
    with torch.no_grad():
        pe = torch_model.prompt_encoder.get_dense_pe().numpy()
        assert pe.dtype == np.float32 and pe.shape == tuple(golden["a_image_pe_shape"])
        assert hashlib.sha256(np.ascontiguousarray(pe).tobytes()).digest() == golden["a_image_pe_sha256"].tobytes()
        for i in range(2):
            sparse, dense = torch_model.prompt_encoder(boxes=torch.from_numpy(golden["b_boxes256"][i])[:, None, :])
            np.testing.assert_allclose(sparse.numpy(), golden["b_sparse_embeddings"][i], atol=1e-5, rtol=0)
            expected = np.broadcast_to(golden["b_dense_no_mask_embed"].reshape(1, 256, 1, 1), (3, 256, 64, 64))
            np.testing.assert_array_equal(dense.numpy(), expected)


def test_decoder_logits_match_golden_given_golden_embeddings(torch_model, golden):
    with torch.no_grad():
        for i in range(2):
            logits, iou = torch_model.decode(torch.from_numpy(golden["a_embeddings"][i:i + 1]),
                                             torch.from_numpy(golden["b_boxes256"][i]))
            np.testing.assert_allclose(logits.numpy(), golden["b_lowres_logits"][i], atol=1e-4, rtol=0)
            np.testing.assert_allclose(iou.numpy(), golden["b_iou_predictions"][i], atol=1e-5, rtol=0)
