"""Post-processing: numpy bilinear equals F.interpolate(align_corners=False)."""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.runtime.postprocess import logits_to_masks, resize_bilinear, upsample_logits


@pytest.mark.parametrize("src,dst", [((256, 193), (333, 251)), ((256, 199), (180, 140)), ((7, 5), (7, 5)),
                                      ((122, 256), (97, 203)), ((3, 4), (11, 2))])
def test_bilinear_matches_torch(src, dst):
    torch = pytest.importorskip("torch")
    from scipy import ndimage

    rng = np.random.default_rng(0)
    # logit-like data: smooth, +-40 (white noise would amplify float rounding of the weights)
    x = ndimage.gaussian_filter(rng.standard_normal((2,) + src), (0, 2, 2))
    x = (x / np.abs(x).max() * 40).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x)[:, None], size=dst, mode="bilinear",
                                          align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(resize_bilinear(x, dst), ref, atol=3e-5, rtol=0)


def test_golden_upsampled_logits(golden):
    for c in ("c1", "c2"):
        h, w = golden[f"{c}_image"].shape[:2]
        up = upsample_logits(golden[f"{c}_lowres_logits"], tuple(golden[f"{c}_new_hw"]), (h, w))
        np.testing.assert_allclose(up, golden[f"{c}_upsampled_logits"][:, 0], atol=1e-4, rtol=0)
        masks = logits_to_masks(golden[f"{c}_lowres_logits"], tuple(golden[f"{c}_new_hw"]), (h, w))
        np.testing.assert_array_equal(masks, golden[f"{c}_upsampled_logits"][:, 0] > 0)
