"""2D images: Pillow and tifffile readers, label PNGs (8-bit, 16-bit beyond label 255), bad files."""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.data.images2d import read_image_2d, write_label_png
from umedsam.errors import CaseError


def test_formats_read_as_stored(tmp_path):
    from PIL import Image
    import tifffile

    grey = (np.arange(20 * 30) % 251).astype(np.uint8).reshape(20, 30)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(grey).save(tmp_path / "g.bmp")
    Image.fromarray(np.stack([grey] * 3, axis=2)).save(tmp_path / "rgb.png")
    deep = (np.arange(20 * 30, dtype=np.uint16) * 97).reshape(20, 30)
    tifffile.imwrite(tmp_path / "d.tif", deep)
    assert np.array_equal(read_image_2d(tmp_path / "g.png"), grey)
    assert np.array_equal(read_image_2d(tmp_path / "g.bmp"), grey)
    assert read_image_2d(tmp_path / "rgb.png").shape == (20, 30, 3)
    tif = read_image_2d(tmp_path / "d.tif")
    assert tif.dtype == np.uint16 and np.array_equal(tif, deep)


@pytest.mark.parametrize("top, dtype", [(255, np.uint8), (300, np.uint16)])
def test_label_png_round_trip(tmp_path, top, dtype):
    labels = np.zeros((7, 9), np.uint16)
    labels[1:3, 2:5] = 1
    labels[5, 8] = top
    write_label_png(tmp_path / "l.png", labels)
    back = read_image_2d(tmp_path / "l.png")
    assert back.dtype == dtype and np.array_equal(back, labels)


def test_bad_images_name_the_file(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(CaseError, match=r"x.png: field '<file>': not a readable image"):
        read_image_2d(tmp_path / "x.png")
    (tmp_path / "y.tif").write_bytes(b"II*\0 broken")
    with pytest.raises(CaseError, match=r"y.tif: field '<file>': (not a readable TIFF|no image data)"):
        read_image_2d(tmp_path / "y.tif")
    import tifffile

    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 4, 5, 6), np.uint8), photometric="minisblack")
    with pytest.raises(CaseError, match=r"stack.tif: field '<dimensions>'"):
        read_image_2d(tmp_path / "stack.tif")
