"""Test helper: write a volume as a DICOM series with pydicom (one file per slice, shuffled names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_series(folder: Path, stored: np.ndarray, spacing_xyz, origin_xyz, modality: str = "MR",
                 slope: float = 1.0, intercept: float = 0.0, series_uid: str | None = None,
                 seed: int = 0, prefix: str = "f") -> str:
    """``stored`` (z, y, x) int16 as axial slices with identity orientation (LPS); returns the series UID.

    File names are shuffled and instance numbers reversed, so only Image Position Patient orders them.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study, frame = generate_uid(), generate_uid()
    sop_class = "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4"
    order = np.random.default_rng(seed).permutation(len(stored))
    for z, name in zip(range(len(stored)), order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{prefix}{name:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series_uid, frame
        ds.Modality, ds.PatientID, ds.PatientName = modality, "umedsam-test", "Test^Phantom"
        # type-2 attributes every scanner writes (DICOM-SEG writers copy them)
        ds.PatientBirthDate, ds.PatientSex, ds.ReferringPhysicianName, ds.AccessionNumber = "", "O", "", ""
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.SeriesNumber = "20261202", "090000", "1", 1
        ds.InstanceNumber = len(stored) - z
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [float(origin_xyz[0]), float(origin_xyz[1]), float(origin_xyz[2] + z * spacing_xyz[2])]
        ds.PixelSpacing = [float(spacing_xyz[1]), float(spacing_xyz[0])]  # row spacing (y), column spacing (x)
        ds.SliceThickness = float(spacing_xyz[2])
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = np.ascontiguousarray(stored[z], np.int16).tobytes()
        ds.save_as(folder / f"{prefix}{name:04d}.dcm", enforce_file_format=True)
    return series_uid
