"""Challenge ``.npz`` cases: reading with validation, atomic writing of ``segs``.

Input cases (what a challenge container receives):
* 2D ``2D*.npz``: ``imgs`` (H, W, 3) uint8, ``boxes`` (N, 4) ``[x_min, y_min, x_max, y_max]``;
* 3D ``3D*.npz``: ``imgs`` (D, H, W) uint8, ``boxes`` (N, 6) ``[x_min, y_min, z_min, x_max, y_max, z_max]``,
  ``spacing`` (3,) in array-axis order (not used by inference; a warning when absent).
Ground truth files hold ``gts`` (+ ``spacing`` for 3D). Outputs hold ``segs`` (uint16: label k = box k;
the reference's uint8 wraps at 256 boxes).

Every problem is a :class:`~umedsam.errors.CaseError` whose one-line message names the file and the
field. Files are always read with ``allow_pickle=False``.

Hostile files are refused before any large allocation: each member's uncompressed size in the zip
directory and the shape x itemsize its ``.npy`` header declares are checked against a limit
(:func:`max_array_bytes`: ``$UMEDSAM_MAX_ARRAY_MB``, default 2 GiB for images and label maps, 16 MiB
for ``boxes``/``spacing``) and against each other, before numpy decompresses a byte of array data.
A zip bomb (a small file whose member inflates to gigabytes) therefore costs a few kilobytes of
reading. zipfile stops inflating at the directory's size and checks the CRC, so a directory that
lies about the size is caught too. Absurd values are refused as well: more boxes than uint16 labels
can hold, NaN/infinite boxes, and spacings that are not positive finite numbers of at most
:data:`MAX_SPACING` per axis. The native reader (``native/src/npz.cpp``, ``cases.cpp``) applies the
same checks with the same limits.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from umedsam.common import write_bytes_atomic
from umedsam.data.geometry import new_size
from umedsam.errors import CaseError


@dataclass
class Case:
    """One validated challenge case."""

    path: Path
    kind: str  # "2D" or "3D"
    imgs: np.ndarray
    boxes: np.ndarray
    spacing: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


#: default bound of one image or label-map array (bytes); ``$UMEDSAM_MAX_ARRAY_MB`` overrides
DEFAULT_MAX_ARRAY_MB = 2048
#: bound of the small arrays (boxes, spacing): 65535 boxes x 6 float64 need 3 MiB
SMALL_ARRAY_BYTES = 16 << 20
#: labels are uint16: box k is label k
MAX_BOXES = 65535
#: largest voxel spacing accepted (per axis, in the case's unit: mm for the challenge's CT/MR)
MAX_SPACING = 1e4
_SMALL_KEYS = ("boxes", "spacing")


def max_array_bytes() -> int:
    """Largest image/label array a case may hold: ``$UMEDSAM_MAX_ARRAY_MB`` MiB, default 2048."""
    try:
        mb = float(os.environ.get("UMEDSAM_MAX_ARRAY_MB", DEFAULT_MAX_ARRAY_MB))
    except ValueError:
        mb = DEFAULT_MAX_ARRAY_MB
    return int((mb if mb > 0 else DEFAULT_MAX_ARRAY_MB) * 1024 * 1024)


def _member_limit(key: str) -> int:
    return SMALL_ARRAY_BYTES if key in _SMALL_KEYS else max_array_bytes()


def _check_member(npz: np.lib.npyio.NpzFile, path: Path, key: str) -> None:
    """Refuse a member whose declared sizes exceed the limit or disagree, reading only its header."""
    limit = _member_limit(key)
    member = key + ".npy" if key + ".npy" in npz.zip.namelist() else key
    info = npz.zip.getinfo(member)
    if info.file_size > limit + 65536:  # a .npy header is at most 64 KiB beyond the data
        raise CaseError(path, key, f"member inflates to {info.file_size} bytes, over the limit of {limit} "
                                   f"(UMEDSAM_MAX_ARRAY_MB)")
    with npz.zip.open(info) as f:
        try:
            major, _ = np.lib.format.read_magic(f)
        except ValueError:
            return  # not an .npy member: _get reports the bad magic
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        try:
            shape, _, dtype = read_header(f)
        except ValueError as exc:
            raise CaseError(path, key, f"unreadable .npy header ({str(exc).splitlines()[0][:120]})") from None
        data_start = f.tell()
    if dtype.hasobject:
        raise CaseError(path, key, "object array refused (allow_pickle=False)")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > limit:
        raise CaseError(path, key, f"shape {shape} of {dtype} declares {nbytes} bytes, over the limit of {limit} "
                                   f"(UMEDSAM_MAX_ARRAY_MB)")
    if data_start + nbytes != info.file_size:
        raise CaseError(path, key, f"shape {shape} of {dtype} does not match the member's size "
                                   f"({info.file_size - data_start} data bytes, {nbytes} declared)")


def case_kind(path: str | Path) -> str:
    """'2D' or '3D' from the file-name prefix, as the challenge decides it."""
    name = Path(path).name
    if name.startswith("2D"):
        return "2D"
    if name.startswith("3D"):
        return "3D"
    raise CaseError(path, "<name>", "file name must start with '2D' or '3D' (the challenge's case kind)")


def _open(path: Path) -> np.lib.npyio.NpzFile:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CaseError(path, "<file>", "not found") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, NotImplementedError) as exc:
        raise CaseError(path, "<file>", f"not a readable npz ({type(exc).__name__})") from None


def _get(npz: np.lib.npyio.NpzFile, path: Path, key: str, required: bool = True) -> np.ndarray | None:
    if key not in npz.files:
        if required:
            raise CaseError(path, key, f"missing (keys present: {', '.join(npz.files) or 'none'})")
        return None
    try:
        _check_member(npz, path, key)
        arr = npz[key]
    except ValueError as exc:  # object arrays refused by allow_pickle=False
        msg = "object array refused (allow_pickle=False)" if "pickle" in str(exc) else f"unreadable ({exc})"
        raise CaseError(path, key, msg) from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, zlib.error, NotImplementedError) as exc:
        # found by fuzzing (tests/native/test_cases.py): corrupt deflate streams raise zlib.error,
        # unknown compression methods or flags NotImplementedError
        raise CaseError(path, key, f"unreadable ({type(exc).__name__})") from None
    if not isinstance(arr, np.ndarray):  # numpy hands back raw bytes for a member without the .npy magic
        raise CaseError(path, key, "not an .npy array (bad magic)")
    if arr.dtype == object:
        raise CaseError(path, key, "object array refused")
    return arr


def _check_boxes(path: Path, boxes: np.ndarray, width: int) -> np.ndarray:
    if boxes.dtype.kind not in "iuf":
        raise CaseError(path, "boxes", f"dtype {boxes.dtype} is not numeric")
    if boxes.size == 0:
        return boxes.reshape(0, width)
    if boxes.ndim == 1 and boxes.shape[0] == width:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != width:
        raise CaseError(path, "boxes", f"shape {boxes.shape} is not (N, {width})")
    if len(boxes) > MAX_BOXES:
        raise CaseError(path, "boxes", f"{len(boxes)} boxes; at most {MAX_BOXES} fit the uint16 labels")
    if not np.all(np.isfinite(boxes)):
        raise CaseError(path, "boxes", "contains NaN or infinity")
    half = width // 2
    for axis, name in enumerate("xyz"[:half]):
        bad = np.nonzero(boxes[:, axis] > boxes[:, axis + half])[0]
        if len(bad):
            raise CaseError(path, "boxes", f"box {int(bad[0]) + 1} has {name}_min > {name}_max")
    return boxes


def _check_spacing(path: Path, spacing: np.ndarray) -> None:
    """Spacing is not used by inference, but a case holding a nonsensical one is refused, not passed on."""
    if spacing.dtype.kind not in "iuf":
        raise CaseError(path, "spacing", f"dtype {spacing.dtype} is not numeric")
    if spacing.ndim != 1 or not 2 <= len(spacing) <= 3:
        raise CaseError(path, "spacing", f"shape {spacing.shape} is not (3,) (or (2,) for a 2D image)")
    values = spacing.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise CaseError(path, "spacing", "contains NaN or infinity")
    if np.any(values <= 0) or np.any(values > MAX_SPACING):
        raise CaseError(path, "spacing", f"values must lie in (0, {MAX_SPACING:g}]")


def _check_imgs(path: Path, imgs: np.ndarray, kind: str) -> None:
    want = "(H, W, 3)" if kind == "2D" else "(D, H, W)"
    ok = imgs.ndim == 3 and (imgs.shape[2] == 3 if kind == "2D" else True)
    if not ok:
        raise CaseError(path, "imgs", f"shape {imgs.shape} does not fit a {kind} case {want}")
    if imgs.dtype != np.uint8:
        raise CaseError(path, "imgs", f"dtype {imgs.dtype} is not uint8 (values must lie in 0..255)")
    if imgs.size == 0 or min(imgs.shape) == 0:
        raise CaseError(path, "imgs", f"empty image of shape {imgs.shape}")

    h, w = (imgs.shape[0], imgs.shape[1]) if kind == "2D" else (imgs.shape[1], imgs.shape[2])
    if min(new_size(h, w)) == 0:
        raise CaseError(path, "imgs", f"shape {imgs.shape} is too thin: resizing its longest side to 256 leaves "
                                      f"a side of 0 pixels")


def load_case(path: str | Path) -> Case:
    """Read and validate one input case."""
    path = Path(path)
    kind = case_kind(path)
    with _open(path) as npz:
        imgs = _get(npz, path, "imgs")
        boxes = _get(npz, path, "boxes")
        spacing = _get(npz, path, "spacing", required=False)
    _check_imgs(path, imgs, kind)
    boxes = _check_boxes(path, boxes, 4 if kind == "2D" else 6)
    if spacing is not None:
        _check_spacing(path, spacing)
    case = Case(path, kind, imgs, boxes, spacing)
    if kind == "3D" and spacing is None:
        case.warnings.append(f"{path}: field 'spacing': missing; inference runs, evaluation will need it")
    if len(boxes) == 0:
        case.warnings.append(f"{path}: field 'boxes': no boxes; writing an all-zero segs")
    return case


def load_gt(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(gts, spacing or None) of a ground-truth file."""
    path = Path(path)
    with _open(path) as npz:
        gts = _get(npz, path, "gts")
        spacing = _get(npz, path, "spacing", required=False)
    if gts.dtype.kind not in "iub":
        raise CaseError(path, "gts", f"dtype {gts.dtype} is not an integer label map")
    return gts, spacing


def load_segs(path: str | Path) -> np.ndarray:
    """The ``segs`` array of a prediction file."""
    path = Path(path)
    with _open(path) as npz:
        segs = _get(npz, path, "segs")
    if segs.dtype.kind not in "iub":
        raise CaseError(path, "segs", f"dtype {segs.dtype} is not an integer label map")
    return segs


def declared_shape(path: str | Path, key: str) -> tuple[int, ...]:
    """The shape a member's ``.npy`` header declares, reading only the header (no array data)."""
    path = Path(path)
    with _open(path) as npz:
        if key not in npz.files:
            raise CaseError(path, key, "missing")
        member = key + ".npy" if key + ".npy" in npz.zip.namelist() else key
        try:
            with npz.zip.open(member) as f:
                major, _ = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                return tuple(read_header(f)[0])
        except (ValueError, EOFError, OSError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
            raise CaseError(path, key, f"unreadable ({type(exc).__name__})") from None


def output_problem(case_path: str | Path, out_path: str | Path) -> str | None:
    """None when ``out_path`` holds a complete, valid prediction for the case, else what is wrong.

    Complete and valid: a readable npz (every byte inflated, CRC checked) whose ``segs`` is an integer
    label map of the case's image shape without the colour axis. ``--resume`` skips such cases; an
    output that is missing, truncated or of another shape is predicted again.
    """
    out_path = Path(out_path)
    if not out_path.is_file():
        return f"{out_path}: missing"
    try:
        want = declared_shape(case_path, "imgs")
        if case_kind(case_path) == "2D" and len(want) == 3:
            want = want[:2]
        segs = load_segs(out_path)
    except CaseError as exc:
        return str(exc)
    if segs.shape != want:
        return f"{out_path}: field 'segs': shape {segs.shape} is not the case's {want}"
    return None


def save_npz_atomic(path: str | Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` written atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(path, buf.getbuffer())


def save_segs(path: str | Path, segs: np.ndarray) -> None:
    """Write a prediction file with ``segs`` as uint16 (label k = box k)."""
    save_npz_atomic(path, segs=segs.astype(np.uint16, copy=False))


def find_cases(folder: str | Path) -> list[Path]:
    """Sorted ``*.npz`` inputs of a folder that is either an ``imgs`` folder or a root holding ``imgs/``."""
    folder = Path(folder)
    if (folder / "imgs").is_dir():
        folder = folder / "imgs"
    if not folder.is_dir():
        raise CaseError(folder, "<folder>", "not a directory")
    return sorted(p for p in folder.glob("*.npz") if not p.name.startswith("."))


def require_cases(folder: str | Path) -> list[Path]:
    """:func:`find_cases`, refusing a folder with none: one line saying what is accepted and what was found."""
    cases = find_cases(folder)
    if cases:
        return cases
    folder = Path(folder)
    root = folder / "imgs" if (folder / "imgs").is_dir() else folder
    others = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    found = (f"found {len(others)} other entr{'y' if len(others) == 1 else 'ies'}: {', '.join(others[:5])}"
             f"{', …' if len(others) > 5 else ''}") if others else "the folder is empty"
    raise CaseError(root, "<folder>", f"no input case: expected challenge cases 2D*.npz / 3D*.npz (in this folder or "
                                      f"its imgs/); {found}")


def find_gts(data: str | Path, gts: str | Path | None = None) -> Path | None:
    """The GT folder: given explicitly, or ``gts/`` beside ``imgs/`` when present."""
    if gts is not None:
        return Path(gts)
    data = Path(data)
    root = data.parent if data.name == "imgs" else data
    return root / "gts" if (root / "gts").is_dir() else None
