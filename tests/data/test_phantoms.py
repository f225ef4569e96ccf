"""Phantoms are deterministic, valid challenge cases whose boxes enclose their GT."""

from __future__ import annotations

import numpy as np

from umedsam.data.npz import load_case, load_gt
from umedsam.data.phantoms import write_phantoms


def test_phantoms_are_deterministic_and_valid(tmp_path):
    a = write_phantoms(tmp_path / "a", n2d=2, n3d=2, seed=7)
    b = write_phantoms(tmp_path / "b", n2d=2, n3d=2, seed=7)
    assert [p.name for p in a] == ["2DBox_Dermoscopy_0001.npz", "2DBox_US_0002.npz", "3DBox_CT_0001.npz", "3DBox_MR_0002.npz"]
    for pa, pb in zip(a, b):
        ca, cb = load_case(pa), load_case(pb)
        np.testing.assert_array_equal(ca.imgs, cb.imgs)
        np.testing.assert_array_equal(ca.boxes, cb.boxes)
        gts, spacing = load_gt(pa.parent.parent / "gts" / pa.name)
        assert int(gts.max()) == len(ca.boxes) >= 1
        assert np.unique(gts).tolist() == list(range(len(ca.boxes) + 1))
        for k, box in enumerate(ca.boxes, start=1):
            idx = np.nonzero(gts == k)
            if ca.kind == "2D":
                ys, xs = idx
                assert box[0] <= xs.min() and box[1] <= ys.min() and box[2] >= xs.max() and box[3] >= ys.max()
            else:
                zs, ys, xs = idx
                assert (box[2], box[5]) == (zs.min(), zs.max())
                assert box[0] <= xs.min() and box[4] >= ys.max()
        if ca.kind == "3D":
            assert spacing is not None and spacing[0] > spacing[1]  # anisotropic
    c = write_phantoms(tmp_path / "c", n2d=1, n3d=0, seed=8)
    assert not np.array_equal(load_case(c[0]).imgs.shape, load_case(a[0]).imgs.shape) or \
        not np.array_equal(load_case(c[0]).imgs, load_case(a[0]).imgs)
