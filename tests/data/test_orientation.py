"""Canonical orientation: the same anatomy in any storage order gives the same case array, and the way
back restores the storage order and geometry exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from umedsam.data.orientation import CANONICAL, orientation_code, to_canonical, to_original  # noqa: E402


def _image(array_zyx: np.ndarray, direction, origin=(5.0, -3.0, 12.0), spacing=(0.8, 0.9, 2.5)):
    img = sitk.GetImageFromArray(array_zyx)
    img.SetDirection([float(v) for v in np.asarray(direction).ravel()])
    img.SetOrigin(origin)
    img.SetSpacing(spacing)
    return img


def _restored(img: "sitk.Image", perm, flips) -> "sitk.Image":
    """The same voxels in another storage order: axes permuted and flipped, geometry adjusted."""
    out = sitk.PermuteAxes(img, list(perm))
    return sitk.Flip(out, list(flips)) if any(flips) else out


def _world_values(img: "sitk.Image") -> dict:
    arr = sitk.GetArrayFromImage(img)
    out = {}
    for z, y, x in itertools.product(*(range(n) for n in arr.shape)):
        point = tuple(round(c, 4) for c in img.TransformIndexToPhysicalPoint((x, y, z)))
        out[point] = int(arr[z, y, x])
    return out


@pytest.mark.parametrize("perm, flips", list(itertools.product(itertools.permutations(range(3)),
                                                                 itertools.product((False, True), repeat=3))))
def test_any_storage_order_gives_the_same_canonical_array(perm, flips):
    rng = np.random.default_rng(1)
    base = _image(rng.integers(0, 1000, size=(3, 4, 5)).astype(np.int16), np.eye(3))
    other = _restored(base, perm, flips)
    assert _world_values(other) == _world_values(base)  # the same anatomy
    a, b = to_canonical(base), to_canonical(other)
    assert orientation_code(a) == orientation_code(b) == CANONICAL
    assert np.array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
    assert np.allclose(a.GetOrigin(), b.GetOrigin()) and np.allclose(a.GetSpacing(), b.GetSpacing())
    # storage order kept on request (the organisers' behaviour): the array as stored, another one
    kept = sitk.GetArrayFromImage(to_canonical(other, keep_orientation=True))
    assert np.array_equal(kept, sitk.GetArrayFromImage(other))
    if perm != (0, 1, 2) or any(flips):
        assert kept.shape != sitk.GetArrayFromImage(a).shape or not np.array_equal(kept, sitk.GetArrayFromImage(a))


def test_way_back_is_exact_for_an_oblique_ras_volume():
    angle = np.deg2rad(12)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    ras_like = rot @ np.diag([-1.0, -1.0, 1.0])  # RAS storage (as NIfTI files usually are), tilted
    img = _image(np.arange(60, dtype=np.int16).reshape(3, 4, 5), ras_like)
    canon = to_canonical(img)
    assert orientation_code(img) == "RAS" and orientation_code(canon) == CANONICAL
    labels = sitk.GetImageFromArray(sitk.GetArrayFromImage(canon))  # a "prediction" on the canonical grid
    labels.CopyInformation(canon)
    back = to_original(labels, img)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    assert back.GetOrigin() == img.GetOrigin() and back.GetDirection() == img.GetDirection()
    assert back.GetSpacing() == img.GetSpacing()
