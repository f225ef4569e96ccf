"""Clinical inputs as challenge cases and label maps back in the input's own geometry.

:func:`load_clinical` turns a NIfTI/MHA/NRRD file, a DICOM series folder or a 2D PNG/JPEG/BMP/TIFF
image plus its box prompts into what the predictor takes (``imgs`` uint8 in the challenge layout and
``boxes``), keeping the original geometry; :func:`write_labels` writes the predicted label map back
in that geometry (same affine/direction, origin, spacing and storage order; PNG for 2D). The steps:
read (:mod:`~umedsam.data.volumes`, :mod:`~umedsam.data.images2d`), reorient to the canonical
orientation (:mod:`~umedsam.data.orientation`), prepare intensities (:mod:`~umedsam.data.intensity`),
map the boxes (:mod:`~umedsam.data.prompts`). docs/CLINICAL_IO.md has every rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from umedsam.data import images2d, intensity, prompts, volumes
from umedsam.data.npz import save_npz_atomic
from umedsam.errors import CaseError

if TYPE_CHECKING:
    import SimpleITK as sitk


@dataclass
class ClinicalOptions:
    """How to read a clinical input (the ``predict``/``convert`` options)."""

    modality: str | None = None  # None: DICOM Modality tag, else detected (docs/CLINICAL_IO.md)
    window: tuple[float, float] | None = None  # CT only; None: L40/W400
    keep_orientation: bool = False
    series: str | None = None
    box_space: str | None = None  # overrides the box file's own space
    dicom_seg: bool = False  # also write DICOM-SEG for DICOM series inputs (umedsam/data/dicom_seg.py)


@dataclass
class ClinicalCase:
    """One clinical input prepared as a challenge case, with what is needed to write results back."""

    path: Path
    kind: str  # "2D" or "3D"
    imgs: np.ndarray
    boxes: np.ndarray
    label_values: np.ndarray  # output label of box k (1-based k -> label_values[k - 1])
    modality: str
    rule: intensity.Rule
    spacing: np.ndarray | None = None  # array-axis order (z, y, x) in mm
    original: "sitk.Image | None" = None  # 3D: the image as stored (geometry for the way back)
    canonical: "sitk.Image | None" = None  # 3D: the grid inference runs on
    source_files: list[str] | None = None  # DICOM series: its files in GDCM's order (for DICOM-SEG)
    gts: np.ndarray | None = None  # with a label map as prompts: it on the case's grid, label k = box k
    warnings: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return volumes.strip_suffix(self.path)

    def info(self) -> dict[str, Any]:
        """What a sidecar records about the conversion."""
        out: dict[str, Any] = {"input": str(self.path), "kind": self.kind, "modality": self.modality,
                               "intensity": self.rule.describe(), "shape": list(self.imgs.shape)}
        if self.original is not None:
            from umedsam.data.orientation import orientation_code

            out.update(stored_orientation=orientation_code(self.original),
                       inference_orientation=orientation_code(self.canonical),
                       spacing_zyx=[float(s) for s in self.spacing])
        return out


def is_clinical(path: str | Path) -> bool:
    """A file or DICOM folder this module reads (not a challenge ``.npz``)."""
    path = Path(path)
    if path.is_dir():
        return volumes.is_dicom_folder(path)
    return volumes.volume_suffix(path) is not None or images2d.is_image_2d(path)


def find_clinical(folder: str | Path) -> list[Path]:
    """The clinical inputs of a folder (files and DICOM series sub-folders), or the folder itself when
    it is a DICOM series."""
    folder = Path(folder)
    if volumes.is_dicom_folder(folder):
        return [folder]
    found = []
    skip = (".npz", ".json", ".csv", ".raw", ".zraw")  # cases, prompts, the data files of .mhd/.nhdr
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            if volumes.is_dicom_folder(p):
                found.append(p)
        elif p.suffix.lower() not in skip and (p.suffix.lower() != ".gz" or p.name.lower().endswith(".nii.gz")):
            found.append(p)  # unknown formats too: each is reported as one line, the others still run
    return found


def _modality(options: ClinicalOptions, values: np.ndarray, header: str | None) -> str:
    return options.modality.upper() if options.modality else intensity.detect_modality(values, header)


def load_clinical(path: str | Path, options: ClinicalOptions | None = None, boxes: str | Path | None = None,
                  boxes_from: str | Path | None = None) -> ClinicalCase:
    """Read ``path`` and its prompts (a box file, a label map, or none) into a :class:`ClinicalCase`."""
    options = options or ClinicalOptions()
    path = Path(path)
    if boxes is not None and boxes_from is not None:
        raise CaseError(path, "<prompts>", "give either a box file or a label map, not both")
    if path.is_file() and images2d.is_image_2d(path):
        return _load_2d(path, options, boxes, boxes_from)
    if path.is_file() and volumes.volume_suffix(path) is None:
        raise CaseError(path, "<format>", f"unknown format; volumes are {', '.join(volumes.VOLUME_SUFFIXES)} or "
                                          f"a DICOM folder, 2D images {', '.join(images2d.IMAGE_SUFFIXES)}")
    from umedsam.data.orientation import to_canonical

    sitk = volumes.sitk_module()
    original, header_modality = volumes.read_volume(path, options.series)
    canonical = to_canonical(original, options.keep_orientation)
    values = sitk.GetArrayViewFromImage(canonical)
    modality = _modality(options, values, header_modality)
    imgs, rule = intensity.prepare_volume(values, modality, options.window)
    case = ClinicalCase(path, "3D", np.ascontiguousarray(imgs), np.zeros((0, 6), np.int64), np.zeros(0, np.int64),
                        modality, rule, np.array(canonical.GetSpacing()[::-1], np.float64), original, canonical)
    if path.is_dir():
        case.source_files = volumes.dicom_series_files(path, options.series)
    if boxes is not None:
        spec = prompts.read_boxes(boxes, 3, options.box_space)
        _set_box_prompts(case, spec, prompts.boxes_to_case_3d(spec, original, canonical))
    elif boxes_from is not None:
        _set_label_prompts(case, _labelmap_3d(Path(boxes_from), original, options))
    return case


def _set_box_prompts(case: ClinicalCase, spec: prompts.BoxPrompts, boxes: np.ndarray) -> None:
    """Boxes read from a prompt file, already in the case's pixel grid, with their labels and warnings."""
    case.boxes = boxes
    case.label_values, case.warnings = spec.labels, case.warnings + spec.warnings


def _set_label_prompts(case: ClinicalCase, labels: np.ndarray) -> None:
    """Boxes from a label map, and the map itself as challenge ground truth (label k = box k)."""
    case.boxes, case.label_values = prompts.boxes_from_labels(labels)
    lut = np.zeros(int(labels.max(initial=0)) + 1, np.uint16)
    lut[case.label_values] = np.arange(1, len(case.label_values) + 1)
    case.gts = lut[np.clip(labels, 0, None).astype(np.int64)]


def _labelmap_3d(path: Path, original: "sitk.Image", options: ClinicalOptions) -> np.ndarray:
    """A label map on the same grid as the image, on the canonical grid as an integer array."""
    from umedsam.data.orientation import to_canonical

    sitk = volumes.sitk_module()
    labels, _ = volumes.read_volume(path, options.series)
    same = labels.GetSize() == original.GetSize() and \
        np.allclose(labels.GetOrigin(), original.GetOrigin(), atol=1e-3) and \
        np.allclose(labels.GetSpacing(), original.GetSpacing(), atol=1e-4) and \
        np.allclose(labels.GetDirection(), original.GetDirection(), atol=1e-4)
    if not same:
        raise CaseError(path, "<geometry>", f"label map grid (size {labels.GetSize()}, origin {labels.GetOrigin()}) "
                                            f"differs from the image's (size {original.GetSize()}, origin "
                                            f"{original.GetOrigin()})")
    labels.CopyInformation(original)  # tolerated rounding differences: reorient exactly as the image
    arr = sitk.GetArrayFromImage(to_canonical(labels, options.keep_orientation))
    if arr.dtype.kind not in "iub":
        if not np.all(arr == np.round(arr)):
            raise CaseError(path, "<pixels>", f"dtype {arr.dtype} with fractional values is not a label map")
        arr = arr.astype(np.int64)
    return arr


def _load_2d(path: Path, options: ClinicalOptions, boxes: str | Path | None,
             boxes_from: str | Path | None) -> ClinicalCase:
    pixels = images2d.read_image_2d(path)
    modality = options.modality.upper() if options.modality else None
    imgs, rule = intensity.prepare_2d(pixels, modality, options.window)
    h, w = imgs.shape[:2]
    case = ClinicalCase(path, "2D", imgs, np.zeros((0, 4), np.int64), np.zeros(0, np.int64),
                        modality or "image", rule)
    if boxes is not None:
        spec = prompts.read_boxes(boxes, 2, options.box_space)
        _set_box_prompts(case, spec, prompts.boxes_to_case_2d(spec, h, w))
    elif boxes_from is not None:
        labels = images2d.read_image_2d(boxes_from)
        if labels.shape[:2] != (h, w) or labels.ndim != 2:
            raise CaseError(boxes_from, "<dimensions>", f"label map shape {labels.shape} is not the image's ({h}, {w})")
        _set_label_prompts(case, labels)
    return case


def output_labels(case: ClinicalCase, segs: np.ndarray) -> np.ndarray:
    """Box indices (label k = box k) -> the prompts' label values; uint8, or uint16 beyond 255."""
    segs = np.asarray(segs)
    top = int(case.label_values.max(initial=0)) if len(case.label_values) else int(segs.max(initial=0))
    dtype = np.uint16 if top > 255 else np.uint8
    if len(case.label_values) and not np.array_equal(case.label_values, np.arange(1, len(case.label_values) + 1)):
        lut = np.concatenate([[0], case.label_values]).astype(dtype)
        return lut[segs]
    return segs.astype(dtype)


def write_labels(case: ClinicalCase, segs: np.ndarray, out: str | Path) -> Path:
    """Write the label map of ``case`` (canonical-grid box indices) in the input's geometry to ``out``."""
    out = Path(out)
    labels = output_labels(case, segs)
    if case.kind == "2D":
        images2d.write_label_png(out, labels)
        return out
    from umedsam.data.orientation import to_original

    sitk = volumes.sitk_module()
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(case.canonical)
    volumes.write_image_atomic(to_original(image, case.original), out)
    return out


def default_output(case: ClinicalCase, out_dir: str | Path, fmt: str | None = None) -> Path:
    """``out_dir/<stem><ending>``: PNG for 2D; for volumes ``fmt`` or the input's own ending (NIfTI for
    DICOM folders and two-file formats)."""
    if case.kind == "2D":
        return Path(out_dir) / f"{case.stem}.png"
    suffix = fmt or volumes.volume_suffix(case.path)
    if suffix not in volumes.LABEL_SUFFIXES:
        suffix = ".nii.gz"
    return Path(out_dir) / f"{case.stem}{suffix if suffix.startswith('.') else '.' + suffix}"


def npz_name(case: ClinicalCase) -> str:
    """The challenge file name: ``3DBox_<modality>_<stem>.npz`` (2D: ``2DBox_...``)."""
    stem = "".join(c if c.isalnum() or c in "-." else "-" for c in case.stem)
    return f"{case.kind}Box_{case.modality}_{stem}.npz"


def save_case_npz(case: ClinicalCase, out: str | Path) -> Path:
    """The case in the challenge format (``imgs``, ``boxes``, + ``spacing`` for 3D), atomically."""
    arrays: dict[str, np.ndarray] = {"imgs": case.imgs, "boxes": case.boxes}
    if case.kind == "3D":
        arrays["spacing"] = case.spacing
    save_npz_atomic(out, **arrays)
    return Path(out)
