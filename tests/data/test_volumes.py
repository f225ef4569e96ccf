"""Volume readers and writers: DICOM series order and rescale, several series, 4D, unknown formats,
geometry kept through every label format."""

from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")

from tests.data.dicom_writer import write_series  # noqa: E402
from umedsam.data.volumes import read_volume, write_image_atomic  # noqa: E402
from umedsam.errors import CaseError  # noqa: E402


def test_dicom_series_sorted_by_position_with_rescale(tmp_path):
    stored = np.random.default_rng(0).integers(-100, 900, size=(5, 6, 7)).astype(np.int16)
    write_series(tmp_path / "ct", stored, (0.5, 0.7, 2.0), (-10, -20, 30), "CT", slope=2, intercept=-1024)
    image, modality = read_volume(tmp_path / "ct")
    assert modality == "CT"
    assert np.array_equal(sitk.GetArrayFromImage(image), stored.astype(np.int64) * 2 - 1024)
    assert image.GetSpacing() == pytest.approx((0.5, 0.7, 2.0)) and image.GetOrigin() == pytest.approx((-10, -20, 30))


def test_two_series_in_one_folder_need_a_choice(tmp_path):
    a = np.zeros((2, 4, 4), np.int16)
    uid_a = write_series(tmp_path / "mixed", a, (1, 1, 1), (0, 0, 0), "MR", seed=1)
    uid_b = write_series(tmp_path / "mixed", a + 5, (1, 1, 1), (0, 0, 0), "MR", seed=2, prefix="g")
    with pytest.raises(CaseError, match=r"mixed: field 'SeriesInstanceUID': .*series in one folder.*--series"):
        read_volume(tmp_path / "mixed")
    image, _ = read_volume(tmp_path / "mixed", series=uid_b)
    assert (sitk.GetArrayFromImage(image) == 5).all()
    with pytest.raises(CaseError, match="not found"):
        read_volume(tmp_path / "mixed", series=uid_a + ".9")


def test_unknown_4d_and_unreadable_inputs(tmp_path):
    import nibabel as nib

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CaseError, match=r"notes.txt: field '<format>': unknown format"):
        read_volume(tmp_path / "notes.txt")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.float32), np.eye(4)), tmp_path / "dyn.nii.gz")
    with pytest.raises(CaseError, match=r"dyn.nii.gz: field '<dimensions>': 4D volume"):
        read_volume(tmp_path / "dyn.nii.gz")
    (tmp_path / "bad.nii.gz").write_bytes(b"\x1f\x8b not a nifti")
    with pytest.raises(CaseError, match=r"bad.nii.gz: field '<file>': not readable"):
        read_volume(tmp_path / "bad.nii.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaseError, match="no DICOM series"):
        read_volume(tmp_path / "empty")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".mha", ".nrrd"])
def test_label_formats_keep_geometry(tmp_path, suffix):
    img = sitk.GetImageFromArray(np.arange(60, dtype=np.uint16).reshape(3, 4, 5) * 1000)
    img.SetOrigin((1.5, -2.0, 7.25))
    img.SetSpacing((0.5, 0.75, 3.0))
    img.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    write_image_atomic(img, tmp_path / f"labels{suffix}")
    back, _ = read_volume(tmp_path / f"labels{suffix}")
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    assert back.GetPixelID() == sitk.sitkUInt16
    assert np.allclose(back.GetOrigin(), img.GetOrigin()) and np.allclose(back.GetSpacing(), img.GetSpacing())
    assert np.allclose(back.GetDirection(), img.GetDirection(), atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [f"labels{suffix}"]  # no temporary file left
