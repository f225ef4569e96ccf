"""Native pre-processing against the Python path (cv2's INTER_AREA) over many sizes, bit for bit.

INTER_AREA has three code paths in OpenCV (integer-factor shrink, fractional shrink, and enlarging,
which is a blended nearest); the sizes below cover all three, odd and prime sides, thin images and
both 1- and 3-channel images, with random content and with label-valued masks (what the 3D box
propagation resizes).
"""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.runtime.preprocess import new_size, normalize_pad, preprocess_image, resize_longest_side

SIZES = [(512, 256), (256, 512), (256, 100), (77, 256), (768, 768), (1024, 512), (1024, 256), (768, 256), (257, 2), (200, 1), (300, 2),
         (20, 3), (255, 255), (128, 64), (2048, 1024), (1536, 1536), (3, 1000),
         (1, 1), (1, 700), (700, 1), (2, 3), (17, 5), (100, 50), (128, 128), (255, 257), (256, 256), (257, 256),
         (300, 200), (333, 517), (384, 512), (511, 511), (512, 512), (640, 480), (768, 1024), (1000, 999),
         (1024, 1024), (1280, 720), (1536, 2048), (193, 229), (224, 224), (1023, 1), (4096, 256)]


def _sizes(n_random: int = 60) -> list[tuple[int, int]]:
    rng = np.random.default_rng(7)
    return SIZES + [tuple(int(v) for v in rng.integers(1, 1400, size=2)) for _ in range(n_random)]


def _path(h: int, w: int) -> str:
    """Which of OpenCV's INTER_AREA code paths a resize to the model's size takes (resize_area.cpp)."""
    nh, nw = new_size(h, w)
    if (nh, nw) == (h, w):
        return "copy"
    sx, sy = w / nw, h / nh
    if sx >= 1 and sy >= 1:
        if sx == round(sx) and sy == round(sy):
            return "fast 2x2" if (sx, sy) == (2, 2) else "fast"
        return "general"
    return "enlarge"


def test_sizes_cover_every_code_path():
    paths = [_path(h, w) for h, w in _sizes() if min(new_size(h, w)) > 0]
    for p in ("copy", "fast 2x2", "fast", "general", "enlarge"):
        assert paths.count(p) >= 2, (p, paths.count(p))


@pytest.mark.parametrize("channels", [3, 1])
def test_preprocess_bit_identical_over_sizes(lib, channels):
    from umedsam.runtime import native_lib

    rng = np.random.default_rng(channels)
    for h, w in _sizes():
        shape = (h, w, 3) if channels == 3 else (h, w)
        if min(new_size(h, w)) == 0:
            continue  # too thin to resize: refused on both paths (tests/native/test_cases.py)
        for image in (rng.integers(0, 256, size=shape, dtype=np.uint8),
                      np.where(rng.random(shape) < 0.3, np.uint8(rng.integers(1, 256)), np.uint8(0)).astype(np.uint8)):
            x_native, hw_native = native_lib.preprocess(image)
            if channels == 3:
                x_py, hw_py = preprocess_image(image)
            else:
                resized = resize_longest_side(image)
                x_py, hw_py = normalize_pad(resized), resized.shape[:2]
            assert hw_native == tuple(hw_py), (h, w)
            np.testing.assert_array_equal(x_native, x_py, err_msg=f"size {(h, w)} channels {channels}")


def test_preprocess_rejects_bad_shapes(lib):
    import ctypes

    from umedsam.runtime import native_lib

    out = np.empty((3, 256, 256), np.float32)
    img = np.zeros((4, 4, 2), np.uint8)
    status = lib.umedsam_preprocess(native_lib.ptr(img, ctypes.c_uint8), 4, 4, 2, native_lib.ptr(out, ctypes.c_float), None)
    assert status == native_lib.ERR_ARGUMENT
    assert "(H, W, 1|3)" in native_lib.last_error(lib)
