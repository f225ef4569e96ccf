"""Clinical inputs end to end with the built-in weights (issue 17's "Done when"):

* the MNI152 template slab as NIfTI -> predict with boxes from its white-matter map -> a NIfTI label map
  with the input's affine and shape, equal to predicting the ``umedsam convert`` npz of it;
* the same volume stored with x and y reversed gives the same masks in world space, labels on their side;
* a DICOM series written from it with pydicom (shuffled files, rescale slope) gives the same masks;
* a PNG of a DSB2018 quadrant gives the same masks as its npz;
* every bad input is one line naming the file and field, the other inputs still run, nothing half-written.

Kept short for CI: the session's OpenVINO bundle (the same masks as PyTorch, tests/runtime), a 3-slice
slab, and 8 nuclei of the DSB2018 quadrant.
"""

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
from umedsam.data.npz import load_segs, save_npz_atomic  # noqa: E402

runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(ov_bundle) -> str:
    return str(ov_bundle[0])


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _predict(engine: str, *args):
    return _invoke("predict", *args, "--engine", engine)


def _canonical(path) -> np.ndarray:
    """A label map on the LPS grid, whatever its storage order (world-space comparison)."""
    return sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(path)), "LPS"))


@pytest.fixture(scope="module")
def mni(tmp_path_factory, engine):
    """The slab, its label map and the predicted label map of the NIfTI."""
    try:
        from umedsam.data.real_clinical import write_mni152_nifti

        root = tmp_path_factory.mktemp("mni")
        t1, wm = write_mni152_nifti(root / "in", z_range=(82, 85))
    except Exception as exc:  # nilearn not installed
        pytest.skip(f"MNI152 template unavailable: {exc}")
    r = _predict(engine, "-i", t1, "--boxes-from", wm, "-o", root / "out", "--threads", "2")
    assert r.exit_code == 0, r.output
    return root, t1, wm, root / "out" / "mni152_t1.nii.gz"


def test_nifti_round_trip_equals_the_converted_npz(mni, engine):
    root, t1, wm, pred = mni
    src, out = nib.load(t1), nib.load(pred)
    assert out.shape == src.shape and np.array_equal(out.affine, src.affine)
    labels = np.asarray(out.dataobj)
    assert out.get_data_dtype() == np.uint8 and set(np.unique(labels)) == {0, 1, 2}
    sidecar = json.loads((root / "out" / "mni152_t1.json").read_text(encoding="utf-8"))
    assert sidecar["stored_orientation"] == "RAS" and sidecar["inference_orientation"] == "LPS"

    r = _invoke("convert", t1, "-o", root / "npz" / "imgs", "--boxes-from", wm, "--gts", root / "npz" / "gts")
    assert r.exit_code == 0, r.output
    case = root / "npz" / "imgs" / "3DBox_MR_mni152-t1.npz"
    r = _predict(engine, "-i", root / "npz", "-o", root / "npz_out", "--threads", "2")
    assert r.exit_code == 0, r.output
    segs = load_segs(root / "npz_out" / case.name)
    assert np.array_equal(segs, _canonical(pred))
    # and back: the npz's segs written in the NIfTI's geometry equal the NIfTI path's file
    r = _invoke("convert", root / "npz_out" / case.name, "--like", t1, "-o", root / "back.nii.gz")
    assert r.exit_code == 0, r.output
    back = nib.load(root / "back.nii.gz")
    assert np.array_equal(back.affine, src.affine) and np.array_equal(np.asarray(back.dataobj), labels)
    # the label map as ground truth: on the case's grid, label k = box k
    gts = np.load(root / "npz" / "gts" / case.name)["gts"]
    assert np.array_equal(gts, _canonical(wm))


def test_storage_order_does_not_change_world_masks(mni, engine, tmp_path):
    from umedsam.data.real_clinical import write_flipped_nifti

    root, t1, wm, pred = mni
    flipped = write_flipped_nifti(t1, tmp_path / "in" / "mni152_t1.nii.gz")
    flipped_wm = write_flipped_nifti(wm, tmp_path / "wm" / "mni152_t1.nii.gz")
    assert not np.array_equal(np.asarray(nib.load(flipped).dataobj), np.asarray(nib.load(t1).dataobj))
    r = _predict(engine, "-i", flipped, "--boxes-from", flipped_wm, "-o", tmp_path / "out", "--threads", "2")
    assert r.exit_code == 0, r.output
    out = tmp_path / "out" / "mni152_t1.nii.gz"
    assert np.array_equal(nib.load(out).affine, nib.load(flipped).affine)
    assert np.array_equal(_canonical(out), _canonical(pred))
    # label 1 = left white matter: in both files its voxels lie at world x < 0 (RAS), label 2 at x > 0
    for path in (pred, out):
        img = nib.load(path)
        data = np.asarray(img.dataobj)
        for k, sign in ((1, -1), (2, 1)):
            ijk = np.argwhere(data == k)
            x = nib.affines.apply_affine(img.affine, ijk)[:, 0]
            assert len(x) and np.sign(np.median(x)) == sign and (np.sign(x) == sign).mean() > 0.99


def test_dicom_series_from_pydicom_gives_the_same_masks(mni, engine, tmp_path):
    root, t1, wm, pred = mni
    canon = sitk.DICOMOrient(sitk.ReadImage(str(t1)), "LPS")
    stored = sitk.GetArrayFromImage(canon).astype(np.int16)
    # slope 2: the reader must apply it; the percentile rule is blind to a positive scale, so same masks
    write_series(tmp_path / "dcm", stored, canon.GetSpacing(), canon.GetOrigin(), "MR", slope=2.0, intercept=0.0)
    canon_wm = sitk.DICOMOrient(sitk.ReadImage(str(wm)), "LPS")
    sitk.WriteImage(canon_wm, str(tmp_path / "dcm_wm.nii.gz"))
    r = _predict(engine, "-i", tmp_path / "dcm", "--boxes-from", tmp_path / "dcm_wm.nii.gz", "-o", tmp_path / "out",
                "--format", "mha", "--threads", "2", "--dicom-seg")
    assert r.exit_code == 0, r.output
    out = tmp_path / "out" / "dcm.mha"
    assert np.array_equal(_canonical(out), _canonical(pred))
    # the DICOM-SEG holds the same masks, frame by frame against the source instances
    hd, pydicom = pytest.importorskip("highdicom"), pytest.importorskip("pydicom")
    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(tmp_path / "out" / "dcm.seg.dcm"))
    uids = {pydicom.dcmread(f).ImagePositionPatient[2]: pydicom.dcmread(f).SOPInstanceUID
            for f in (tmp_path / "dcm").iterdir()}
    frames = seg.get_pixels_by_source_instance([uids[z] for z in sorted(uids)], combine_segments=True)
    assert np.array_equal(frames, sitk.GetArrayFromImage(sitk.ReadImage(str(out))))
    img = sitk.ReadImage(str(out))
    assert np.allclose(img.GetOrigin(), canon.GetOrigin()) and img.GetSize() == canon.GetSize()


def test_png_of_a_dsb2018_image_gives_the_same_masks_as_its_npz(engine, tmp_path):
    from PIL import Image

    try:
        from umedsam.data.real import write_dsb2018

        (case_path,) = write_dsb2018(tmp_path / "data", quadrants=(3,))
    except Exception as exc:
        pytest.skip(f"DSB2018 image unavailable: {exc}")
    with np.load(case_path) as npz:
        imgs, boxes = npz["imgs"], npz["boxes"][:8]
    save_npz_atomic(case_path, imgs=imgs, boxes=boxes)
    Image.fromarray(imgs[..., 0]).save(tmp_path / "nuclei.png")
    (tmp_path / "nuclei.json").write_text(json.dumps({"space": "voxel", "boxes": boxes.tolist()}))
    r = _predict(engine, "-i", tmp_path / "nuclei.png", "--boxes", tmp_path / "nuclei.json", "-o", tmp_path / "png_out",
                "--threads", "2")
    assert r.exit_code == 0, r.output
    r = _predict(engine, "-i", tmp_path / "data", "-o", tmp_path / "npz_out", "--threads", "2")
    assert r.exit_code == 0, r.output
    labels = np.asarray(Image.open(tmp_path / "png_out" / "nuclei.png"))
    segs = load_segs(tmp_path / "npz_out" / case_path.name)
    assert labels.shape == segs.shape and set(np.unique(segs)) == set(range(9))
    assert np.array_equal(labels, segs)
