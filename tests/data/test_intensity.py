"""The intensity rules of docs/CLINICAL_IO.md, held on hand-computed values (the organisers' rules)."""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.data.intensity import (WINDOWS, detect_modality, parse_window, percentile_rescale, prepare_2d,
                                    prepare_volume, window_ct)


def test_ct_window_clips_then_minmax_of_the_clipped_array_and_truncates():
    hu = np.array([-1000, -160, 40, 240, 1000, -60], np.int16)
    out, rule = window_ct(hu)  # L40/W400 -> [-160, 240]
    # (x + 160) / 400 * 255: -60 -> 63.75 -> 63 (truncated, not rounded), 40 -> 127.5 -> 127
    assert out.tolist() == [0, 0, 127, 255, 255, 63]
    assert out.dtype == np.uint8 and (rule.low, rule.high) == (-160, 240)


def test_ct_minmax_uses_the_clipped_arrays_own_range_not_the_window():
    # nothing reaches the window's top: the organisers' min-max still stretches to 255
    hu = np.array([-500, 0, 100], np.float32)
    out, _ = window_ct(hu)
    assert out.tolist() == [0, int(160 / 260 * 255), 255]


def test_windows_and_presets():
    assert parse_window("lung") == WINDOWS["lung"] == (-600, 1500)
    assert parse_window("50,350") == (50, 350)
    with pytest.raises(ValueError):
        parse_window("wide")
    with pytest.raises(ValueError):
        parse_window("40,0")
    out, _ = prepare_volume(np.array([-2000.0, -600.0, 150.0]), "CT", parse_window("lung"))
    assert out.tolist() == [0, int(750 / 1500 * 255), 255]


def test_percentile_rule_on_nonzero_voxels_with_background_kept_zero():
    rng = np.random.default_rng(0)
    vol = rng.integers(1, 1000, size=(4, 30, 30)).astype(np.float64)
    vol[:, :5] = 0  # background
    out, rule = percentile_rescale(vol)
    nz = vol[vol > 0]
    lo, hi = np.percentile(nz, 0.5), np.percentile(nz, 99.5)
    expect = np.uint8((np.clip(vol, lo, hi) - lo) / (hi - lo) * 255.0)
    expect[vol == 0] = 0
    assert np.array_equal(out, expect)
    assert (out[:, :5] == 0).all() and out.max() == 255 and out[vol > 0].min() == 0
    assert (rule.low, rule.high) == (lo, hi)


def test_percentile_rule_is_blind_to_zeros_share():
    # the percentiles come from non-zero voxels only: padding with background changes nothing inside
    vol = np.arange(1, 201, dtype=np.float64).reshape(10, 20)
    padded = np.zeros((30, 20))
    padded[10:20] = vol
    assert np.array_equal(percentile_rescale(vol)[0], percentile_rescale(padded)[0][10:20])


def test_constant_and_empty_images_become_zeros():
    assert not percentile_rescale(np.zeros((3, 3)))[0].any()
    assert not window_ct(np.full((3, 3), 500.0))[0].any()


def test_modality_detection():
    assert detect_modality(np.array([-1024, 0, 50])) == "CT"
    assert detect_modality(np.array([0, 10, 500])) == "MR"
    assert detect_modality(np.array([0, 10]), "pt ") == "PT"


def test_2d_rules():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out, rule = prepare_2d(grey)
    assert out.shape == (3, 4, 3) and rule.kind == "as-is" and np.array_equal(out[..., 1], grey)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 7
    assert prepare_2d(rgba)[0].shape == (2, 2, 3) and (prepare_2d(rgba)[0][..., 0] == 7).all()
    sixteen = np.array([[0, 100], [1000, 60000]], np.uint16)
    out, rule = prepare_2d(sixteen)
    assert rule.kind == "percentile" and out.dtype == np.uint8 and out[0, 0, 0] == 0 and out[1, 1, 2] == 255
