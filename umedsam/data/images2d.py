"""2D images in and label maps out: PNG, JPEG, BMP through Pillow, TIFF through tifffile.

tifffile reads what Pillow does not (16/32-bit grey, float, BigTIFF); Pillow reads the rest and
resolves palettes to RGB. An image becomes the challenge's (H, W, 3) uint8 by
:func:`umedsam.data.intensity.prepare_2d`. Label maps are written as PNG: 8-bit grey when every label
fits in 0..255, else 16-bit grey, so label values are the pixel values (docs/CLINICAL_IO.md).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from umedsam.common import write_bytes_atomic
from umedsam.errors import CaseError, UmedsamError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def is_image_2d(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image_2d(path: str | Path) -> np.ndarray:
    """The stored pixels, (H, W) or (H, W, C), in their own dtype."""
    path = Path(path)
    if not path.is_file():
        raise CaseError(path, "<file>", "not found")
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            import tifffile
        except ImportError:
            raise UmedsamError("TIFF images need tifffile: pip install 'umedsam[io]'") from None
        try:
            pixels = np.asarray(tifffile.imread(path))
        except Exception as exc:  # tifffile raises several types for corrupt files
            raise CaseError(path, "<file>", f"not a readable TIFF ({type(exc).__name__})") from None
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                if img.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                    img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
                pixels = np.asarray(img)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise CaseError(path, "<file>", f"not a readable image ({type(exc).__name__})") from None
    if pixels.size == 0:  # tifffile reads a corrupt file as an empty array (with a logged warning)
        raise CaseError(path, "<file>", "no image data (empty or corrupt file)")
    if pixels.ndim == 3 and pixels.shape[2] > 4 or pixels.ndim not in (2, 3):
        raise CaseError(path, "<dimensions>", f"shape {pixels.shape} is not a 2D grey or colour image "
                                              f"(a stack or 4D image? convert it to a volume format)")
    if pixels.dtype.kind not in "biuf":
        raise CaseError(path, "<pixels>", f"dtype {pixels.dtype} is not numeric")
    return pixels


def write_label_png(path: str | Path, labels: np.ndarray) -> None:
    """A (H, W) label map as a grey PNG (8-bit up to label 255, else 16-bit), atomically."""
    from PIL import Image

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"a PNG label map must be 2D, got shape {labels.shape}")
    big = int(labels.max(initial=0)) > 255
    img = Image.fromarray(labels.astype(np.uint16 if big else np.uint8))  # "I;16" or "L"
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_bytes_atomic(path, buf.getbuffer())


def read_label_png(path: str | Path) -> np.ndarray:
    """A label map written by :func:`write_label_png` (or any grey image) as integers."""
    return read_image_2d(path)
