"""One canonical orientation for 3D volumes, and the exact way back to the file's storage order.

The organisers fed each volume in its file's storage order (SimpleITK's array, no reorientation), so
the same anatomy stored in another order (x reversed, axes swapped) showed the model other slices
and gave other masks. Here every volume is reoriented to **LPS** before inference: array axes
(z, y, x) with x increasing towards the patient's Left, y towards Posterior, z towards Superior. An
axial slice then shows the patient as a radiologist reads it (anterior at the top, the patient's
right on the image's left), which is also how most CT/MR DICOM series are stored (identity direction
cosines), so most challenge volumes were fed this way.

Reorientation only permutes and flips axes (SimpleITK's ``DICOMOrient``), never resamples, so it is
exact and reversible: :func:`to_original` undoes it and copies the input's geometry bit for bit.
``keep_orientation`` (``--keep-orientation``) skips it and feeds the storage order, as the organisers
did. docs/CLINICAL_IO.md, "Orientation".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from umedsam.data.volumes import sitk_module

if TYPE_CHECKING:
    import SimpleITK as sitk

#: DICOM-convention code: the direction each array axis (x, y, z) increases towards
CANONICAL = "LPS"


def orientation_code(image: "sitk.Image") -> str:
    """The three-letter code of the closest axis-aligned orientation of ``image`` (e.g. ``RAS``)."""
    sitk = sitk_module()
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())


def to_canonical(image: "sitk.Image", keep_orientation: bool = False) -> "sitk.Image":
    """``image`` reoriented to :data:`CANONICAL` (a permutation/flip of its voxels), or itself."""
    if keep_orientation or orientation_code(image) == CANONICAL:
        return image
    return sitk_module().DICOMOrient(image, CANONICAL)


def to_original(canonical: "sitk.Image", original: "sitk.Image") -> "sitk.Image":
    """A volume on :func:`to_canonical`'s grid put back into ``original``'s storage order and geometry."""
    back = canonical
    if orientation_code(canonical) != orientation_code(original):
        back = sitk_module().DICOMOrient(canonical, orientation_code(original))
    if back.GetSize() != original.GetSize():  # a permutation that does not invert is a bug, never a guess
        raise AssertionError(f"reorientation back gave size {back.GetSize()}, the input has {original.GetSize()}")
    back.CopyInformation(original)
    return back
