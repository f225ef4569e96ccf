"""Box prompts: file formats, voxel/world spaces onto the canonical grid, label maps, bad boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from umedsam.data.orientation import to_canonical  # noqa: E402
from umedsam.data.prompts import boxes_from_labels, boxes_to_case_2d, boxes_to_case_3d, read_boxes  # noqa: E402
from umedsam.errors import CaseError  # noqa: E402


@pytest.fixture
def ras_image():
    """A 10x8x6 (x, y, z) volume stored RAS (NIfTI-like): ITK direction diag(-1, -1, 1)."""
    img = sitk.GetImageFromArray(np.zeros((6, 8, 10), np.int16))
    img.SetDirection((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    img.SetOrigin((20.0, 30.0, -5.0))
    img.SetSpacing((2.0, 1.0, 3.0))
    return img


def _write(path, obj):
    path.write_text(json.dumps(obj) if path.suffix == ".json" else obj)
    return path


def test_json_and_csv_forms_agree(tmp_path):
    a = read_boxes(_write(tmp_path / "a.json", [[1, 2, 0, 4, 5, 2]]), 3)
    b = read_boxes(_write(tmp_path / "b.json", {"space": "voxel", "boxes": [{"min": [1, 2, 0], "max": [4, 5, 2],
                                                                               "label": 7}]}), 3)
    c = read_boxes(_write(tmp_path / "c.csv", "x_min,y_min,z_min,x_max,y_max,z_max,label\n1,2,0,4,5,2,7\n"), 3)
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(b.boxes, c.boxes)
    assert a.labels.tolist() == [1] and b.labels.tolist() == c.labels.tolist() == [7]
    assert a.space == b.space == c.space == "voxel"


def test_voxel_box_maps_through_the_reorientation(ras_image, tmp_path):
    canon = to_canonical(ras_image)
    prompts = read_boxes(_write(tmp_path / "v.json", {"boxes": [[0, 0, 1, 2, 3, 4]]}), 3)
    box = boxes_to_case_3d(prompts, ras_image, canon)[0]
    # x and y are reversed by RAS -> LPS: i in 0..2 of 10 -> 7..9, j in 0..3 of 8 -> 4..7; z unchanged
    assert box.tolist() == [7, 4, 1, 9, 7, 4]


def test_world_boxes_lps_and_ras_cover_voxel_centres(ras_image, tmp_path):
    canon = to_canonical(ras_image)
    # voxel (i, j, k) has LPS centre (20 - 2i, 30 - j, -5 + 3k); take voxels i 1..3, j 2..4, k 0..1
    lps = {"space": "lps", "boxes": [[13.5, 25.6, -5.5, 18.2, 28.4, -1.0]]}
    ras = {"space": "ras", "boxes": [[-18.2, -28.4, -5.5, -13.5, -25.6, -1.0]]}
    voxel = {"boxes": [[1, 2, 0, 3, 4, 1]]}
    got = [boxes_to_case_3d(read_boxes(_write(tmp_path / f"{i}.json", doc), 3), ras_image, canon)[0].tolist()
           for i, doc in enumerate((lps, ras, voxel))]
    assert got[0] == got[1] == got[2]


def test_bad_boxes_name_the_file_and_box(ras_image, tmp_path):
    canon = to_canonical(ras_image)
    outside = _write(tmp_path / "out.json", [[0, 0, 0, 1, 1, 1], [12, 0, 0, 15, 3, 2]])
    with pytest.raises(CaseError, match=r"out.json: field 'boxes\[1\]': the box lies outside the volume"):
        boxes_to_case_3d(read_boxes(outside, 3), ras_image, canon)
    miss = _write(tmp_path / "miss.json", {"space": "ras", "boxes": [[100, 100, 100, 120, 120, 120]]})
    with pytest.raises(CaseError, match=r"miss.json: field 'boxes\[0\]': the world box misses the volume"):
        boxes_to_case_3d(read_boxes(miss, 3), ras_image, canon)
    inverted = _write(tmp_path / "inv.csv", "x_min,y_min,x_max,y_max\n5,5,2,8\n")
    with pytest.raises(CaseError, match=r"inv.csv: field 'boxes\[0\]': min"):
        read_boxes(inverted, 2)
    with pytest.raises(CaseError, match="missing column"):
        read_boxes(_write(tmp_path / "cols.csv", "x,y\n1,2\n"), 2)
    with pytest.raises(CaseError, match="field 'space'"):
        read_boxes(_write(tmp_path / "w2d.json", {"space": "ras", "boxes": [[1, 1, 2, 2]]}), 2)
    partly = read_boxes(_write(tmp_path / "part.json", [[-3, 2, 8, 5]]), 2)
    assert boxes_to_case_2d(partly, 6, 10)[0].tolist() == [0, 2, 8, 5] and "clipped" in partly.warnings[0]


def test_one_tight_box_per_label():
    labels = np.zeros((4, 6, 7), np.uint16)
    labels[1:3, 2:4, 1:5] = 3
    labels[0, 5, 6] = 300
    boxes, values = boxes_from_labels(labels)
    assert values.tolist() == [3, 300]
    assert boxes.tolist() == [[1, 2, 1, 4, 3, 2], [6, 5, 0, 6, 5, 0]]
    boxes2d, values2d = boxes_from_labels(labels[1])
    assert boxes2d.tolist() == [[1, 2, 4, 3]] and values2d.tolist() == [3]
