"""DICOM-SEG for DICOM series inputs: frames in the source's order, one segment per box, read back
with highdicom equal to the label map written in the series' geometry."""

from __future__ import annotations

import json

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

from tests.data.dicom_writer import write_series  # noqa: E402
from umedsam.data.clinical import load_clinical, write_labels  # noqa: E402
from umedsam.data.dicom_seg import write_dicom_seg  # noqa: E402
from umedsam.errors import CaseError  # noqa: E402


def test_dicom_seg_matches_the_label_map(tmp_path):
    stored = np.zeros((4, 16, 20), np.int16)
    stored[:, 4:12, 3:17] = 1100
    write_series(tmp_path / "ct", stored, (0.5, 0.7, 2.0), (-10, -20, 30), "CT", intercept=-1024)
    (tmp_path / "b.json").write_text(json.dumps({"boxes": [{"min": [3, 4, 0], "max": [9, 11, 3], "label": 5},
                                                           {"min": [10, 4, 1], "max": [16, 11, 2], "label": 9}]}))
    case = load_clinical(tmp_path / "ct", boxes=tmp_path / "b.json")
    segs = np.zeros(case.imgs.shape, np.uint16)  # a "prediction": box k fills its box on the canonical grid
    for k, (x0, y0, z0, x1, y1, z1) in enumerate(case.boxes, start=1):
        segs[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1] = k
    write_labels(case, segs, tmp_path / "labels.nii.gz")
    write_dicom_seg(case, segs, tmp_path / "ct.seg.dcm")
    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(tmp_path / "ct.seg.dcm"))
    sources = [pydicom.dcmread(f) for f in case.source_files]
    frames = seg.get_pixels_by_source_instance([s.SOPInstanceUID for s in sources], combine_segments=True)
    expect = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "labels.nii.gz")))  # labels 5 and 9
    assert np.array_equal(np.array([0, 5, 9])[frames], expect)
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["box 1 (label 5)", "box 2 (label 9)"]
    assert seg.PatientID == "umedsam-test" and seg.StudyInstanceUID == sources[0].StudyInstanceUID


def test_dicom_seg_only_for_dicom_inputs(tmp_path):
    img = sitk.GetImageFromArray(np.zeros((2, 8, 8), np.int16))
    sitk.WriteImage(img, str(tmp_path / "v.nii.gz"))
    case = load_clinical(tmp_path / "v.nii.gz")
    with pytest.raises(CaseError, match="DICOM series inputs only"):
        write_dicom_seg(case, np.zeros((2, 8, 8), np.uint16), tmp_path / "v.seg.dcm")
