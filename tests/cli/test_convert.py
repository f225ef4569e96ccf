"""``umedsam convert`` forward and back, and bad clinical inputs to ``predict``/``convert``: one line
naming the file and field each, the other inputs still run, nothing half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

sitk = pytest.importorskip("SimpleITK")
nib = pytest.importorskip("nibabel")
pytest.importorskip("pydicom")

from tests.data.dicom_writer import write_series  # noqa: E402
from umedsam.cli.main import app  # noqa: E402
from umedsam.data.npz import load_case, save_npz_atomic  # noqa: E402

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _ct_nifti(path, shape=(12, 10, 4)):
    """A small CT-like NIfTI (HU, RAS affine with 0.8 x 0.9 x 2.5 mm voxels) with a bright block."""
    hu = np.full(shape, -1000, np.int16)
    hu[3:9, 2:8, 1:3] = 60
    hu[0, 0, 0] = 1200
    affine = np.diag([0.8, 0.9, 2.5, 1.0])
    affine[:3, 3] = (-4.0, -3.0, 10.0)
    nib.save(nib.Nifti1Image(hu, affine), path)
    return hu, affine


def test_convert_forward_and_back(tmp_path):
    hu, affine = _ct_nifti(tmp_path / "ct.nii.gz")
    labels = np.zeros(hu.shape, np.uint16)
    labels[3:9, 2:8, 1:3] = 300  # a label value beyond uint8
    nib.save(nib.Nifti1Image(labels, affine), tmp_path / "lab.nii.gz")
    r = _invoke("convert", tmp_path / "ct.nii.gz", "-o", tmp_path / "cases", "--boxes-from", tmp_path / "lab.nii.gz",
                "--gts", tmp_path / "gts")
    assert r.exit_code == 0, r.output
    case = load_case(tmp_path / "cases" / "3DBox_CT_ct.npz")  # modality detected from air at -1000 HU
    assert case.imgs.shape == (4, 10, 12) and case.imgs.dtype == np.uint8
    # L40/W400 on the canonical (LPS) grid: x and y reversed from the RAS storage
    assert case.imgs[1, 10 - 1 - 2, 12 - 1 - 3] == int((60 + 160) / 400 * 255) and case.imgs.max() == 255
    assert case.boxes.tolist() == [[12 - 9, 10 - 8, 1, 12 - 1 - 3, 10 - 1 - 2, 2]]
    assert np.allclose(case.spacing, (2.5, 0.9, 0.8))
    gts = np.load(tmp_path / "gts" / "3DBox_CT_ct.npz")["gts"]
    assert set(np.unique(gts)) == {0, 1}

    # back: segs with label 1 -> the label map in the NIfTI's geometry; -o a folder names it after the input
    save_npz_atomic(tmp_path / "segs.npz", segs=gts)
    r = _invoke("convert", tmp_path / "segs.npz", "--like", tmp_path / "ct.nii.gz", "-o", tmp_path / "back")
    assert r.exit_code == 0, r.output
    back = nib.load(tmp_path / "back" / "ct.nii.gz")
    assert np.array_equal(back.affine, nib.load(tmp_path / "ct.nii.gz").affine) and np.array_equal(np.asarray(back.dataobj), (labels > 0).astype(np.uint8))

    # --window and --keep-orientation change what the model sees, as documented
    r = _invoke("convert", tmp_path / "ct.nii.gz", "-o", tmp_path / "kept" / "3DBox_CT_k.npz", "--window", "bone",
                "--keep-orientation")
    assert r.exit_code == 0, r.output
    kept = load_case(tmp_path / "kept" / "3DBox_CT_k.npz")
    clipped = np.clip(hu, -500.0, 1300.0)  # bone window L400/W1800, storage order (x, y, z) -> (z, y, x)
    expect = ((clipped + 500) / (1200 + 500) * 255).astype(np.uint8).transpose(2, 1, 0)
    assert np.array_equal(kept.imgs, expect)


def test_convert_refuses_a_name_without_the_kind_prefix(tmp_path):
    _ct_nifti(tmp_path / "ct.nii.gz")
    r = _invoke("convert", tmp_path / "ct.nii.gz", "-o", tmp_path / "case.npz")
    assert r.exit_code == 1 and "case.npz: field '<name>'" in r.output
    assert not (tmp_path / "case.npz").exists()


def test_bad_inputs_one_line_each_and_the_good_one_still_runs(tmp_path):
    from PIL import Image

    inputs, boxes, out = tmp_path / "in", tmp_path / "boxes", tmp_path / "out"
    inputs.mkdir()
    boxes.mkdir()
    yy, xx = np.mgrid[:64, :64]
    disc = np.where((yy - 30) ** 2 + (xx - 34) ** 2 < 150, 220, 30).astype(np.uint8)
    Image.fromarray(disc).save(inputs / "good.png")
    (boxes / "good.json").write_text(json.dumps([[20, 16, 48, 44]]))
    Image.fromarray(disc).save(inputs / "outside.png")
    (boxes / "outside.json").write_text(json.dumps([[80, 80, 90, 90]]))
    (inputs / "notes.xyz").write_text("not an image")
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 3, 2), np.float32), np.eye(4)), inputs / "dyn.nii.gz")
    (boxes / "dyn.json").write_text(json.dumps([[0, 0, 0, 1, 1, 1]]))
    _ct_nifti(inputs / "vol.nii.gz")
    (boxes / "vol.json").write_text(json.dumps({"space": "ras", "boxes": [[200, 200, 200, 210, 210, 210]]}))
    write_series(inputs / "two", np.zeros((2, 8, 8), np.int16), (1, 1, 1), (0, 0, 0), "CT", seed=1)
    write_series(inputs / "two", np.ones((2, 8, 8), np.int16), (1, 1, 1), (0, 0, 0), "CT", seed=2, prefix="g")

    r = _invoke("predict", "-i", inputs, "--boxes", boxes, "-o", out, "--threads", "2")
    assert r.exit_code == 1
    text = " ".join(r.output.split())  # rich may wrap long lines
    for expected in ("notes.xyz: field '<format>': unknown format", "dyn.nii.gz: field '<dimensions>': 4D volume",
                     "outside.json: field 'boxes[0]': the box lies outside the volume",
                     "vol.json: field 'boxes[0]': the world box misses the volume",
                     "two: field 'SeriesInstanceUID': 2 series in one folder"):
        assert expected in text, expected
    assert sorted(p.name for p in out.iterdir()) == ["efficiency.csv", "good.json", "good.png"]
    labels = np.asarray(Image.open(out / "good.png"))
    assert labels.shape == (64, 64) and labels[30, 34] == 1 and labels[0, 0] == 0
    assert (out / "efficiency.csv").read_text(encoding="utf-8").splitlines()[1].startswith("good.png,")
