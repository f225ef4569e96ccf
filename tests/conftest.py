"""Shared fixtures: the golden fixture, the built-in checkpoint, one torch predictor per session."""

from __future__ import annotations

import os
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


def _export(tmp_path_factory, target: str, check_data: Path | None):
    from umedsam.export import ExportOptions, export_bundle

    out = tmp_path_factory.mktemp("bundles") / f"{target}-fp32"
    manifest = export_bundle(None, out, ExportOptions(target=target, threads=2, check_data=check_data))
    return out, manifest


@pytest.fixture(scope="session")
def small_cases(tmp_path_factory):
    """One 2D and one 3D phantom with GT (small: fast to run on several engines)."""
    from umedsam.data.phantoms import write_phantoms

    root = tmp_path_factory.mktemp("small_cases")
    write_phantoms(root, n2d=1, n3d=1, seed=3)
    return root


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
