"""Quantization fixtures: a calibration folder kept apart from the gate's cases."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory):
    """Two 2D phantoms (seed 11): calibration and validation for the quantize tests."""
    from umedsam.data.phantoms import write_phantoms

    root = tmp_path_factory.mktemp("calib")
    write_phantoms(root, n2d=2, n3d=0, seed=11)
    return root
