"""3D clinical volumes through SimpleITK: NIfTI, MHA/MHD, NRRD files and DICOM series folders.

SimpleITK is the one library here that reads all of them and keeps their geometry (origin, spacing,
direction cosines) in one model, ITK's physical LPS space. The reader returns the image untouched
(scanner values, storage order); reorientation is :mod:`umedsam.data.orientation`, intensity
preparation :mod:`umedsam.data.intensity`. The writer puts a label map back into an input's geometry.

* **DICOM series** (a folder): GDCM groups the files by Series Instance UID and sorts them by their
  position along the slice normal (Image Position Patient), and GDCM applies each file's Rescale
  Slope/Intercept, so the values are Hounsfield units for CT. A folder with several series needs
  ``series=UID``; the Modality tag (0008,0060) is returned for the intensity rule.
* **Refused**: unknown extensions, 4D or multi-component volumes, unreadable files — one
  :class:`~umedsam.errors.CaseError` line naming the file and the field.

Install with ``pip install 'umedsam[io]'``. docs/CLINICAL_IO.md describes the geometry rules.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from umedsam.common import write_bytes_atomic
from umedsam.errors import CaseError, UmedsamError

if TYPE_CHECKING:
    import SimpleITK as sitk

#: file endings read as volumes (lower case); .mhd/.nhdr keep their data in a second file
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr")
#: endings a label map can be written as (single-file formats only, so one atomic rename suffices)
LABEL_SUFFIXES = (".nii.gz", ".nii", ".mha", ".nrrd")
MODALITY_TAG = "0008|0060"


def sitk_module():
    """SimpleITK, or one line saying how to install it."""
    try:
        import SimpleITK
    except ImportError:
        raise UmedsamError("clinical formats need SimpleITK: pip install 'umedsam[io]'") from None
    return SimpleITK


def volume_suffix(path: str | Path) -> str | None:
    """The volume ending of ``path`` (``.nii.gz``, ``.mha``, ...) or None."""
    name = Path(path).name.lower()
    return next((s for s in VOLUME_SUFFIXES if name.endswith(s)), None)


def strip_suffix(path: str | Path) -> str:
    """The file name without its (possibly double) ending: ``scan.nii.gz`` -> ``scan``."""
    name = Path(path).name
    suffix = volume_suffix(name)
    return name[: -len(suffix)] if suffix else Path(name).stem


def is_dicom_folder(path: str | Path) -> bool:
    """A folder holding at least one DICOM series (GDCM decides what a DICOM file is)."""
    path = Path(path)
    return path.is_dir() and bool(sitk_module().ImageSeriesReader.GetGDCMSeriesIDs(str(path)))


def _as_3d(image: "sitk.Image", path: Path) -> "sitk.Image":
    sitk = sitk_module()
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise CaseError(path, "<pixels>", f"{image.GetNumberOfComponentsPerPixel()} components per voxel "
                                          f"(vector/RGB volume); a scalar 3D volume is needed")
    dim = image.GetDimension()
    if dim == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    elif dim == 4:
        raise CaseError(path, "<dimensions>", f"4D volume of size {image.GetSize()}; predict one 3D volume "
                                              f"(extract the time point or channel first)")
    elif dim == 2:
        image = sitk.JoinSeries(image)
    elif dim != 3:
        raise CaseError(path, "<dimensions>", f"{dim}D image; a 3D volume is needed")
    return image


def dicom_series_files(folder: Path, series: str | None = None) -> list[str]:
    """The files of one DICOM series of ``folder``, ordered by position along the slice normal (GDCM)."""
    sitk = sitk_module()
    ids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    if not ids:
        raise CaseError(folder, "<files>", "no DICOM series found in this folder")
    if series is None and len(ids) > 1:
        raise CaseError(folder, "SeriesInstanceUID", f"{len(ids)} series in one folder ({', '.join(ids)}); "
                                                     f"choose one with --series UID")
    uid = series or ids[0]
    if uid not in ids:
        raise CaseError(folder, "SeriesInstanceUID", f"series {uid} not found (present: {', '.join(ids)})")
    return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))


def read_dicom_series(folder: Path, series: str | None = None) -> tuple["sitk.Image", str | None]:
    """One DICOM series of ``folder`` sorted by position with rescale applied; (image, Modality tag)."""
    sitk = sitk_module()
    files = dicom_series_files(folder, series)
    uid = series or sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))[0]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise CaseError(folder, "<pixels>", f"DICOM series {uid} unreadable ({_first_line(exc)})") from None
    modality = reader.GetMetaData(0, MODALITY_TAG).strip() if reader.HasMetaDataKey(0, MODALITY_TAG) else None
    return _as_3d(image, folder), modality or None


def _first_line(exc: Exception) -> str:
    lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
    useful = [s for s in lines if "rror" in s or "annot" in s] or lines
    return (useful[-1] if useful else type(exc).__name__)[:200]


def read_volume(path: str | Path, series: str | None = None) -> tuple["sitk.Image", str | None]:
    """(image as stored, modality from the header or None) of a volume file or DICOM folder."""
    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path, series)
    if not path.is_file():
        raise CaseError(path, "<file>", "not found")
    if volume_suffix(path) is None:
        raise CaseError(path, "<format>", f"unknown format; volumes are {', '.join(VOLUME_SUFFIXES)} or a "
                                          f"DICOM folder, 2D images .png/.jpg/.bmp/.tif")
    sitk = sitk_module()
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise CaseError(path, "<file>", f"not readable as {volume_suffix(path)} ({_first_line(exc)})") from None
    return _as_3d(image, path), None


def write_image_atomic(image: "sitk.Image", path: str | Path) -> None:
    """Write ``image`` with SimpleITK (format from the ending, compressed) without a half-written file.

    SimpleITK writes by file name, so it writes into a private temporary folder; the bytes then go
    to ``path`` through :func:`umedsam.common.write_bytes_atomic`.
    """
    path = Path(path)
    suffix = next((s for s in LABEL_SUFFIXES if path.name.lower().endswith(s)), None)
    if suffix is None:
        raise UmedsamError(f"{path}: label maps are written as {', '.join(LABEL_SUFFIXES)}")
    sitk = sitk_module()
    with tempfile.TemporaryDirectory(prefix=".umedsam-") as tmp:
        tmp_file = Path(tmp) / f"out{suffix}"
        sitk.WriteImage(image, str(tmp_file), useCompression=True)
        write_bytes_atomic(path, tmp_file.read_bytes())
