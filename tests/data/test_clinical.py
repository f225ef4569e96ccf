"""Clinical inputs as cases, without a model: 2D prompts from a label map, label values and dtypes of
the outputs, DICOM CT windowing from the Modality tag, output names."""

from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from umedsam.data.clinical import (ClinicalOptions, default_output, load_clinical, npz_name,  # noqa: E402
                                   output_labels, write_labels)
from umedsam.data.images2d import read_image_2d, write_label_png  # noqa: E402


def test_2d_labelmap_prompts_and_label_values_back(tmp_path):
    import tifffile

    img = np.zeros((30, 40), np.uint16)
    img[5:15, 5:20] = 4000
    img[20:28, 25:38] = 1200
    tifffile.imwrite(tmp_path / "cells.tif", img)
    labels = np.zeros((30, 40), np.uint16)
    labels[5:15, 5:20] = 7
    labels[20:28, 25:38] = 400
    write_label_png(tmp_path / "cells_labels.png", labels)
    case = load_clinical(tmp_path / "cells.tif", boxes_from=tmp_path / "cells_labels.png")
    assert case.kind == "2D" and case.imgs.shape == (30, 40, 3) and case.rule.kind == "percentile"
    assert case.boxes.tolist() == [[5, 5, 19, 14], [25, 20, 37, 27]] and case.label_values.tolist() == [7, 400]
    assert np.array_equal(case.gts[labels == 7], np.ones((labels == 7).sum()))
    segs = np.zeros((30, 40), np.uint16)
    segs[6:10, 6:10], segs[21:25, 26:30] = 1, 2
    out = output_labels(case, segs)
    assert out.dtype == np.uint16 and set(np.unique(out)) == {0, 7, 400}  # >= 256 labels: uint16
    path = write_labels(case, segs, default_output(case, tmp_path / "out"))
    assert path.name == "cells.png" and np.array_equal(read_image_2d(path), out)
    assert npz_name(case) == "2DBox_image_cells.npz"


def test_dicom_ct_is_windowed_by_its_modality_tag(tmp_path):
    pytest.importorskip("pydicom")
    from tests.data.dicom_writer import write_series

    stored = np.full((2, 6, 8), 0, np.int16)
    stored[:, 2:4, 2:6] = 1064  # -> 40 HU with intercept -1024: the window's centre
    write_series(tmp_path / "ct", stored, (0.6, 0.6, 2.0), (0, 0, 0), "CT", slope=1, intercept=-1024)
    case = load_clinical(tmp_path / "ct")
    assert case.modality == "CT" and case.rule.kind == "window" and case.rule.low == -160
    assert case.imgs[0, 2, 2] == 255 and case.imgs[0, 0, 0] == 0  # min-max of the clipped array: -160 .. 40
    assert npz_name(case) == "3DBox_CT_ct.npz" and default_output(case, tmp_path).name == "ct.nii.gz"
    forced = load_clinical(tmp_path / "ct", ClinicalOptions(modality="MR"))
    assert forced.rule.kind == "percentile"


def test_box_file_and_label_map_together_are_refused_before_reading(tmp_path):
    from umedsam.data.clinical import load_clinical
    from umedsam.errors import CaseError

    with pytest.raises(CaseError, match="give either a box file or a label map, not both"):
        load_clinical(tmp_path / "absent.nii.gz", boxes=tmp_path / "b.json", boxes_from=tmp_path / "l.nii.gz")
