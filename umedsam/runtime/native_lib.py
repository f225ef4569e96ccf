"""Where the native runtime's ``libumedsam.so`` is and its C ABI (``native/include/umedsam.h``) in ctypes.

No compiler runs at import: ``umedsam native build`` builds the library once (CMake, against the
``openvino`` wheel) and installs it into ``<sys.prefix>/lib/umedsam``. The library is looked up in:

1. ``$UMEDSAM_NATIVE_LIB`` (a path to the ``.so``);
2. ``<sys.prefix>/lib/umedsam/libumedsam.so`` (what ``umedsam native build`` installs);
3. ``native/build/libumedsam.so`` of a source checkout.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from pathlib import Path

import numpy as np

from umedsam.errors import EngineError

ABI_VERSION = 2  # native/include/umedsam.h: UMEDSAM_ABI_VERSION
REPO_NATIVE = Path(__file__).resolve().parents[2] / "native"
BUILD_HINT = "build it with `umedsam native build` (needs cmake, a C++ compiler and Debian's libzip-dev nlohmann-json3-dev libssl-dev)"

#: umedsam_status values
OK, ERR_ARGUMENT, ERR_BUNDLE, ERR_ENGINE, ERR_CASE, ERR_IO, ERR_MEMORY, ERR_INTERNAL = range(8)
#: umedsam_box_arith: the arithmetic the reference scales boxes in (their numpy dtype's)
BOXES_F64, BOXES_F32, BOXES_F16 = 0, 1, 2


class Options(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("threads", ctypes.c_int32), ("device", ctypes.c_char_p),
                ("cache_dir", ctypes.c_char_p), ("max_cache_mb", ctypes.c_double),
                ("verify", ctypes.c_int32), ("allow_failed", ctypes.c_int32)]


class Timings(ctypes.Structure):
    _fields_ = [(n, ctypes.c_double) for n in ("preprocess_s", "encode_s", "decode_s", "postprocess_s", "total_s")] + \
               [(n, ctypes.c_int64) for n in ("encoder_calls", "decoder_calls", "cache_hits", "cache_misses",
                                              "cache_evictions")]


class CaseInfo(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("box_arith", ctypes.c_int32), ("dims", ctypes.c_int64 * 3),
                ("n_boxes", ctypes.c_int64), ("has_spacing", ctypes.c_int32), ("n_warnings", ctypes.c_int32)]


def library_candidates() -> list[Path]:
    """Paths tried in order (see the module docstring)."""
    found = []
    env = os.environ.get("UMEDSAM_NATIVE_LIB")
    if env:
        found.append(Path(env))
    found.append(Path(sys.prefix) / "lib" / "umedsam" / "libumedsam.so")
    found.append(REPO_NATIVE / "build" / "libumedsam.so")
    return found


def library_path() -> Path | None:
    """The first existing candidate, or None."""
    return next((p for p in library_candidates() if p.is_file()), None)


def box_arith(dtype: np.dtype) -> int:
    """The C ABI's box arithmetic for a numpy dtype (float32 and float16 scale in their own precision)."""
    dtype = np.dtype(dtype)  # by kind and size: byte order does not change the arithmetic
    if dtype.kind == "f" and dtype.itemsize in (2, 4):
        return BOXES_F32 if dtype.itemsize == 4 else BOXES_F16
    return BOXES_F64


@functools.lru_cache(maxsize=None)
def load_library() -> ctypes.CDLL:
    """Load ``libumedsam.so`` and declare its functions; one clear line when it is missing or too old."""
    path = library_path()
    if path is None:
        raise EngineError(f"native runtime not built (looked in {', '.join(map(str, library_candidates()))}); {BUILD_HINT}")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise EngineError(f"{path}: cannot load the native runtime ({exc}); rebuild with `umedsam native build`") from None
    c = ctypes
    u8p, u16p = c.POINTER(c.c_uint8), c.POINTER(c.c_uint16)
    f32p, f64p, i64p = c.POINTER(c.c_float), c.POINTER(c.c_double), c.POINTER(c.c_int64)
    sig = {
        "umedsam_abi_version": (c.c_int, []),
        "umedsam_version": (c.c_char_p, []),
        "umedsam_last_error": (c.c_char_p, []),
        "umedsam_options_default": (None, [c.POINTER(Options)]),
        "umedsam_open": (c.c_int, [c.c_char_p, c.POINTER(Options), c.POINTER(c.c_void_p)]),
        "umedsam_close": (None, [c.c_void_p]),
        "umedsam_session_info": (c.c_char_p, [c.c_void_p]),
        "umedsam_warnings": (c.c_char_p, [c.c_void_p]),
        "umedsam_get_timings": (c.c_int, [c.c_void_p, c.POINTER(Timings)]),
        "umedsam_segment_2d": (c.c_int, [c.c_void_p, u8p, c.c_int64, c.c_int64, c.c_int64, f64p, c.c_int64,
                                         c.c_int32, u16p, f64p]),
        "umedsam_segment_3d": (c.c_int, [c.c_void_p, u8p, c.c_int64, c.c_int64, c.c_int64, f64p, c.c_int64,
                                         c.c_int32, u16p, f64p]),
        "umedsam_segment_file": (c.c_int, [c.c_void_p, c.c_char_p, c.c_char_p]),
        "umedsam_check_case": (c.c_int, [c.c_char_p, c.POINTER(CaseInfo)]),
        "umedsam_encode": (c.c_int, [c.c_void_p, f32p, c.c_int64, f32p]),
        "umedsam_decode": (c.c_int, [c.c_void_p, f32p, f32p, c.c_int64, f32p, f32p]),
        "umedsam_preprocess": (c.c_int, [u8p, c.c_int64, c.c_int64, c.c_int64, f32p, i64p]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    if lib.umedsam_abi_version() != ABI_VERSION:
        raise EngineError(f"{path}: native ABI {lib.umedsam_abi_version()}, this umedsam needs {ABI_VERSION}; "
                          f"rebuild with `umedsam native build`")
    return lib


def last_error(lib: ctypes.CDLL) -> str:
    return lib.umedsam_last_error().decode("utf-8", "replace")


def ptr(array: np.ndarray, ctype):
    """A ctypes pointer to a C-contiguous array's data (the caller keeps the array alive)."""
    return array.ctypes.data_as(ctypes.POINTER(ctype))


def check_case(path: str | Path) -> tuple[int, str, CaseInfo]:
    """Run the native reader/validator on a case file: (status, message, info). Needs no session."""
    lib = load_library()
    info = CaseInfo()
    status = lib.umedsam_check_case(str(path).encode(), ctypes.byref(info))
    return status, last_error(lib), info


def preprocess(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The native pre-processing of an (H, W[, C]) uint8 image: ((3, 256, 256) float32, (newh, neww))."""
    lib = load_library()
    image = np.ascontiguousarray(image, dtype=np.uint8)
    channels = 1 if image.ndim == 2 else image.shape[2]
    out = np.empty((3, 256, 256), dtype=np.float32)
    new_hw = np.zeros(2, dtype=np.int64)
    status = lib.umedsam_preprocess(ptr(image, ctypes.c_uint8), image.shape[0], image.shape[1], channels,
                                    ptr(out, ctypes.c_float), ptr(new_hw, ctypes.c_int64))
    if status != OK:
        raise EngineError(f"native preprocess: {last_error(lib)}")
    return out, (int(new_hw[0]), int(new_hw[1]))
