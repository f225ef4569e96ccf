"""Case validation errors name the file and field; writing is atomic."""

from __future__ import annotations

import numpy as np

import umedsam.common
import pytest

from umedsam.data.npz import find_cases, find_gts, load_case, load_gt, save_segs
from umedsam.errors import CaseError


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def good2d(tmp_path):
    return _write(tmp_path / "2DBox_Test_0001.npz", imgs=np.zeros((20, 30, 3), np.uint8),
                  boxes=np.array([[1, 2, 10, 12]]))


def test_valid_cases_load(good2d, tmp_path):
    case = load_case(good2d)
    assert case.kind == "2D" and case.boxes.shape == (1, 4) and not case.warnings
    p3 = _write(tmp_path / "3DBox_CT_0001.npz", imgs=np.zeros((4, 20, 30), np.uint8),
                boxes=np.array([[1, 2, 0, 10, 12, 3]]), spacing=np.array([3.0, 1, 1]))
    assert load_case(p3).kind == "3D"


@pytest.mark.parametrize("name,arrays,field,text", [
    ("2DBox_A.npz", {"boxes": np.zeros((1, 4))}, "imgs", "missing"),
    ("2DBox_A.npz", {"imgs": np.zeros((20, 30, 3), np.float32), "boxes": np.zeros((1, 4))}, "imgs", "not uint8"),
    ("2DBox_A.npz", {"imgs": np.zeros((20, 30), np.uint8), "boxes": np.zeros((1, 4))}, "imgs", "does not fit a 2D"),
    ("3DBox_A.npz", {"imgs": np.zeros((4, 20, 30, 3), np.uint8), "boxes": np.zeros((1, 6))}, "imgs", "does not fit a 3D"),
    ("2DBox_A.npz", {"imgs": np.zeros((20, 30, 3), np.uint8), "boxes": np.zeros((1, 5))}, "boxes", "not (N, 4)"),
    ("2DBox_A.npz", {"imgs": np.zeros((20, 30, 3), np.uint8), "boxes": np.array([[5, 1, 2, 3]])}, "boxes", "x_min > x_max"),
    ("3DBox_A.npz", {"imgs": np.zeros((4, 20, 30), np.uint8), "boxes": np.array([[1, 1, 3, 5, 5, 1]])}, "boxes", "z_min > z_max"),
    ("2DBox_A.npz", {"imgs": np.zeros((20, 30, 3), np.uint8), "boxes": np.array([[np.nan, 1, 2, 3]])}, "boxes", "NaN"),
    ("2DBox_A.npz", {"imgs": np.zeros((0, 30, 3), np.uint8), "boxes": np.zeros((1, 4))}, "imgs", "empty"),
    ("XX_A.npz", {"imgs": np.zeros((20, 30, 3), np.uint8), "boxes": np.zeros((1, 4))}, "<name>", "2D"),
])
def test_malformed_cases_name_file_and_field(tmp_path, name, arrays, field, text):
    path = _write(tmp_path / name, **arrays)
    with pytest.raises(CaseError) as info:
        load_case(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and f"field '{field}'" in msg and text in msg and "\n" not in msg


def test_object_array_and_corrupt_file_are_refused(tmp_path):
    path = tmp_path / "2DBox_Obj.npz"
    np.savez(path, imgs=np.array([{"a": 1}], dtype=object), boxes=np.zeros((1, 4)))
    with pytest.raises(CaseError, match="field 'imgs': object array refused"):
        load_case(path)
    bad = tmp_path / "2DBox_Bad.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CaseError, match="field '<file>'"):
        load_case(bad)
    truncated = tmp_path / "2DBox_Trunc.npz"
    np.savez_compressed(truncated, imgs=np.zeros((50, 50, 3), np.uint8), boxes=np.zeros((1, 4)))
    truncated.write_bytes(truncated.read_bytes()[:-40])
    with pytest.raises(CaseError, match="2DBox_Trunc.npz"):
        load_case(truncated)


def test_zero_boxes_and_missing_spacing_warn(tmp_path):
    p = _write(tmp_path / "3DBox_A.npz", imgs=np.zeros((4, 20, 30), np.uint8), boxes=np.zeros((0, 6)))
    case = load_case(p)
    assert case.boxes.shape == (0, 6)
    assert any("spacing" in w for w in case.warnings) and any("no boxes" in w for w in case.warnings)


def test_save_segs_is_uint16_and_atomic(tmp_path, monkeypatch):
    out = tmp_path / "out" / "2DBox_A.npz"
    save_segs(out, np.full((3, 4), 300, np.int64))
    with np.load(out) as z:
        assert z["segs"].dtype == np.uint16 and z["segs"].max() == 300
    before = out.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(umedsam.common.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        save_segs(out, np.zeros((3, 4), np.uint16))
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["2DBox_A.npz"]  # no temp file left behind


def test_find_cases_and_gts(tmp_path, good2d):
    root = tmp_path / "root"
    (root / "imgs").mkdir(parents=True)
    (root / "gts").mkdir()
    good2d.rename(root / "imgs" / good2d.name)
    assert [p.name for p in find_cases(root)] == [good2d.name]
    assert find_gts(root) == root / "gts" and find_gts(root / "imgs") == root / "gts"
    np.savez(root / "gts" / good2d.name, gts=np.zeros((20, 30), np.uint8))
    gts, spacing = load_gt(root / "gts" / good2d.name)
    assert gts.shape == (20, 30) and spacing is None
