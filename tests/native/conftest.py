"""The native runtime, built once per test session from the current sources (incremental: ~1 s when
nothing changed). Without its build dependencies the tests skip with the reason, unless
``UMEDSAM_REQUIRE_NATIVE=1`` (set by ``.ci/run``, which installs them) turns that into a failure."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def native_build():
    from umedsam.errors import UmedsamError
    from umedsam.native_build import build
    from umedsam.runtime import native_lib

    try:
        result = build(jobs=2)
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
