"""Overlays: predicted fill, box rectangles, the ground truth's outline in white, and a legend strip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from umedsam.data.npz import Case
from umedsam.runtime.overlay import GT_COLOR, gt_beside, render


def _case(kind: str = "2D") -> Case:
    if kind == "2D":
        return Case(Path("2DBox_X.npz"), "2D", np.full((60, 80, 3), 10, np.uint8), np.array([[10, 10, 40, 40]]))
    return Case(Path("3DBox_X.npz"), "3D", np.full((5, 60, 80), 10, np.uint8), np.array([[10, 10, 1, 40, 40, 3]]))


def test_2d_overlay_has_legend_and_gt_outline():
    labels = np.zeros((60, 80), np.uint16)
    labels[15:30, 15:30] = 1
    gt = np.zeros((60, 80), np.uint8)
    gt[20:50, 45:70] = 1                                   # away from the prediction and the box
    pic = render(_case(), labels, gt)
    assert pic.shape == (60 + 34, 80, 3)                   # the picture, then the legend strip
    assert (pic[20, 45:70] == GT_COLOR).all()              # the GT's top edge, outlined in white
    assert not (pic[35, 50:65] == GT_COLOR).all(axis=1).any()  # inside the GT: not filled
    without = render(_case(), labels)
    assert without.shape == pic.shape and not (without[20, 45:70] == GT_COLOR).all()


def test_3d_overlay_and_mismatched_gt_is_ignored():
    labels = np.zeros((5, 60, 80), np.uint16)
    labels[2, 15:30, 15:30] = 1
    pic = render(_case("3D"), labels, np.ones((4, 60, 80), np.uint8))  # wrong shape: no outline, no error
    assert pic.shape == (60 + 34, 80, 3)


def test_gt_beside_finds_the_gts_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "gts").mkdir()
    case = tmp_path / "imgs" / "2DBox_X.npz"
    assert gt_beside(case) is None
    (tmp_path / "gts" / "2DBox_X.npz").write_bytes(b"")
    assert gt_beside(case) == tmp_path / "gts" / "2DBox_X.npz"
