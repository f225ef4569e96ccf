"""Training samples: GT resized onto the model's grid, flips inside the image region, jittered boxes."""

import numpy as np
import pytest

from umedsam.data.phantoms import write_phantoms
from umedsam.errors import UmedsamError
from umedsam.train.data import draw_batch, flip, jittered_box, load_samples


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    write_phantoms(root, n2d=2, n3d=1, seed=3)
    return root


def test_samples_from_2d_and_3d(phantoms):
    samples = load_samples(phantoms, max_slices_per_case=3)
    sources = [s.source for s in samples]
    assert sum(" z=" in s for s in sources) == 3 and sum(" z=" not in s for s in sources) == 2
    for s in samples:
        assert s.image.shape == (3, 256, 256) and s.masks.shape[1:] == (256, 256)
        h, w = s.hw
        assert not s.masks[:, h:, :].any() and not s.masks[:, :, w:].any()   # GT stays inside the image


def test_flip_keeps_padding_bottom_right():
    a = np.arange(16.0).reshape(4, 4)
    a[3, :] = a[:, 3] = 0                                 # padding row/column
    f = flip(a, 3, (3, 3))
    assert np.array_equal(f[:3, :3], a[:3, :3][::-1, ::-1]) and not f[3].any() and not f[:, 3].any()
    assert np.array_equal(flip(f, 3, (3, 3)), a)


def test_jittered_box_contains_the_mask_within_jitter():
    rng = np.random.default_rng(0)
    m = np.zeros((256, 256), np.uint8)
    m[100:120, 30:60] = 1
    for _ in range(50):
        x0, y0, x1, y1 = jittered_box(m, rng, 5)
        assert 25 <= x0 <= 30 and 95 <= y0 <= 100 and 59 <= x1 <= 64 and 119 <= y1 <= 124
    assert list(jittered_box(m, rng, 0)) == [30, 100, 59, 119]


def test_batch_shapes_and_sdf_signs(phantoms):
    samples = load_samples(phantoms, max_slices_per_case=2)
    b = draw_batch(samples, np.random.default_rng(1), 3)
    assert b.images.shape == (3, 3, 256, 256) and b.boxes.shape == (3, 4) and b.masks.shape == (3, 1, 256, 256)
    assert list(b.owner) == [0, 1, 2]
    multi = draw_batch(samples, np.random.default_rng(1), 2, boxes_per_image=8)
    assert len(multi.boxes) == len(multi.owner) > 2 and set(multi.owner) == {0, 1}
    for box, m in zip(multi.boxes, multi.masks):        # every box encloses its own mask
        ys, xs = np.nonzero(m[0])
        assert box[0] <= xs.min() and box[1] <= ys.min() and box[2] >= xs.max() and box[3] >= ys.max()
    assert (b.sdfs[b.masks > 0] < 0).all() and (b.sdfs[b.masks == 0] > 0).all()


def test_folder_without_gt_is_refused(tmp_path):
    with pytest.raises(UmedsamError, match="no input case"):
        load_samples(tmp_path)                              # nothing at all
    write_phantoms(tmp_path, n2d=1, n3d=0, seed=1)
    for gt in (tmp_path / "gts").iterdir():
        gt.unlink()
    (tmp_path / "gts").rmdir()
    with pytest.raises(UmedsamError, match="ground truth"):
        load_samples(tmp_path)                              # cases, but no gts/


def test_malformed_case_is_skipped_with_its_error(phantoms, tmp_path):
    import shutil

    root = tmp_path / "mixed"
    shutil.copytree(phantoms, root)
    bad = sorted((root / "imgs").glob("2D*.npz"))[0]
    bad.write_bytes(b"not a zip")
    skipped = []
    samples = load_samples(root, max_slices_per_case=1, skipped=skipped)
    assert len(skipped) == 1 and bad.name in skipped[0] and "\n" not in skipped[0]
    assert len(samples) == 2
    with pytest.raises(UmedsamError, match=bad.name):
        load_samples(root)
