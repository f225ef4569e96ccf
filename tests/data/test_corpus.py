"""The distillation corpus draws real and phantom images, and keeps every held-out case out of it."""

from __future__ import annotations

import re

import numpy as np

from umedsam.data.corpus import MARGIN, draw_images, find_exclusion, image_hash, read_held_out


def test_held_out_cases_are_located_and_kept_out(real_cases, small_cases):
    held = {**read_held_out(real_cases), **read_held_out(small_cases)}
    ex = find_exclusion(held)
    # the MNI152 slab (template rows 80-83) and the DSB2018 quadrant 4 are found in their sources
    assert min(ex.mni_rows) == 80 - MARGIN and max(ex.mni_rows) == 83 + MARGIN
    assert len(ex.dsb_rects) == 1 and ex.dsb_rects[0][:2] == (256 - MARGIN, 256 - MARGIN)
    items = draw_images(48, ex, seed=3)
    assert len(items) == 48 and {i.source.split()[0] for i in items} == {"mni152", "dsb2018", "phantom"}
    held_hashes = {image_hash(a) for a in held.values()} | {image_hash(s) for a in held.values() if a.ndim == 3
                                                           and a.shape[-1] != 3 for s in a}
    for item in items:
        assert item.image.dtype == np.uint8 and item.image.ndim == 3 and item.image.shape[2] == 3
        assert len(item.seeds) and (item.seeds[:, 2] >= item.seeds[:, 0]).all()
        h, w = item.image.shape[:2]
        assert (item.seeds >= 0).all() and (item.seeds[:, [0, 2]] < w).all() and (item.seeds[:, [1, 3]] < h).all()
        assert image_hash(item.image) not in held_hashes
        m = re.match(r"mni152 axial (\d+)$", item.source)
        if m:
            assert int(m.group(1)) not in ex.mni_rows
        m = re.match(r"mni152 \w+ \d+ rows (\d+)-(\d+)$", item.source)
        if m:   # sagittal/coronal slices come from blocks of rows outside every held-out band
            assert not set(range(int(m.group(1)), int(m.group(2)))) & ex.mni_rows
        m = re.match(r"dsb2018 crop y(\d+) x(\d+) (\d+)x(\d+)$", item.source)
        if m:
            y0, x0, ch, cw = (int(v) for v in m.groups())
            for r in ex.dsb_rects:
                assert not (y0 < r[2] and r[0] < y0 + ch and x0 < r[3] and r[1] < x0 + cw)


def test_draw_is_reproducible(real_cases):
    ex = find_exclusion(read_held_out(real_cases))
    a, b = draw_images(9, ex, seed=5), draw_images(9, ex, seed=5)
    assert [x.source for x in a] == [x.source for x in b]
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.seeds, y.seeds) for x, y in zip(a, b))
