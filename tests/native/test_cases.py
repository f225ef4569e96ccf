"""The native npz reader and case validation against the Python path (umedsam/data/npz.py).

* well-formed cases in every box dtype, byte order and memory order: the same kind, shape, box count,
  box arithmetic and warnings;
* malformed cases: both paths refuse them, the native message names the file and the field;
* fuzzing: thousands of mutated archives go through the native reader in a child process, which
  must never crash, and never accept what the Python path refuses.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from umedsam.data.npz import load_case
from umedsam.errors import CaseError


def _npz(path: Path, **arrays) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def _img2d(h=40, w=30):
    return np.random.default_rng(0).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _vol(d=4, h=24, w=20):
    return np.random.default_rng(1).integers(0, 256, size=(d, h, w), dtype=np.uint8)


BOX_DTYPES = ["<i1", "<i2", "<i4", "<i8", "<u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8", ">f8", ">i4", ">f4"]


@pytest.mark.parametrize("dtype", BOX_DTYPES)
def test_box_dtypes_read_like_numpy(lib, tmp_path, dtype):
    from umedsam.runtime import native_lib

    boxes = np.array([[2, 3, 20, 30], [5, 6, 9, 12]], dtype=dtype)
    path = _npz(tmp_path / "2Dcase.npz", imgs=_img2d(), boxes=boxes)
    status, msg, info = native_lib.check_case(path)
    assert status == native_lib.OK, msg
    case = load_case(path)
    assert (info.kind, list(info.dims), info.n_boxes) == (2, list(case.imgs.shape), len(case.boxes))
    assert info.box_arith == native_lib.box_arith(case.boxes.dtype)


def test_layouts_and_optional_fields(lib, tmp_path):
    from umedsam.runtime import native_lib

    vol = np.asfortranarray(_vol())
    cases = {
        "3Dfortran.npz": dict(imgs=vol, boxes=np.array([[1, 2, 0, 10, 12, 3]]), spacing=np.array([1.0, 1.0, 2.5])),
        "3Dnospacing.npz": dict(imgs=_vol(), boxes=np.array([1, 2, 0, 10, 12, 3])),  # 1-D boxes, no spacing
        "2Dnoboxes.npz": dict(imgs=_img2d(), boxes=np.zeros((0, 4))),
        "2Dflat.npz": dict(imgs=_img2d(), boxes=np.zeros((0,))),
    }
    for name, arrays in cases.items():
        path = _npz(tmp_path / name, **arrays)
        status, msg, info = native_lib.check_case(path)
        assert status == native_lib.OK, (name, msg)
        case = load_case(path)
        assert list(info.dims) == list(case.imgs.shape) and info.n_boxes == len(case.boxes), name
        assert info.has_spacing == (case.spacing is not None) and info.n_warnings == len(case.warnings), name


def _malformed(tmp: Path) -> dict[str, Path]:
    """Each malformation once; the value is the file."""
    out: dict[str, Path] = {}
    img, boxes = _img2d(), np.array([[2, 3, 20, 30]])

    def put(name: str, **arrays) -> None:
        out[name] = _npz(tmp / name, **arrays)

    (tmp / "2Dnotzip.npz").write_bytes(b"this is not a zip archive at all" * 10)
    out["2Dnotzip.npz"] = tmp / "2Dnotzip.npz"
    good = _npz(tmp / "good.npz", imgs=img, boxes=boxes).read_bytes()
    (tmp / "2Dtruncated.npz").write_bytes(good[: len(good) // 2])
    out["2Dtruncated.npz"] = tmp / "2Dtruncated.npz"
    (tmp / "2Dempty.npz").write_bytes(b"")
    out["2Dempty.npz"] = tmp / "2Dempty.npz"
    put("2Dnoimgs.npz", boxes=boxes)
    put("2Dnoboxes_key.npz", imgs=img)
    put("2Dfloatimgs.npz", imgs=img.astype(np.float32), boxes=boxes)
    put("2Dgrey.npz", imgs=img[..., 0], boxes=boxes)
    put("3Dwrongrank.npz", imgs=img[..., 0], boxes=np.array([[1, 2, 0, 5, 6, 1]]))
    put("2Demptyimg.npz", imgs=np.zeros((0, 5, 3), np.uint8), boxes=boxes)
    put("2Dthin.npz", imgs=np.zeros((1, 900, 3), np.uint8), boxes=boxes)
    put("2Dnanbox.npz", imgs=img, boxes=np.array([[1.0, np.nan, 5.0, 6.0]]))
    put("2Dswapped.npz", imgs=img, boxes=np.array([[9, 3, 2, 30]]))
    put("3Dswappedz.npz", imgs=_vol(), boxes=np.array([[1, 2, 3, 10, 12, 1]]))
    put("2Dboxshape.npz", imgs=img, boxes=np.array([[1, 2, 3]]))
    put("2Dboolboxes.npz", imgs=img, boxes=np.ones((1, 4), bool))
    put("2Dcomplexboxes.npz", imgs=img, boxes=np.ones((1, 4), np.complex64))
    put("2Dstrboxes.npz", imgs=img, boxes=np.array([["a", "b", "c", "d"]]))
    put("2Dstructured.npz", imgs=img, boxes=np.zeros(2, dtype=[("x", "<f4"), ("y", "<i4")]))
    np.savez(tmp / "2Dobject.npz", imgs=img, boxes=np.array([{"evil": 1}, None], dtype=object), allow_pickle=True)
    out["2Dobject.npz"] = tmp / "2Dobject.npz"
    put("badname.npz", imgs=img, boxes=boxes)
    # a member whose .npy magic is wrong, and one whose data is shorter than its header says
    for name, payload in (("2Dbadmagic.npz", b"NOTNPY" + b"\0" * 100),
                          ("2Dshortdata.npz", _npy_bytes(img)[:-50])):
        with zipfile.ZipFile(tmp / name, "w") as z:
            z.writestr("imgs.npy", payload)
            z.writestr("boxes.npy", _npy_bytes(boxes))
        out[name] = tmp / name
    # a flipped byte in the deflated data: CRC mismatch
    data = bytearray(good)
    data[len(data) // 3] ^= 0xFF
    (tmp / "2Dcrc.npz").write_bytes(bytes(data))
    out["2Dcrc.npz"] = tmp / "2Dcrc.npz"
    return out


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_malformed_cases_refused_by_both_paths(lib, tmp_path):
    from umedsam.runtime import native_lib

    for name, path in _malformed(tmp_path).items():
        with pytest.raises(CaseError):
            load_case(path)
        status, msg, _ = native_lib.check_case(path)
        assert status == native_lib.ERR_CASE, (name, status, msg)
        assert msg.startswith(str(path) + ": field '") and "\n" not in msg, (name, msg)


FUZZ_CHILD = r"""
import json, sys
from umedsam.runtime import native_lib
out = []
for path in sys.argv[1:]:
    status, msg, info = native_lib.check_case(path)
    out.append([status, msg, list(info.dims), info.n_boxes])
print(json.dumps(out))
"""


def _mutants(seeds: list[bytes], n: int, rng: np.random.Generator) -> list[bytes]:
    """Byte flips, overwrites with boundary values, truncations, duplications and insertions."""
    out = []
    for i in range(n):
        data = bytearray(seeds[i % len(seeds)])
        for _ in range(int(rng.integers(1, 4))):
            op = int(rng.integers(0, 5))
            pos = int(rng.integers(0, len(data)))
            if op == 0:
                data[pos] ^= 1 << int(rng.integers(0, 8))
            elif op == 1:
                data[pos:pos + 4] = bytes(rng.choice([0x00, 0xFF, 0x7F, 0x80], size=4).astype(np.uint8))
            elif op == 2:
                del data[pos:]
                data += b"\0" if not data else b""
            elif op == 3:
                data[pos:pos] = data[pos:pos + int(rng.integers(1, 64))]
            else:
                data[pos:pos] = bytes(rng.integers(0, 256, size=int(rng.integers(1, 32)), dtype=np.uint8))
        out.append(bytes(data))
    return out


def test_fuzz_reader_never_crashes(lib, tmp_path):
    rng = np.random.default_rng(2026)
    img, vol = _img2d(12, 10), _vol(3, 8, 9)
    seeds = []
    for arrays in (dict(imgs=img, boxes=np.array([[1, 2, 5, 6]], np.float32)),
                   dict(imgs=vol, boxes=np.array([[1, 2, 0, 5, 6, 2]]), spacing=np.ones(3))):
        for saver in (np.savez, np.savez_compressed):
            buf = io.BytesIO()
            saver(buf, **arrays)
            seeds.append(buf.getvalue())
    mutants = _mutants(seeds, 1500, rng)
    paths = []
    for i, data in enumerate(mutants):
        p = tmp_path / f"{'2D' if i % 4 < 2 else '3D'}m{i:04d}.npz"
        p.write_bytes(data)
        paths.append(p)
    env = {**os.environ, "UMEDSAM_MAX_ARRAY_MB": "64"}
    r = subprocess.run([sys.executable, "-c", FUZZ_CHILD, *map(str, paths)], capture_output=True, text=True, encoding="utf-8", errors="replace", env=env,
                       timeout=600)
    assert r.returncode == 0, f"native reader crashed (rc {r.returncode}): {r.stderr[-2000:]}"
    results = json.loads(r.stdout)
    from umedsam.runtime import native_lib

    statuses = {s for s, *_ in results}
    assert statuses <= {native_lib.OK, native_lib.ERR_CASE}, statuses
    accepted = 0
    for path, (status, msg, dims, n_boxes) in zip(paths, results):
        try:
            case = load_case(path)  # the Python path must not crash either (it did, before this test)
        except CaseError as exc:
            case, py_error = None, exc
        if status != native_lib.OK:
            assert msg.startswith(str(path) + ": field '"), msg
            continue
        accepted += 1
        if case is not None:  # both accept: the same arrays
            assert dims == list(case.imgs.shape) and n_boxes == len(case.boxes), path
        else:  # zip readers differ in what header damage they tolerate, never in array validation
            assert py_error.field == "<file>" or "BadZipFile" in str(py_error), (path, str(py_error))
    assert 0 < accepted < len(paths)  # the mutations both keep and break cases
