"""A data-free factorization of the built-in weights, shared by the compress tests (seconds to make)."""

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="session")
def original():
    from umedsam.model import load_checkpoint

    return load_checkpoint()


@pytest.fixture(scope="session")
def factorized(original):
    from umedsam.compress.compress import CompressOptions, compress_model

    return compress_model(original, [], CompressOptions(flops_ratio=0.7, sensitivity=False))


@pytest.fixture(scope="session")
def factorized_ckpt(factorized, tmp_path_factory):
    from umedsam.model import save_checkpoint

    path = tmp_path_factory.mktemp("lowrank") / "lowrank.pth"
    save_checkpoint(factorized.model, path, factorized.plans, factorized.summary)
    return path
