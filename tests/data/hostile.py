"""Builders of hostile challenge cases (zip bombs, lying headers, absurd values), shared by the reader
tests (tests/data/test_hostile.py) and the native corpus (tests/native/corpus/, make_corpus.py)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    """A version 1.0 ``.npy`` header alone, declaring ``shape`` of ``descr``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def write_members(path: Path, members: dict[str, bytes], compress: bool = True) -> Path:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def zip_bomb(path: Path, shape: tuple[int, ...], boxes: np.ndarray) -> Path:
    """A valid case whose ``imgs`` member is all zeros of ``shape`` (uint8): tiny on disk, huge inflated."""
    n = int(np.prod(shape))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("imgs.npy", "w", force_zip64=n > 1 << 31) as f:
            f.write(npy_header("|u1", shape))
            chunk = bytes(min(n, 1 << 22))
            left = n
            while left:
                k = min(left, len(chunk))
                f.write(chunk[:k])
                left -= k
        z.writestr("boxes.npy", npy_bytes(boxes))
    return path


def lying_header(path: Path, declared: tuple[int, ...], actual_bytes: int, boxes: np.ndarray) -> Path:
    """``imgs`` whose header declares ``declared`` (uint8) but holds ``actual_bytes`` of data."""
    return write_members(path, {"imgs.npy": npy_header("|u1", declared) + bytes(actual_bytes),
                                "boxes.npy": npy_bytes(boxes)})


def lying_directory(path: Path, imgs: np.ndarray, boxes: np.ndarray) -> Path:
    """A case whose central directory claims a smaller uncompressed ``imgs`` than the stream inflates to."""
    write_members(path, {"imgs.npy": npy_bytes(imgs), "boxes.npy": npy_bytes(boxes)})
    data = bytearray(path.read_bytes())
    cd = data.find(b"PK\x01\x02")  # the first central-directory entry is imgs.npy
    real = struct.unpack_from("<I", data, cd + 24)[0]
    struct.pack_into("<I", data, cd + 24, real // 2)  # uncompressed size
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, real // 2)
    path.write_bytes(bytes(data))
    return path


def case(path: Path, **arrays: np.ndarray) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def vol(d: int = 3, h: int = 8, w: int = 9) -> np.ndarray:
    return (np.arange(d * h * w) % 251).astype(np.uint8).reshape(d, h, w)


BOX3D = np.array([[1, 1, 0, 6, 6, 2]], np.float64)
BOX2D = np.array([[1, 1, 6, 6]], np.float32)


def hostile_cases(folder: Path) -> dict[str, tuple[str, str]]:
    """Write every hostile case into ``folder``; returns name -> (field, text the error must contain).

    Sized for ``UMEDSAM_MAX_ARRAY_MB=1`` (the bombs inflate to 8 MiB), so the files stay a few KiB.
    """
    folder.mkdir(parents=True, exist_ok=True)
    img = (np.arange(12 * 10 * 3) % 200).astype(np.uint8).reshape(12, 10, 3)
    expect: dict[str, tuple[str, str]] = {}
    zip_bomb(folder / "2Dzip_bomb.npz", (2048, 1365, 3), BOX2D)
    expect["2Dzip_bomb.npz"] = ("imgs", "over the limit of 1048576 (UMEDSAM_MAX_ARRAY_MB)")
    lying_header(folder / "3Dheader_huge.npz", (100000, 100000, 100000), 64, BOX3D)
    expect["3Dheader_huge.npz"] = ("imgs", "declares 1000000000000000 bytes, over the limit")
    lying_header(folder / "3Dheader_short.npz", (4, 64, 64), 100, BOX3D)
    expect["3Dheader_short.npz"] = ("imgs", "does not match the member's size (100 data bytes, 16384 declared)")
    lying_directory(folder / "2Dlying_directory.npz", img, BOX2D)
    expect["2Dlying_directory.npz"] = ("imgs", "")
    case(folder / "2Dtoo_many_boxes.npz", imgs=img, boxes=np.tile(BOX2D, (70000, 1)))
    expect["2Dtoo_many_boxes.npz"] = ("boxes", "70000 boxes; at most 65535 fit the uint16 labels")
    write_members(folder / "2Dboxes_bomb.npz", {"imgs.npy": npy_bytes(img),
                                                 "boxes.npy": npy_header("<f8", (1 << 22, 4)) + bytes(8 << 22)})
    expect["2Dboxes_bomb.npz"] = ("boxes", "over the limit of 16777216 (UMEDSAM_MAX_ARRAY_MB)")
    for name, spacing, text in [("nan", [1.0, np.nan, 1.0], "contains NaN or infinity"),
                                ("inf", [np.inf, 1.0, 1.0], "contains NaN or infinity"),
                                ("zero", [0.0, 1.0, 1.0], "values must lie in (0, 10000]"),
                                ("negative", [-1.0, 1.0, 1.0], "values must lie in (0, 10000]"),
                                ("absurd", [1e9, 1.0, 1.0], "values must lie in (0, 10000]")]:
        case(folder / f"3Dspacing_{name}.npz", imgs=vol(), boxes=BOX3D, spacing=np.array(spacing))
        expect[f"3Dspacing_{name}.npz"] = ("spacing", text)
    case(folder / "3Dspacing_shape.npz", imgs=vol(), boxes=BOX3D, spacing=np.ones((2, 3)))
    expect["3Dspacing_shape.npz"] = ("spacing", "is not (3,)")
    case(folder / "3Dboxes_nan.npz", imgs=vol(), boxes=np.array([[1, 1, 0, np.nan, 6, 2]]), spacing=np.ones(3))
    expect["3Dboxes_nan.npz"] = ("boxes", "contains NaN or infinity")
    case(folder / "2Dboxes_inf_f16.npz", imgs=img, boxes=np.array([[1, 1, np.inf, 6]], np.float16))
    expect["2Dboxes_inf_f16.npz"] = ("boxes", "contains NaN or infinity")
    case(folder / "3Dthin.npz", imgs=np.zeros((2, 1, 4000), np.uint8), boxes=BOX3D, spacing=np.ones(3))
    expect["3Dthin.npz"] = ("imgs", "is too thin")
    case(folder / "3Dok.npz", imgs=vol(), boxes=BOX3D, spacing=np.array([2.5, 0.7, 0.7]))
    expect["3Dok.npz"] = ("", "")  # accepted: the checks do not refuse a normal case
    return expect
