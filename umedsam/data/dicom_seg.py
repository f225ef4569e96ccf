"""DICOM-SEG output for DICOM series inputs, written with highdicom.

One binary segment per box prompt, numbered as the boxes (segment k = box k; its label says the
prompt's label value). The frames reference the source series' instances, in the order GDCM sorted
them by position, and the patient and study attributes are copied from them. The segment codes are
the generic SNOMED CT "Tissue" category and type: a box prompt does not say what anatomy it holds, so
the file claims no more than that. docs/CLINICAL_IO.md, "DICOM-SEG".
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from umedsam.common import write_bytes_atomic
from umedsam.errors import CaseError, UmedsamError

if TYPE_CHECKING:
    from umedsam.data.clinical import ClinicalCase


def write_dicom_seg(case: "ClinicalCase", segs: np.ndarray, out: str | Path) -> Path:
    """Write the box-index label map ``segs`` (canonical grid) of a DICOM-series case as DICOM-SEG."""
    try:
        import highdicom as hd
        import pydicom
        from pydicom.sr.codedict import codes
    except ImportError:
        raise UmedsamError("DICOM-SEG output needs highdicom: pip install 'umedsam[io]'") from None
    from umedsam import __version__
    from umedsam.data.orientation import to_original
    from umedsam.data.volumes import sitk_module

    if not case.source_files:
        raise CaseError(case.path, "<format>", "DICOM-SEG is written for DICOM series inputs only")
    sitk = sitk_module()
    image = sitk.GetImageFromArray(np.asarray(segs, np.uint16))
    image.CopyInformation(case.canonical)
    frames = sitk.GetArrayFromImage(to_original(image, case.original))  # (files, rows, cols), GDCM's order
    n = len(case.boxes)
    if n == 0:
        raise CaseError(case.path, "boxes", "no boxes: a DICOM-SEG needs at least one segment")
    sources = [pydicom.dcmread(f) for f in case.source_files]
    algorithm = hd.AlgorithmIdentificationSequence(name="umedsam LiteMedSAM", version=__version__,
                                                   family=codes.cid7162.ArtificialIntelligence)
    descriptions = [hd.seg.SegmentDescription(
        segment_number=k, segment_label=f"box {k} (label {int(case.label_values[k - 1])})",
        segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm)
        for k in range(1, n + 1)]
    try:
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=frames.astype(np.uint16 if n > 255 else np.uint8),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
            series_instance_uid=hd.UID(), series_number=9900, sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer="umedsam", manufacturer_model_name="LiteMedSAM", software_versions=__version__,
            device_serial_number="0", series_description="umedsam box-prompted segmentation")
    except AttributeError as exc:  # a source file without an attribute the SEG must copy
        raise CaseError(case.source_files[0], str(exc).rsplit("'", 2)[-2] if "'" in str(exc) else "<header>",
                        "missing; a DICOM-SEG copies it from the source series") from None
    except ValueError as exc:
        raise CaseError(case.path, "<dicom-seg>", f"highdicom refused the segmentation ({exc})") from None
    buf = io.BytesIO()
    seg.save_as(buf)
    write_bytes_atomic(out, buf.getvalue())
    return Path(out)
