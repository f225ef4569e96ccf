"""Pre-processing against hand-made cases and the golden helper outputs (exact)."""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.runtime.preprocess import (box_from_mask256, new_size, normalize_pad, preprocess_image,
                                        propagated_box, resize_box_to_256, resize_longest_side)


def test_inter_area_enlarging_quirk():
    # docs/PIPELINE.md, "Pre-processing": 1x3 [0,100,200] -> 8 wide gives [0,0,33,100,100,167,200,200]
    row = np.array([[0, 100, 200]], np.uint8)
    import cv2

    out = cv2.resize(row, (8, 1), interpolation=cv2.INTER_AREA)
    assert out.tolist() == [[0, 0, 33, 100, 100, 167, 200, 200]]


@pytest.mark.parametrize("hw,expected", [((333, 251), (256, 193)), ((180, 140), (256, 199)),
                                          ((97, 203), (122, 256)), ((300, 517), (149, 256)), ((256, 256), (256, 256))])
def test_new_size_rounds_half_up(hw, expected):
    assert new_size(*hw) == expected


def test_normalisation_is_joint_minmax_and_padding_is_bottom_right():
    img = np.zeros((10, 5, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30
    x, hw = preprocess_image(img)
    assert hw == (256, 128) and x.shape == (3, 256, 256) and x.dtype == np.float32
    assert np.allclose(x[:, :256, :128].reshape(3, -1).mean(1), [0, 0.5, 1])
    assert np.all(x[:, :, 128:] == 0)


def test_constant_image_normalises_to_zero():
    x = normalize_pad(np.full((256, 256), 7, np.uint8))
    assert np.all(x == 0)


def test_golden_encoder_inputs_exact(golden):
    for c in ("c1", "c2"):
        x, hw = preprocess_image(golden[f"{c}_image"])
        np.testing.assert_array_equal(x, golden[f"{c}_encoder_input"][0])
        assert hw == tuple(golden[f"{c}_new_hw"])


def test_golden_resize_helpers_exact(golden):
    for i in range(4):
        np.testing.assert_array_equal(resize_longest_side(golden[f"e_resize{i}_rgb_in"]), golden[f"e_resize{i}_rgb_out"])
        np.testing.assert_array_equal(resize_longest_side(golden[f"e_resize{i}_mask_in"]), golden[f"e_resize{i}_mask_out"])
        assert resize_longest_side(golden[f"e_resize{i}_mask_in"]).shape == tuple(golden["e_resize_new_hw"][i])


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_golden_box_resize_exact_with_dtype_rules(golden, dtype):
    ins, outs = golden[f"e_boxresize_in_{dtype}"], golden[f"e_boxresize_out_{dtype}"]
    for j in range(len(ins)):
        out = resize_box_to_256(ins[j], tuple(golden["e_boxresize_size"][j]))
        assert out.dtype == outs.dtype
        np.testing.assert_array_equal(out, outs[j])
    if dtype == "float32":  # the float32 arithmetic quirk documented in the golden README
        assert resize_box_to_256(np.float32([97, 97, 97, 97]), (97, 60)).tolist() == [255] * 4


def test_golden_bbox256_exact(golden):
    got = [box_from_mask256(m).tolist() for m in golden["e_bbox_masks256"]]
    assert got == golden["e_bbox_out"].tolist()
    assert box_from_mask256(np.zeros((256, 256), np.uint8)) is None


def test_propagated_box_uses_label_value():
    mask = np.zeros((150, 170), bool)
    mask[40:41, 50:120] = True  # a 1-px line: after enlarging, value 1 vs 2 keeps different partial pixels
    b1, b2 = propagated_box(mask, 1), propagated_box(mask, 2)
    assert b1 is not None and b2 is not None
    assert propagated_box(np.zeros((150, 170), bool), 3) is None
