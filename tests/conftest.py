"""Every shared fixture, in one place: the golden fixture, the built-in checkpoint and model, one torch
predictor, phantom and real cases, exported bundles, a calibration folder, a factorized checkpoint, and
the native build. Session-scoped: each is made once per test run."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "fixtures" / "golden" / "golden_io.npz"  # scripts/make_golden_fixture.py


@pytest.fixture(scope="session", autouse=True)
def private_compile_cache(tmp_path_factory):
    """Tests never read or write the user's OpenVINO compile cache (~/.cache/umedsam): one per session."""
    if "UMEDSAM_OV_CACHE" not in os.environ:
        os.environ["UMEDSAM_OV_CACHE"] = str(tmp_path_factory.mktemp("ov-cache"))
    return Path(os.environ["UMEDSAM_OV_CACHE"])


@pytest.fixture(scope="session")
def golden():
    """The official pipeline's inputs and outputs (tests/fixtures/golden/README.md)."""
    assert GOLDEN.is_file(), f"{GOLDEN} is part of the repository; restore it (git checkout) or regenerate it"
    with np.load(GOLDEN) as g:
        return {k: g[k] for k in g.files}


@pytest.fixture(scope="session")
def builtin_ckpt():
    from umedsam.assets import builtin_checkpoint

    return builtin_checkpoint()


@pytest.fixture(scope="session")
def torch_model(builtin_ckpt):
    """The built-in weights as a torch model (the reference; also the compress tests' original)."""
    from umedsam.model import load_checkpoint

    return load_checkpoint(builtin_ckpt)


@pytest.fixture(scope="session")
def predictor(builtin_ckpt):
    from umedsam.runtime import Predictor

    with Predictor(builtin_ckpt, threads=2) as p:
        yield p


def _export(tmp_path_factory, target: str, check_data: Path | None):
    from umedsam.export import ExportOptions, export_bundle

    out = tmp_path_factory.mktemp("bundles") / f"{target}-fp32"
    manifest = export_bundle(None, out, ExportOptions(target=target, threads=2, check_data=check_data))
    return out, manifest


def _phantoms(tmp_path_factory, name: str, n2d: int, n3d: int, seed: int) -> Path:
    from umedsam.data.phantoms import write_phantoms

    root = tmp_path_factory.mktemp(name)
    write_phantoms(root, n2d=n2d, n3d=n3d, seed=seed)
    return root


@pytest.fixture(scope="session")
def small_cases(tmp_path_factory):
    """One 2D and one 3D phantom with GT (small: fast to run on several engines)."""
    return _phantoms(tmp_path_factory, "small_cases", 1, 1, 3)


@pytest.fixture(scope="session")
def small_2d(small_cases, tmp_path_factory):
    """The 2D phantom of ``small_cases`` alone (a root with imgs/ and gts/)."""
    root = tmp_path_factory.mktemp("small_2d")
    for sub in ("imgs", "gts"):
        (root / sub).mkdir()
        for p in (small_cases / sub).glob("2D*.npz"):
            (root / sub / p.name).write_bytes(p.read_bytes())
    return root


@pytest.fixture(scope="session")
def onnx_bundle(tmp_path_factory):
    """The built-in weights exported once per test session to ONNX, with the default export-time check."""
    return _export(tmp_path_factory, "onnx", None)


@pytest.fixture(scope="session")
def ov_bundle(tmp_path_factory, small_2d):
    """... and to OpenVINO IR (its check on one small 2D phantom, to keep CI short)."""
    return _export(tmp_path_factory, "openvino", small_2d)


@pytest.fixture(scope="session")
def torch_segs(predictor, small_cases):
    """The PyTorch reference labels of ``small_cases`` (name -> labels)."""
    from umedsam.data.npz import find_cases, load_case

    out = {}
    for p in find_cases(small_cases):
        case = load_case(p)
        out[p.name] = predictor.segment_case(case.kind, case.imgs, case.boxes).labels
    return out

@pytest.fixture(scope="session")
def real_cases(tmp_path_factory):
    """Real DSB2018 nuclei (2D, 28 boxes) and a 5-slice MNI152 slab (3D, 2 boxes)."""
    import importlib.util

    if importlib.util.find_spec("stardist") is None or importlib.util.find_spec("nilearn") is None:
        pytest.skip("stardist/nilearn data packages not installed (requirements-nodeps.txt)")
    from umedsam.data.real import write_dsb2018, write_mni152

    root = tmp_path_factory.mktemp("real")
    write_dsb2018(root, quadrants=(4,))
    write_mni152(root, slabs=((80, 84),))
    return root


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory):
    """Two 2D phantoms (seed 11): calibration and validation for the quantize tests, apart from the gate's cases."""
    return _phantoms(tmp_path_factory, "calib", 2, 0, 11)


@pytest.fixture(scope="session")
def factorized(torch_model):
    """A data-free factorization of the built-in weights at 0.7 of the encoder FLOPs (seconds to make)."""
    from umedsam.compress.compress import CompressOptions, compress_model

    return compress_model(torch_model, [], CompressOptions(flops_ratio=0.7, sensitivity=False))  # leaves it untouched


@pytest.fixture(scope="session")
def factorized_ckpt(factorized, tmp_path_factory):
    """``factorized`` saved as an official state dict with its sidecar."""
    from umedsam.model import save_checkpoint

    path = tmp_path_factory.mktemp("lowrank") / "lowrank.pth"
    save_checkpoint(factorized.model, path, factorized.plans, factorized.summary)
    return path


# --- the native runtime, built once per test session from the current sources (incremental: ~1 s when
# nothing changed). Without its build dependencies the tests that need it skip with the reason, unless
# UMEDSAM_REQUIRE_NATIVE=1 (set by .ci/run, which installs them) turns that into a failure.
@pytest.fixture(scope="session")
def native_build():
    from umedsam.errors import UmedsamError
    from umedsam.native_build import build
    from umedsam.runtime import native_lib

    try:  # UMEDSAM_NATIVE_PREFIX: install somewhere else than this environment (a shared venv)
        result = build(jobs=2, prefix=os.environ.get("UMEDSAM_NATIVE_PREFIX") or None)
    except UmedsamError as exc:
        if os.environ.get("UMEDSAM_REQUIRE_NATIVE") == "1":
            pytest.fail(f"native build failed: {exc}")
        pytest.skip(f"native runtime cannot be built here: {exc}")
    native_lib.load_library.cache_clear()
    os.environ["UMEDSAM_NATIVE_LIB"] = str(result.library)  # the freshly installed one, for subprocesses too
    return result


@pytest.fixture(scope="session")
def lib(native_build):
    from umedsam.runtime import native_lib

    return native_lib.load_library()
