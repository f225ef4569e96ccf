"""Shared fixtures: the golden fixture, the built-in checkpoint, one torch predictor per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO.parent / "shared" / "golden" / "golden_io.npz"


@pytest.fixture(scope="session")
def golden():
    if not GOLDEN.is_file():
        pytest.skip(f"golden fixture not found at {GOLDEN}")
    with np.load(GOLDEN) as g:
        return {k: g[k] for k in g.files}


@pytest.fixture(scope="session")
def builtin_ckpt():
    from umedsam.assets import builtin_checkpoint

    return builtin_checkpoint()


@pytest.fixture(scope="session")
def torch_model(builtin_ckpt):
    from umedsam.model import load_checkpoint

    return load_checkpoint(builtin_ckpt)


@pytest.fixture(scope="session")
def predictor(builtin_ckpt):
    from umedsam.runtime import Predictor

    with Predictor(builtin_ckpt, threads=2) as p:
        yield p
