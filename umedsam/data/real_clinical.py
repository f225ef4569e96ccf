"""Real clinical-format inputs from files PyPI wheels ship, for the tests and the demo's round trip.

* :func:`write_mni152_nifti`: an axial slab of nilearn's MNI152 2009 T1 template as a NIfTI file
  (its own affine, cropped with nibabel so the geometry stays exact) and a label map from its
  white-matter probability map: label 1 = left-hemisphere white matter, 2 = right (probability > 0.5;
  left/right by the world x coordinate, so the labels are tied to anatomy, not to storage order).
* :func:`write_flipped_nifti`: the same voxels stored with x and y reversed and the affine adjusted,
  i.e. the same anatomy in another storage order.

nilearn is located without importing it (:func:`umedsam.data.real.package_dir`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from umedsam.common import write_bytes_atomic
from umedsam.data.real import package_dir

MNI_T1 = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
MNI_WM = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"


def _save_nifti(img, path: Path) -> Path:
    """nibabel image -> ``path`` atomically (``to_bytes`` of the gzip-less or gzipped file)."""
    import gzip

    data = img.to_bytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    write_bytes_atomic(path, data)
    return path


def write_mni152_nifti(out: str | Path, z_range: tuple[int, int] = (80, 86)) -> tuple[Path, Path]:
    """(T1 slab ``mni152_t1.nii.gz``, label map ``mni152_wm.nii.gz``) in ``out``; voxel slices z0:z1."""
    import nibabel as nib

    root = package_dir("nilearn") / "datasets" / "data"
    t1 = nib.load(root / MNI_T1).slicer[:, :, z_range[0]:z_range[1]]
    wm = nib.load(root / MNI_WM).slicer[:, :, z_range[0]:z_range[1]]
    prob = np.asarray(wm.dataobj, np.float64)
    i = np.arange(prob.shape[0], dtype=np.float64)
    world_x = t1.affine[0, 0] * i + t1.affine[0, 3]  # RAS x of each column (axis-aligned template)
    left = (world_x < 0)[:, None, None]  # RAS: x < 0 is the patient's left
    labels = np.zeros(prob.shape, np.uint8)
    white = prob > 0.5 * prob.max()
    labels[white & left] = 1
    labels[white & ~left] = 2
    out = Path(out)
    t1_img = nib.Nifti1Image(np.asarray(t1.dataobj), t1.affine, t1.header)
    lab_img = nib.Nifti1Image(labels, t1.affine)
    return _save_nifti(t1_img, out / "mni152_t1.nii.gz"), _save_nifti(lab_img, out / "mni152_wm.nii.gz")


def write_flipped_nifti(source: str | Path, target: str | Path) -> Path:
    """``source`` stored with its first two voxel axes reversed, the affine adjusted: the same anatomy."""
    import nibabel as nib

    img = nib.load(source)
    data = np.asarray(img.dataobj)[::-1, ::-1]
    affine = img.affine.copy()
    affine[:3, 3] = img.affine[:3, :3] @ np.array([data.shape[0] - 1, data.shape[1] - 1, 0]) + img.affine[:3, 3]
    affine[:3, 0] *= -1
    affine[:3, 1] *= -1
    return _save_nifti(nib.Nifti1Image(np.ascontiguousarray(data), affine), Path(target))
