"""The predictor: golden end-to-end parity, and 3D propagation on controlled masks."""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.runtime import Backend, Predictor


def _assert_segs_match(ours, ref, min_dsc=0.999):
    """Per-label DSC >= min_dsc against the golden segs (exact equality expected in practice)."""
    for k in range(1, int(ref.max()) + 1):
        a, b = ours == k, ref == k
        dsc = 2 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1)
        assert dsc >= min_dsc, (k, dsc)


@pytest.mark.parametrize("case", ["c1", "c2"])
def test_golden_2d_end_to_end(predictor, golden, case):
    seg = predictor.segment_2d(golden[f"{case}_image"], golden[f"{case}_boxes"])
    assert seg.labels.dtype == np.uint16
    _assert_segs_match(seg.labels, golden[f"{case}_segs"])
    np.testing.assert_array_equal(seg.labels, golden[f"{case}_segs"])
    np.testing.assert_allclose([s["iou"] for s in seg.scores], golden[f"{case}_iou"][:, 0], atol=1e-4)


def test_golden_3d_end_to_end_with_shared_slice_embeddings(predictor, golden):
    seg = predictor.segment_3d(golden["d_volume"], golden["d_boxes"])
    assert [c["z"] for c in seg.calls] == golden["d_call_z"].tolist()
    assert [c["label"] for c in seg.calls] == golden["d_call_label"].tolist()
    assert [c["box_source"] for c in seg.calls] == golden["d_call_box_source"].tolist()
    np.testing.assert_array_equal(np.array([c["box256"] for c in seg.calls], np.float32), golden["d_call_box256"])
    np.testing.assert_array_equal(seg.labels, golden["d_segs"])
    assert seg.timings["cache_misses"] == 9 and seg.timings["cache_hits"] == 2  # 9 slices, 11 decoder calls


class ControlledBackend(Backend):
    """A test double: the 'embedding' carries whether the slice shows the object (top-left pixel);
    decode returns a mask equal to the box shrunk by 3 px when it does, and nothing otherwise."""

    name = "controlled"

    def __init__(self) -> None:
        super().__init__("<controlled>")
        self.encoded: list[int] = []

    def encode(self, images):
        self.encoded.append(len(images))
        emb = np.zeros((len(images), 256, 64, 64), np.float32)
        emb[:, 0, 0, 0] = images[:, 0, 0, 0]
        return emb

    def decode(self, embedding, boxes256):
        logits = np.full((len(boxes256), 1, 256, 256), -10.0, np.float32)
        if embedding[0, 0, 0, 0] > 0.5:
            for i, (x0, y0, x1, y1) in enumerate(boxes256.astype(int)):
                logits[i, 0, y0 + 3:y1 - 2, x0 + 3:x1 - 2] = 10.0
        return logits, np.full((len(boxes256), 1), 0.9, np.float32)


def _volume(present: list[bool]) -> np.ndarray:
    vol = np.zeros((len(present), 128, 128), np.uint8)
    vol[:, -1, -1] = 255  # keeps min-max normalisation non-degenerate
    for z, p in enumerate(present):
        vol[z, 0, 0] = 255 if p else 0
    return vol


def test_propagation_order_fallback_and_ranges():
    vol = _volume([True, True, False, True, True, True, True, True])
    backend = ControlledBackend()
    seg = Predictor(backend).segment_3d(vol, np.array([[20, 30, 0, 80, 90, 6]]))
    assert [c["z"] for c in seg.calls] == [3, 4, 5, 6, 2, 1, 0]
    # z=2 shows nothing, so z=1 falls back to the middle box; others propagate from the previous mask
    assert [c["box_source"] for c in seg.calls] == [0, 1, 1, 1, 1, 2, 1]
    assert not seg.labels[2].any() and not seg.labels[7].any()  # empty slice; z=7 is beyond z_max
    assert seg.labels[3].any() and seg.labels[0].any()
    mid = seg.calls[0]["box256"]
    assert mid == [40.0, 60.0, 160.0, 180.0]  # 256/128 = 2x, truncated
    # mask = box shrunk by 3 (rows 63..177, cols 43..157), upsampled to 128 px and back (x2): rows 64..177,
    # cols 44..157; grown by 3 px
    assert seg.calls[1]["box256"] == [41.0, 61.0, 160.0, 180.0]


def test_slice_embeddings_shared_across_boxes_and_cache_bound_is_exact():
    vol = _volume([True] * 10)
    boxes = np.array([[10, 10, 1, 60, 60, 7], [40, 40, 3, 100, 100, 9]])
    base_backend = ControlledBackend()
    base = Predictor(base_backend).segment_3d(vol, boxes)
    assert sum(base_backend.encoded) == 9  # slices 1..9 once each, not 7 + 7 as the reference does
    tiny_backend = ControlledBackend()
    tiny = Predictor(tiny_backend, max_cache_mb=4.5).segment_3d(vol, boxes)  # room for one embedding
    assert sum(tiny_backend.encoded) > 9
    batched_backend = ControlledBackend()
    batched = Predictor(batched_backend, slice_batch=4).segment_3d(vol, boxes)
    assert len(batched_backend.encoded) < 9 and sum(batched_backend.encoded) >= 9
    np.testing.assert_array_equal(base.labels, tiny.labels)
    np.testing.assert_array_equal(base.labels, batched.labels)
    # box 2 overwrites box 1 where they overlap
    assert base.labels[5, 50, 50] == 2


def test_single_slice_box_and_boxes_outside():
    vol = _volume([True] * 5)
    seg = Predictor(ControlledBackend()).segment_3d(vol, np.array([[10, 10, 2, 60, 60, 2], [200, 200, 0, 250, 250, 4],
                                                                   [10, 10, 7, 60, 60, 9]]))
    assert [c["z"] for c in seg.calls] == [2]
    assert set(np.unique(seg.labels)) == {0, 1}
    assert sum("outside" in w for w in seg.warnings) == 2
    assert seg.scores[1]["iou"] is None


def test_2d_clipping_empty_boxes_and_overwrite():
    img = np.zeros((100, 120, 3), np.uint8)
    img[-1, -1] = 255
    img[0, 0] = 255
    p = Predictor(ControlledBackend())
    seg = p.segment_2d(img, np.array([[10, 10, 80, 80], [50, 50, 110, 90], [130, 10, 150, 20], [-20, -5, 30, 30]]))
    assert seg.labels.dtype == np.uint16
    assert seg.labels[60, 60] == 2 and seg.labels[20, 20] == 4
    assert not (seg.labels == 3).any()
    assert any("outside the image" in w for w in seg.warnings)
    assert any("clipped" in w for w in seg.warnings)
    empty = p.segment_2d(img, np.zeros((0, 4)))
    assert empty.labels.shape == (100, 120) and not empty.labels.any() and empty.warnings
